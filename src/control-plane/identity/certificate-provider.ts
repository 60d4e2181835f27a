/**
 * An in-memory CertificateProvider for grpc-js's
 * createCertificateProviderServerCredentials: the control plane's own
 * certificate and the trust bundle it checks clients against, replaced
 * whole on renewal. grpc-js then sets a new secure context on its TLS
 * server: connections already open keep theirs (TLS checks certificates at
 * the handshake only), new ones get the new certificate; nothing restarts.
 *
 * One object is both the CA provider and the identity provider, so the
 * order of grpc-js's two provider arguments cannot matter (1.14 passes them
 * to its constructor swapped; with one object both land right).
 *
 * Listeners are called on the next tick when they are added, not at once:
 * grpc-js adds its provider listeners before its own watcher, so a
 * synchronous first update would miss the server and leave it refusing
 * every connection as having no credentials.
 */
import type { experimental } from '@grpc/grpc-js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export interface ProvidedCertificates {
  /** The leaf, then the certificates above it (PEM). */
  readonly certificateChainPem: string;
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** The roots a peer's certificate must chain to (PEM). */
  readonly trustBundlePem: string;
}

export class MemoryCertificateProvider implements experimental.CertificateProvider {
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();
  #current: ProvidedCertificates | undefined;

  /** Replaces the certificates; every listener hears of it at once. */
  set(certificates: ProvidedCertificates): void {
    this.#current = certificates;
    for (const listener of this.#caListeners) listener(this.#caUpdate());
    for (const listener of this.#identityListeners) listener(this.#identityUpdate());
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    process.nextTick(() => {
      if (this.#caListeners.has(listener) && this.#current !== undefined) {
        listener(this.#caUpdate());
      }
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    process.nextTick(() => {
      if (this.#identityListeners.has(listener) && this.#current !== undefined) {
        listener(this.#identityUpdate());
      }
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
  }

  #caUpdate(): experimental.CaCertificateUpdate | null {
    if (this.#current === undefined) return null;
    return { caCertificate: Buffer.from(this.#current.trustBundlePem) };
  }

  #identityUpdate(): experimental.IdentityCertificateUpdate | null {
    if (this.#current === undefined) return null;
    return {
      certificate: Buffer.from(this.#current.certificateChainPem),
      privateKey: Buffer.from(this.#current.privateKeyPem),
    };
  }
}
