/**
 * Discovery on Kubernetes: the EndpointSlices of HTTP clusters' Services
 * (their endpoints, laid over the base config) and the Pods of the proxies
 * and SFU nodes (where each node runs; a node whose Pod is deleted is gone
 * at once).
 */
export {
  ENDPOINT_SLICES_LAYER,
  EndpointSliceSource,
  endpointSlicesLayer,
  startEndpointSliceSource,
} from './endpoint-slice-source.js';
export {
  MAX_SERVICE_SLICES,
  ServiceSlices,
  endpointsFor,
  parseSlice,
  type SliceDefect,
  type SliceEndpoints,
} from './endpoint-slices.js';
export { MESH_POD_SELECTOR, PodSource, startPodSource } from './pod-source.js';
export { parsePod, type PodDefect } from './pods.js';
