/**
 * Prometheus series of the relay and the RTSP proxy, read from their snapshots
 * at scrape time, and the stream quality report the proxy sends the control plane.
 */
export { registerRtspMetrics } from './rtsp-metrics.js';
export { registerStreamMetrics } from './stream-metrics.js';
export { startSrtpEngine } from './srtp-engine-metrics.js';
export { useProxyUdpIo } from './udp-io-metrics.js';
export {
  MAX_REPORTED_STREAMS,
  buildStatsReport,
  proxyStatsReport,
  type ProxyStatsReport,
  type RelayedStream,
  type RelayStreamStats,
  type RtspTrackStats,
} from './stats-report.js';
