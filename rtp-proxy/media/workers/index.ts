/**
 * The relay sharded over worker threads (proxy.workers): the main thread's
 * participant and facade (MediaWorkers), what readers need of the relay
 * (RelayView), and the per-worker metrics.
 */
export {
  MediaWorkers,
  RelayClosedError,
  type MediaWorkersOptions,
  type MediaWorkerState,
} from './media-workers.js';
export { MediaWorkerRefusal, MediaWorkerEndedError, type WorkerEnd } from './worker-handle.js';
export type { WorkerSnapshot, WorkerTotals } from './messages.js';
export type {
  KeysReport,
  LatestRouteSource,
  MediaRouteKeys,
  MediaRouteSnapshot,
  RelayView,
  RouteKeySource,
  RouteSnapshotSource,
  RoutesReport,
} from './relay-view.js';
export { registerWorkerMetrics } from './worker-metrics.js';
export { fnv1a32, workerOfRoute, workerPorts, workerShare } from './shard.js';
