export {
  defaultConfig,
  environmentOverrides,
  rangeEnvironmentOverrides,
  integerEnvironmentOverrides,
  loadConfigFile,
  parseConfigText,
  validateConfig,
  withSignalingBindHost,
} from './load.js';
export {
  kubernetesNamespace,
  kubernetesObjectName,
  kubernetesSchema,
  type KubernetesConfig,
} from './kubernetes-schema.js';
export { checkConfigText, configTextBounds, type TextBounds } from './bounded-parse.js';
export { REDACTED, redactSecrets } from './redact.js';
export { defaultParseLimits, parseConfigTextIsolated, type ParseLimits } from './isolated-parse.js';
export {
  logLevels,
  meshConfigJsonSchema,
  meshConfigSchema,
  proxyWorkersOf,
  type MeshConfig,
  type MeshConfigInput,
} from './schema.js';
export {
  routeSchema,
  type DestinationConfig,
  type RouteConfig,
  type SrtpLegConfig,
} from './routes-schema.js';
export {
  DEMO_PATH,
  RTSP_PATH_NAME,
  rtspPathSchema,
  type RtspAuthConfig,
  type RtspConfig,
  type RtspPathConfig,
} from './rtsp-schema.js';
export {
  assembleConfig,
  canonicalJson,
  isResourceRefusal,
  MESH_SETTINGS_NAME,
  resourceKey,
  refusedResourcesOf,
  resourcesNamedByRefusal,
  ResourcesRefusedError,
  resourceTypes,
  resourceVersion,
  RTSP_SETTINGS_NAME,
  SIGNALING_SETTINGS_NAME,
  splitConfig,
  pushedResourceTypes,
  type MeshResource,
  type PushedResource,
  type PushedResourceRef,
  type PushedResourceType,
  type RefusedResource,
  type ResourceIssue,
  type ResourceRefusal,
  type ResourceRef,
  type ResourceType,
} from './resources.js';
export {
  parsePlacementBody,
  PLACEMENT,
  placementBodySchema,
  placementReasons,
  placementResource,
  type PlacementBody,
  type PlacementReason,
} from './placement-resource.js';
export {
  hopBodySchema,
  hopKeyOf,
  hopResource,
  hopResourceName,
  MAX_HOP_KEYS,
  MEDIA_KEY,
  parseHopBody,
  type HopBody,
} from './hop-resource.js';
export {
  MAX_REVOKED_IDENTITIES,
  MAX_REVOKED_SERIALS,
  type BundleRevocations,
  MAX_TRUST_BUNDLE_BYTES,
  MAX_TRUST_BUNDLE_ROOTS,
  parseTrustBundleBody,
  TRUST_BUNDLE,
  TRUST_BUNDLE_NAME,
  trustBundleBodySchema,
  trustBundleResource,
  type TrustBundleBody,
} from './trust-bundle-resource.js';
export {
  type Http2FrameCheck,
  type HttpClusterConfig,
  type HttpConfig,
  type HttpListenerConfig,
  type HttpRouteConfig,
} from './http-schema.js';
export {
  meshHostPortSchema,
  meshNodeIdSchema,
  parseSignalingNodeBody,
  SIGNALING_NODE,
  signalingNodeBodySchema,
  signalingNodeResource,
  type SignalingNodeBody,
} from './signaling-node-resource.js';
export {
  parsePipeBody,
  PIPE,
  PIPE_SRTP_SUITE,
  pipeBodySchema,
  pipeEndsOf,
  pipeEndSchema,
  pipeResource,
  pipeResourceName,
  pipeSrtpSchema,
  roomNameSchema,
  type PipeBody,
  type PipeEnd,
  type PipeSrtp,
} from './pipe-resource.js';
