/**
 * A node's workload identity: its certificate from the control plane's CA,
 * renewed at half-life, and the gRPC credentials that follow the renewals.
 */
export { readTrustBundle, TRUST_BUNDLE_VARIABLE, trustBundleFile } from './trust-bundle-file.js';
export {
  CertificateIssueError,
  grpcCertificateIssuer,
  type CertificateIssuer,
  type IssuerTls,
} from './certificate-issuer.js';
export { controlChannelCredentials, WorkloadCertificateProvider } from './certificate-provider.js';
export { workloadIdentityFromConfig, type NodeIdentityOptions } from './from-config.js';
export { trustBundleRefusal, type TrustBundleRefusal } from './trust-bundle-check.js';
export { renewalTime, systemIdentityTimers, type IdentityTimers } from './renewal-schedule.js';
export {
  chainOf,
  IdentityClosedError,
  TrustBundleRefusedError,
  WorkloadIdentity,
  type WorkloadIdentityOptions,
} from './workload-identity.js';
