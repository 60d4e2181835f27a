/**
 * What feeds an RTSP path or a camera pull (a camera, a publisher, the demo clip)
 * and the continuity that hides a source's restarts from its viewers.
 */
export { TrackContinuity } from './continuity.js';
export {
  describeTracks,
  type MediaSource,
  type SourceDescription,
  type SourceFailure,
  type SourceListener,
  type SourceState,
  type SourceTrack,
} from './media-source.js';
