export {
  CAMERA_SESSION_PREFIX,
  CameraMesh,
  type CameraMeshOptions,
  type CameraMeshSnapshot,
} from './camera-mesh.js';
