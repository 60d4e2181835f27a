/** Cameras of the RTSP proxy watched in the SFU (WHEP `/whep/<path>`); see README.md. */
export { CameraHub, type CameraHubOptions } from './camera-hub.js';
export { CameraPullError, type CameraPullErrorCode } from './camera-errors.js';
export { findH264Track, type H264Track } from './h264-track.js';
export { cameraProxyBase } from './proxy-base.js';
