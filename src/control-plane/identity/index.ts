/**
 * The control plane's side of workload identity: the MeshIdentity service
 * (IssueCertificate) and how it checks a first request's token (bootstrap
 * token, or TokenReview on Kubernetes), its own certificate for the gRPC
 * listener, and the certificate provider that lets grpc-js swap
 * certificates without a restart.
 */
export { MemoryCertificateProvider, type ProvidedCertificates } from './certificate-provider.js';
export { csrIdentity, type CsrIdentity } from './csr-identity.js';
export { CertificateRefusedError, type RefusalReason } from './certificate-refused.js';
export { IdentityService, type IdentityServiceOptions } from './issue-service.js';
export {
  openMeshCa,
  openMeshCaOnKubernetes,
  type KubernetesCaOptions,
  type OpenedCa,
} from './open-ca.js';
export {
  openKubernetesIdentity,
  type KubernetesIdentity,
  type KubernetesIdentityOptions,
} from './kubernetes-identity.js';
export { OwnCertificate, type OwnCertificateOptions } from './own-certificate.js';
export {
  assertGranted,
  bootstrapTokenAuthenticator,
  serviceAccountTokenAuthenticator,
  type FirstCertificateAuthenticator,
  type TokenGrant,
} from './token-authenticators.js';
