export {
  defaultConfig,
  environmentOverrides,
  loadConfigFile,
  parseConfigText,
  validateConfig,
} from './load.js';
export {
  logLevels,
  meshConfigJsonSchema,
  meshConfigSchema,
  type MeshConfig,
  type MeshConfigInput,
} from './schema.js';
export { type DestinationConfig, type RouteConfig, type SrtpLegConfig } from './routes-schema.js';
export {
  DEMO_PATH,
  RTSP_PATH_NAME,
  type RtspAuthConfig,
  type RtspConfig,
  type RtspPathConfig,
} from './rtsp-schema.js';
