export {
  EMPTY_SNAPSHOT,
  MediaStatsCollector,
  summarize,
  type MediaStatsOptions,
  type MediaStatsSnapshot,
  type PeerStats,
  type PipeStreamStats,
  type RoomStats,
  type StreamStats,
} from './media-stats.js';
export { registerMediaMetrics } from './media-metrics.js';
