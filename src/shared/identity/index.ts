/**
 * Workload identity: what every workload (proxy, signaling node, a service
 * that asks) needs to have a name in the mesh — its SPIFFE ID, its key pair
 * and the certificate request it sends to the mesh CA.
 */
export {
  assertTrustDomain,
  parseSpiffeId,
  spiffeId,
  SpiffeIdError,
  trustDomainDefect,
  type SpiffeIdParts,
} from './spiffe-id.js';
export {
  createCsr,
  generateWorkloadKey,
  privateKeyPem,
  SIGNING_ALGORITHM,
  WORKLOAD_KEY_ALGORITHM,
} from './workload-key.js';
export { peerIdentity, spiffeServerIdentityCheck, type PeerIdentity } from './peer-identity.js';
export type { WorkloadCertificates, WorkloadIdentitySource } from './workload-certificates.js';
export {
  BUNDLE_FILE,
  CONTROL_PLANE_NAMESPACE,
  CONTROL_PLANE_SERVICE_ACCOUNT,
  controlPlaneSpiffeId,
  defaultCaDirectory,
} from './mesh-names.js';
export { pemCertificateBlocks } from './pem.js';
export {
  identityRevokes,
  isRevokedCertificate,
  isRevokedX509,
  ISSUE_BACKDATE_MS,
  NO_REVOCATIONS,
  normalizeSerial,
  revokedSerialSet,
  type RevokedIdentity,
  type RevokedSerials,
} from './revoked-serials.js';
export { MeshCredentials, revocationsOf, type MeshTlsMaterial } from './mesh-credentials.js';
