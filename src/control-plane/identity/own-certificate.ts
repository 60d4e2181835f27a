/**
 * The control plane's own workload certificate: what it presents on its
 * gRPC listener, so nodes know they talk to their control plane and not to
 * whoever answers on the port. Its SPIFFE ID is fixed
 * (spiffe://<trust domain>/ns/streammesh/sa/control-plane), and IssueCertificate
 * never gives it to anyone else.
 *
 * Issued by the mesh CA in-process at start (a key made here, never
 * written to disk) and again at half its lifetime, like every workload's.
 * Each issue goes to the MemoryCertificateProvider, whose TLS server then
 * uses it for new connections and keeps the open ones. A renewal that fails
 * is logged and tried again a minute later; the current certificate stays
 * until it expires.
 */
import {
  createCsr,
  generateWorkloadKey,
  controlPlaneSpiffeId,
  privateKeyPem,
  type WorkloadCertificates,
} from '../../shared/identity/index.js';
import { systemClock, type Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { MeshCa } from '../ca/index.js';
import type { MemoryCertificateProvider } from './certificate-provider.js';

const RETRY_MS = 60_000;

export interface OwnCertificateOptions {
  readonly ca: MeshCa;
  readonly provider: MemoryCertificateProvider;
  readonly lifetimeMs: number;
  readonly log: Logger;
  readonly clock?: Clock;
}

export class OwnCertificate {
  readonly spiffeId: string;
  readonly #options: OwnCertificateOptions;
  readonly #clock: Clock;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #notAfterMs = 0;
  #current: WorkloadCertificates | undefined;
  /** Told of every issue after the first (the mutual-TLS admin listener). */
  readonly #renewedListeners = new Set<(certificates: WorkloadCertificates) => void>();

  constructor(options: OwnCertificateOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.spiffeId = controlPlaneSpiffeId(options.ca.trustDomain);
  }

  /** Issues the first certificate (throws when it cannot) and schedules its renewals. */
  async start(): Promise<void> {
    await this.renew();
  }

  /** The certificate in use, its key and the trust bundle; undefined before start(). */
  current(): WorkloadCertificates | undefined {
    return this.#current;
  }

  onRenewed(listener: (certificates: WorkloadCertificates) => void): void {
    this.#renewedListeners.add(listener);
  }

  /**
   * The CA's trust bundle changed (a rotation added a root, a retirement
   * dropped one): the listeners check clients against it from now on, with
   * the same certificate and key. Without this the control plane would go on
   * trusting a retired root (the usual reason to retire one is that its key
   * leaked) and refuse the new one's certificates until its next renewal.
   */
  refreshTrustBundle(): void {
    const current = this.#current;
    if (current === undefined || this.#closed) return;
    const trustBundlePem = this.#options.ca.trustBundle();
    if (trustBundlePem === current.trustBundlePem) return;
    this.#options.provider.set({
      certificateChainPem: current.certificatePem + current.chainPem,
      privateKeyPem: current.privateKeyPem,
      trustBundlePem,
    });
    this.#current = { ...current, trustBundlePem };
    for (const listener of this.#renewedListeners) listener(this.#current);
  }

  /** When the certificate in use expires (Unix ms). */
  get notAfterMs(): number {
    return this.#notAfterMs;
  }

  /**
   * A new key and certificate now (at half-life, or after a CA rotation so
   * that the new bundle is served); the next renewal is scheduled from it.
   */
  async renew(): Promise<void> {
    const { ca, provider, lifetimeMs } = this.#options;
    const key = await generateWorkloadKey();
    const issued = await ca.issue(await createCsr(key, this.spiffeId), {
      spiffeId: this.spiffeId,
      lifetimeMs,
    });
    if (this.#closed) return;
    provider.set({
      certificateChainPem: issued.certificatePem + issued.chainPem,
      privateKeyPem: privateKeyPem(key),
      trustBundlePem: ca.trustBundle(),
    });
    this.#notAfterMs = issued.notAfter.getTime();
    const first = this.#current === undefined;
    this.#current = {
      spiffeId: this.spiffeId,
      nodeId: undefined,
      privateKeyPem: privateKeyPem(key),
      certificatePem: issued.certificatePem,
      chainPem: issued.chainPem,
      trustBundlePem: ca.trustBundle(),
      notAfterMs: this.#notAfterMs,
    };
    if (!first) for (const listener of this.#renewedListeners) listener(this.#current);
    const now = this.#clock.now();
    this.#schedule(Math.max(0, (this.#notAfterMs - now) / 2));
    this.#options.log.info(
      { spiffeId: this.spiffeId, notAfter: issued.notAfter.toISOString() },
      'control plane certificate issued',
    );
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    // setTimeout's longest delay is 2^31-1 ms (~24.8 days): a longer lifetime renews early.
    this.#timer = setTimeout(
      () => {
        this.renew().catch((error: unknown) => {
          this.#options.log.error(
            { error: errorMessage(error) },
            'control plane certificate renewal failed; retrying in a minute',
          );
          this.#schedule(RETRY_MS);
        });
      },
      Math.min(delayMs, 2 ** 31 - 1),
    );
    this.#timer.unref();
  }
}
