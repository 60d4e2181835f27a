export {
  CAMERA_SESSION_PREFIX,
  CameraMesh,
  type CameraMeshOptions,
  type CameraMeshSnapshot,
  type HopStats,
} from './camera-mesh.js';
