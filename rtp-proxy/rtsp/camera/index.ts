/** The RTSP proxy's upstream side: pulling one camera over RTSP. */
export { CameraSource, CameraSourceStateError, type CameraSourceOptions } from './camera-source.js';
export { DEFAULT_CAMERA_TIMING, type CameraTiming } from './camera-timing.js';
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
