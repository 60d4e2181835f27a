/**
 * What a WHEP viewer watches: the producers of a room, or of a camera that the
 * RTSP proxy feeds into the SFU. Both hand out their Router and producers and
 * are told when the viewer is gone, so a camera is pulled only while watched.
 */
import type { types } from 'mediasoup';

export interface WatchableSource {
  readonly router: types.Router;
  /** At most one audio and one video producer are consumed by a WHEP viewer. */
  readonly producers: readonly types.Producer[];
  /** Called exactly once, when the viewer's session ends (or fails to start). */
  release(): void;
}

/** Cameras by RTSP proxy path name (`/whep/<path>`). */
export interface CameraSources {
  /** undefined when the proxy has no such path; rejects when it cannot be pulled. */
  acquire(path: string): Promise<WatchableSource | undefined>;
}
