/**
 * The config transaction's participant side, as a second entry of
 * src/node-agent: what a worker thread (a media worker, an L7 thread, the
 * RTSP service) needs to take part in a config push. index.ts also exports
 * the node's control channel, which loads grpc-js and proto-loader: 0.1-0.3 s
 * per thread at start, for code a worker never runs
 * (test/integration/node-agent/worker-thread-imports.test.ts keeps it so).
 */
export type { ConfigParticipant, PreparedChange } from './config-transaction.js';
export { PrepareGate, type PrepareGateOptions, type StagedChange } from './prepare-gate.js';
