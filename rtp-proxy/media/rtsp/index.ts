/**
 * The RTSP proxy (`proxy.rtsp`): listener, paths, viewers and publishers; a config participant.
 */
export { RtspService, type RtspSnapshot } from './rtsp-service.js';
export type { PathViewer, StreamPath } from './stream-path.js';
export type { SpreadStats, ViewerThreads } from './viewer-spread.js';
