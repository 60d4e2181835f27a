/**
 * The node's certificates as grpc-js sees them: a CertificateProvider (its
 * `experimental` API) fed from the workload identity, so that a channel made
 * with these credentials once keeps working across renewals. grpc-js builds
 * each new connection's TLS context from the latest update; an open HTTP/2
 * connection (the resource stream) keeps the certificate it was made with,
 * which the server checked at its handshake. A renewal thus drops nothing.
 *
 * The trust bundle comes with each issue too, so a CA rotation reaches the
 * roots the node checks the control plane with.
 */
import * as grpc from '@grpc/grpc-js';
import {
  controlPlaneSpiffeId,
  spiffeServerIdentityCheck,
  type WorkloadCertificates,
  type WorkloadIdentitySource,
} from '../../shared/identity/index.js';
import { chainOf } from './workload-identity.js';

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

export class WorkloadCertificateProvider implements CertificateProvider {
  readonly #source: WorkloadIdentitySource;
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();
  readonly #onRenewed = (certificates: WorkloadCertificates): void => {
    for (const listener of this.#caListeners) listener(caUpdate(certificates));
    for (const listener of this.#identityListeners) listener(identityUpdate(certificates));
  };

  constructor(source: WorkloadIdentitySource) {
    this.#source = source;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#add(this.#caListeners, listener);
    const current = this.#source.current();
    if (current !== undefined) listener(caUpdate(current));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#remove(this.#caListeners, listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#add(this.#identityListeners, listener);
    const current = this.#source.current();
    if (current !== undefined) listener(identityUpdate(current));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#remove(this.#identityListeners, listener);
  }

  /** Follows the source only while a channel listens, so a closed channel leaves nothing behind. */
  #add<T>(set: Set<T>, listener: T): void {
    if (this.#caListeners.size + this.#identityListeners.size === 0) {
      this.#source.on('renewed', this.#onRenewed);
    }
    set.add(listener);
  }

  #remove<T>(set: Set<T>, listener: T): void {
    if (!set.delete(listener)) return;
    if (this.#caListeners.size + this.#identityListeners.size === 0) {
      this.#source.off('renewed', this.#onRenewed);
    }
  }
}

function caUpdate(certificates: WorkloadCertificates): grpc.experimental.CaCertificateUpdate {
  return { caCertificate: Buffer.from(certificates.trustBundlePem) };
}

function identityUpdate(
  certificates: WorkloadCertificates,
): grpc.experimental.IdentityCertificateUpdate {
  return {
    certificate: Buffer.from(chainOf(certificates)),
    privateKey: Buffer.from(certificates.privateKeyPem),
  };
}

/**
 * Credentials for the node's channel to the control plane: mutual TLS with
 * the workload certificate, following renewals; the server must be the
 * control plane (spiffe://<trust domain>/ns/streammesh/sa/control-plane).
 */
export function controlChannelCredentials(
  source: WorkloadIdentitySource,
  trustDomain: string,
): grpc.ChannelCredentials {
  const provider = new WorkloadCertificateProvider(source);
  const expected = controlPlaneSpiffeId(trustDomain);
  return grpc.experimental.createCertificateProviderChannelCredentials(provider, provider, {
    checkServerIdentity: spiffeServerIdentityCheck(
      trustDomain,
      (identity) => identity.spiffeId === expected,
    ),
  });
}
