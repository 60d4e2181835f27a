export {
  WorkerPool,
  WorkerPoolError,
  portSliceOf,
  type LostRouter,
  type PlacedRouter,
  type RouterCodecs,
  type WorkerInfo,
  type WorkerPoolErrorCode,
  type WorkerPoolEvents,
  type WorkerPoolOptions,
  type WorkerCpuTime,
} from './worker-pool.js';
export { PIPE_PORT_SHARE, pipePortRange, splitPortRange, type PortRange } from './port-slices.js';
export {
  createWebRtcTransport,
  transportParameters,
  type RtcSettings,
  type TransportParameters,
} from './transports.js';
export {
  censusCounts,
  installCensus,
  liveConsumers,
  liveProducers,
  type CensusCounts,
  type LiveStream,
} from './census.js';
export type { CameraSources, WatchableSource } from './watchable-source.js';
export { WorkerCpuSampler, type WorkerCpuSource } from './worker-cpu.js';
