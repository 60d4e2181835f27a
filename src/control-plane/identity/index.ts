/**
 * The control plane's side of workload identity: the MeshIdentity service
 * (IssueCertificate), its own certificate for the gRPC listener, and the
 * certificate provider that lets grpc-js swap certificates without a restart.
 */
export { MemoryCertificateProvider, type ProvidedCertificates } from './certificate-provider.js';
export { csrIdentity, type CsrIdentity } from './csr-identity.js';
export {
  CertificateRefusedError,
  IdentityService,
  type IdentityServiceOptions,
  type RefusalReason,
} from './issue-service.js';
export { openMeshCa, type OpenedCa } from './open-ca.js';
export { OwnCertificate, type OwnCertificateOptions } from './own-certificate.js';
