/**
 * Custom resources Camera and MediaRoute (streammesh.io/v1alpha1): their
 * CRDs, and the control plane's source that lays them over the file's
 * config and writes their status.
 */
export { crdManifests, crdYaml } from './crd-manifests.js';
export {
  CAMERA,
  GROUP,
  KINDS,
  MEDIA_ROUTE,
  VERSION,
  type Condition,
  type KindName,
} from './kinds.js';
export { startCustomResources } from './source.js';
