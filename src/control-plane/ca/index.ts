/**
 * The mesh CA: the control plane's certificate authority for workload
 * identities (SPIFFE IDs in X.509 certificates), its roots kept on disk,
 * and rotation with a trust bundle that overlaps old and new roots.
 */
export { CaError, type CaErrorCode } from './errors.js';
export { CLOCK_SKEW_MS, ROOT_LIFETIME_MS, rootSubject } from './certificates.js';
export {
  DEFAULT_LEAF_LIFETIME_MS,
  isNodeId,
  MAX_CSR_BYTES,
  MeshCa,
  type FromFilesOptions,
  type FromPemOptions,
  type IssuedCertificate,
  type IssueOptions,
  type LoadOrCreateOptions,
  type NewRoot,
} from './mesh-ca.js';
export { ROOT_FILE } from './root-files.js';
export {
  REVOCATIONS_FILE,
  Revocations,
  type RevocationsOptions,
  type RevokedEntry,
  type RevokeResult,
} from './revocations.js';
