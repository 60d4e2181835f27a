/**
 * What a workload holds once the mesh CA has certified it, and how the parts
 * that use it (the control plane's gRPC channel, the L7 proxy's TLS) learn of
 * a renewal. A renewal replaces the whole set at once (new key, new leaf,
 * the current trust bundle): connections already open keep the certificate
 * they were made with; new ones use the new set. This is how a renewal drops
 * no connection (TLS checks certificates only at the handshake).
 */
import type { RevokedIdentity } from './revoked-serials.js';

export interface WorkloadCertificates {
  readonly spiffeId: string;
  /** The node id the certificate names as its CN; undefined for a workload that is not a node. */
  readonly nodeId: string | undefined;
  /** PKCS#8 PEM. A secret: never logged, never shown on an admin route. */
  readonly privateKeyPem: string;
  readonly certificatePem: string;
  /** The certificates above the leaf up to its root. */
  readonly chainPem: string;
  /** Every root the mesh trusts now (old and new during a CA rotation). */
  readonly trustBundlePem: string;
  /**
   * Serials of certificates revoked before their expiry, pushed with the
   * bundle: the TLS ends refuse peers presenting one. None until pushed.
   */
  readonly revokedSerials?: readonly string[];
  /** Identities revoked up to a time (revoked-serials.ts), pushed with the serials. */
  readonly revokedIdentities?: readonly RevokedIdentity[];
  /** Unix ms. */
  readonly notAfterMs: number;
}

export interface WorkloadIdentitySource {
  /** The certificates in use now; undefined until the first is issued. */
  current(): WorkloadCertificates | undefined;
  /** Every later issue (renewal, a new trust bundle). */
  on(event: 'renewed', listener: (certificates: WorkloadCertificates) => void): unknown;
  off(event: 'renewed', listener: (certificates: WorkloadCertificates) => void): unknown;
}
