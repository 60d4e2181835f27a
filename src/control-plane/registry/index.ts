/**
 * The nodes of the mesh: registration, state, resources held, latest load.
 */
export { registerLoadMetrics } from './load-metrics.js';
export {
  MAX_DRAIN_MS,
  Registry,
  RegistryFullError,
  RoleChangeError,
  type DrainView,
  type NodeRecord,
  type NodeState,
  type NodeStatsView,
  type PodRecord,
} from './registry.js';
export type { Delta } from './node-resources.js';
