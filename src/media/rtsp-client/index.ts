/** The RTSP proxy's upstream side: pulling one camera over RTSP. */
export { CameraSource, CameraSourceStateError, type CameraSourceOptions } from './camera-source.js';
export { DEFAULT_CAMERA_TIMING, type CameraTiming } from './camera-timing.js';
export { parseCameraUrl, type CameraAddress } from './camera-url.js';
export { RtspClientConnection } from './rtsp-client-connection.js';
export {
  CameraAuthError,
  CameraClosedError,
  CameraConnectError,
  CameraError,
  CameraProtocolError,
  CameraStalledError,
  CameraStatusError,
  CameraTimeoutError,
  CameraUdpUnusableError,
} from './camera-errors.js';
