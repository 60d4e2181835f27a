/**
 * Prometheus series of the relay and the RTSP proxy, read from their snapshots at scrape time.
 */
export { registerRtspMetrics } from './rtsp-metrics.js';
export { registerStreamMetrics } from './stream-metrics.js';
