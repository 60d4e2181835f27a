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
