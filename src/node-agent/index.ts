export { MeshNode, type AppliedConfig, type MeshNodeOptions } from './mesh-node.js';
export {
  applyConfigTransaction,
  CommitFailedError,
  ConfigRefusedError,
  type ConfigParticipant,
  type PreparedChange,
} from './config-transaction.js';
export { NodeClosedError, NodeConfig, type NodeConfigOptions } from './node-config.js';
export { CpuSampler, type LoadFigures, type LoadSource } from './load-source.js';
export { PrepareGate, type PrepareGateOptions, type StagedChange } from './prepare-gate.js';
export {
  Placements,
  type HeldPlacement,
  type NodePlacementView,
  type StagedPlacements,
} from './placements.js';
export {
  Hops,
  type HeldHop,
  type HopRefusal,
  type HopsOptions,
  type HopView,
  type StagedHops,
} from './hops.js';
export {
  Pipes,
  type HeldPipe,
  type PipeRefusal,
  type PipesOptions,
  type PipeView,
  type StagedPipes,
} from './pipes.js';
export {
  SignalingNodes,
  type HeldSignalingNode,
  type SignalingNodesOptions,
  type StagedSignalingNodes,
} from './signaling-nodes.js';
export { Coalescer } from './coalescer.js';
export { ChangeListeners, type ChangeListener } from './change-listeners.js';
export {
  MeshState,
  meshStateTypes,
  type MeshStateOptions,
  type StagedMeshState,
} from './mesh-state.js';
export {
  controlChannelCredentials,
  IdentityClosedError,
  WorkloadCertificateProvider,
  WorkloadIdentity,
  workloadIdentityFromConfig,
  type WorkloadIdentityOptions,
} from './identity/index.js';
