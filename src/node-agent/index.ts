export {
  MeshNode,
  SnapshotRejectedError,
  type AppliedConfig,
  type MeshNodeOptions,
} from './mesh-node.js';
