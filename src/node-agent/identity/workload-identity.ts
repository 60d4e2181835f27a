/**
 * A node's workload identity: it makes its own key (which never leaves the
 * process), asks the control plane's CA for a certificate naming its SPIFFE
 * ID (and its node id as CN), and renews it at half its lifetime with a new
 * key, presenting the current certificate (mutual TLS) instead of the
 * bootstrap token. Everything that uses the certificate follows 'renewed'
 * (certificate-provider.ts): connections already open keep the certificate
 * they were made with, so a renewal drops none.
 *
 * The trust bundle also changes between renewals: the control plane pushes
 * it (a TRUST_BUNDLE resource) when its CA rotates or retires a root, and
 * updateTrustBundle() takes it with the same key and certificate, emitting
 * 'renewed' so TLS ends trust the new root at once. A renewal answered with
 * an older bundle (issued just before the push) keeps the pushed one while
 * that one holds the new certificate's root. The revoked serials the bundle
 * carries travel the same way (revokedSerials, revokedIdentities), and a
 * renewal keeps them.
 *
 * Failures are retried with backoff, forever: before the first certificate
 * the trust bundle or the token may not exist yet (`streammesh up` starts
 * the control plane at the same moment), or the control plane may be
 * unreachable. A renewal is retried until the certificate expires; past
 * that, only the bootstrap token can get the node a new one. Each change of
 * what is wrong is logged once, not each attempt.
 *
 * The private key and the bootstrap token are secrets: never logged, never
 * in an error message (a message that quotes the token has it replaced).
 */
import { EventEmitter } from 'node:events';
import { KeyObject, X509Certificate, type webcrypto } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import { Backoff } from '../../shared/backoff.js';
import { errorMessage, StreammeshError } from '../../shared/errors.js';
import {
  createCsr,
  generateWorkloadKey,
  privateKeyPem,
  spiffeId,
  type RevokedIdentity,
  type WorkloadCertificates,
  type WorkloadIdentitySource,
} from '../../shared/identity/index.js';
import type { Logger } from '../../shared/log.js';
import type { CertificateResponse } from '../../protocol/mesh/index.js';
import type { TokenCredentials } from '../../shared/admin/index.js';
import { CertificateIssueError, type CertificateIssuer } from './certificate-issuer.js';
import { renewalTime, systemIdentityTimers, type IdentityTimers } from './renewal-schedule.js';
import { trustBundleRefusal, type TrustBundleRefusal } from './trust-bundle-check.js';

const REDACTED = '(redacted)';

export interface WorkloadIdentityOptions {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The node id the certificate names as its CN. */
  readonly nodeId: string;
  readonly issuer: CertificateIssuer;
  /** The roots a first request checks the control plane with (renewals use the bundle last received). */
  readonly trustBundle: {
    /** The file's path, for a message. */
    describe(): string;
    /** The PEM text; undefined while not there. */
    read(): string | undefined;
  };
  /** Read until it exists (BootstrapCredentials.reader()); throws when the file is unusable. */
  readonly bootstrapToken: Pick<TokenCredentials, 'describe' | 'token'>;
  readonly log: Logger;
  readonly metrics?: Registry;
  readonly timers?: IdentityTimers;
  readonly backoff?: Backoff;
}

/** The identity was closed before it had a certificate. */
export class IdentityClosedError extends StreammeshError {
  constructor() {
    super(
      'ERR_IDENTITY_CLOSED',
      'the workload identity was closed before a certificate was issued',
    );
  }
}

/** Something the first request needs is not there yet. */
class NotYetError extends StreammeshError {
  readonly state: string;

  constructor(state: string, message: string) {
    super('ERR_IDENTITY_NOT_YET', message);
    this.state = state;
  }
}

/** The control plane's answer does not fit the request (a bug there, or not our control plane). */
class BadResponseError extends StreammeshError {
  constructor(message: string) {
    super('ERR_CERTIFICATE_RESPONSE', `the control plane's certificate response ${message}`);
  }
}

/** A pushed trust bundle the node cannot take (trust-bundle-check.ts says why). */
export class TrustBundleRefusedError extends StreammeshError {
  constructor(reason: string) {
    super('ERR_TRUST_BUNDLE_REFUSED', reason);
  }
}

type Kind = 'bootstrap' | 'renewal';

export class WorkloadIdentity
  extends EventEmitter<{ renewed: [WorkloadCertificates] }>
  implements WorkloadIdentitySource
{
  /** spiffe://<trust domain>/ns/<namespace>/sa/<service account>. */
  readonly spiffeId: string;
  readonly #options: WorkloadIdentityOptions;
  readonly #timers: IdentityTimers;
  readonly #backoff: Backoff;
  readonly #first: Promise<WorkloadCertificates>;
  #settleFirst:
    { resolve(value: WorkloadCertificates): void; reject(error: unknown): void } | undefined;
  #current: WorkloadCertificates | undefined;
  #renewAtMs = 0;
  #started = false;
  #closed = false;
  #cancelTimer: (() => void) | undefined;
  /** What is wrong now (a stable key, logged when it changes) and why, for readiness. */
  #state: { key: string; reason: string } = { key: 'starting', reason: 'not started' };
  #expiryNoticed = false;
  /** The bundle the control plane last pushed, if any (kept over an older one a renewal brings). */
  #pushedBundlePem: string | undefined;
  /** The revoked serials of the last pushed bundle: a renewal keeps them. */
  #revokedSerials: readonly string[] = [];
  #revokedIdentities: readonly RevokedIdentity[] = [];
  /** The token last read, only to keep it out of messages. */
  #token: string | undefined;
  readonly #requests: Counter | undefined;

  constructor(options: WorkloadIdentityOptions) {
    super();
    this.#options = options;
    this.spiffeId = spiffeId(options);
    this.#timers = options.timers ?? systemIdentityTimers;
    this.#backoff = options.backoff ?? new Backoff({ baseMs: 250, maxMs: 10_000 });
    this.#first = new Promise((resolve, reject) => {
      this.#settleFirst = { resolve, reject };
    });
    // Nobody need wait for it; a close before the first certificate is no unhandled rejection.
    this.#first.catch(() => undefined);
    if (options.metrics !== undefined) {
      this.#requests = new Counter({
        name: 'streammesh_node_certificate_requests_total',
        help: 'Certificate requests to the control plane, by kind (bootstrap, renewal) and result (issued, failed).',
        labelNames: ['kind', 'result'],
        registers: [options.metrics],
      });
      const current = (): WorkloadCertificates | undefined => this.#current;
      new Gauge({
        name: 'streammesh_node_certificate_expiry_timestamp_seconds',
        help: "The workload certificate's notAfter (Unix seconds); absent before the first.",
        registers: [options.metrics],
        collect() {
          this.reset();
          const held = current();
          if (held !== undefined) this.set(held.notAfterMs / 1000);
        },
      });
    }
  }

  current(): WorkloadCertificates | undefined {
    return this.#current;
  }

  /**
   * Starts asking (once; later calls return the same promise) and resolves
   * with the first certificate. Renewals follow by themselves until close().
   */
  obtain(): Promise<WorkloadCertificates> {
    if (!this.#started && !this.#closed) {
      this.#started = true;
      void this.#attempt();
    }
    return this.#first;
  }

  /** Unix ms of the next renewal (0 before the first certificate). */
  get renewAtMs(): number {
    return this.#renewAtMs;
  }

  /** Why the node has no valid certificate now; undefined when it has one. */
  waitingReason(): string | undefined {
    const current = this.#current;
    if (current !== undefined && this.#timers.now() < current.notAfterMs) return undefined;
    return this.#state.reason;
  }

  /** Why `pem` would be refused by updateTrustBundle(); undefined when it would be taken. */
  trustBundleRefusal(pem: string): TrustBundleRefusal | undefined {
    return trustBundleRefusal(pem, this.#current);
  }

  /**
   * The control plane's new trust bundle: same key and certificate, new
   * roots, 'renewed' emitted (nothing when it is the bundle held). Throws
   * TrustBundleRefusedError for a bundle that does not parse or lacks the
   * root of this node's certificate.
   */
  updateTrustBundle(
    pem: string,
    revokedSerials: readonly string[] = [],
    revokedIdentities: readonly RevokedIdentity[] = [],
  ): void {
    const refusal = this.trustBundleRefusal(pem);
    const current = this.#current;
    if (refusal !== undefined || current === undefined) {
      throw new TrustBundleRefusedError(refusal?.message ?? 'no certificate yet');
    }
    this.#pushedBundlePem = pem;
    this.#revokedSerials = revokedSerials;
    this.#revokedIdentities = revokedIdentities;
    if (
      current.trustBundlePem === pem &&
      JSON.stringify([current.revokedSerials ?? [], current.revokedIdentities ?? []]) ===
        JSON.stringify([revokedSerials, revokedIdentities])
    ) {
      return;
    }
    this.#current = { ...current, trustBundlePem: pem, revokedSerials, revokedIdentities };
    this.#options.log.info({ spiffeId: this.spiffeId }, 'trust bundle updated');
    this.#tell(this.#current);
  }

  /** Stops renewing. Connections made with the certificate keep it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#settleFirst?.reject(new IdentityClosedError());
    this.#settleFirst = undefined;
  }

  async #attempt(): Promise<void> {
    if (this.#closed) return;
    const current = this.#current;
    const kind: Kind =
      current !== undefined && this.#timers.now() < current.notAfterMs ? 'renewal' : 'bootstrap';
    if (current !== undefined && kind === 'bootstrap' && !this.#expiryNoticed) {
      this.#expiryNoticed = true;
      this.#options.log.error(
        { spiffeId: this.spiffeId, notAfter: new Date(current.notAfterMs).toISOString() },
        'the workload certificate expired before it could be renewed; asking again with the bootstrap token',
      );
    }
    let issued: WorkloadCertificates;
    try {
      issued =
        kind === 'renewal' && current !== undefined
          ? await this.#renew(current)
          : await this.#bootstrap();
    } catch (error) {
      if (this.#isClosed()) return;
      if (!(error instanceof NotYetError)) this.#requests?.inc({ kind, result: 'failed' });
      this.#failed(error, kind);
      return;
    }
    if (this.#isClosed()) return;
    this.#requests?.inc({ kind, result: 'issued' });
    this.#accept(issued, kind);
  }

  async #bootstrap(): Promise<WorkloadCertificates> {
    const { trustBundle, bootstrapToken } = this.#options;
    const bundle = trustBundle.read();
    if (bundle === undefined) {
      throw new NotYetError(
        'no-trust-bundle',
        `waiting for the trust bundle ${trustBundle.describe()} (the control plane writes it on its first start)`,
      );
    }
    const token = bootstrapToken.token();
    if (token === undefined) {
      throw new NotYetError(
        'no-bootstrap-token',
        `waiting for the bootstrap token ${bootstrapToken.describe()} (the control plane writes it on its first start)`,
      );
    }
    this.#token = token;
    return await this.#request(token, { trustBundlePem: bundle });
  }

  async #renew(current: WorkloadCertificates): Promise<WorkloadCertificates> {
    return await this.#request('', {
      trustBundlePem: current.trustBundlePem,
      client: {
        certificateChainPem: chainOf(current),
        privateKeyPem: current.privateKeyPem,
      },
    });
  }

  async #request(
    bootstrapToken: string,
    tls: Parameters<CertificateIssuer['issue']>[1],
  ): Promise<WorkloadCertificates> {
    const key = await generateWorkloadKey();
    const csrPem = await createCsr(key, this.spiffeId);
    const response = await this.#options.issuer.issue(
      { csrPem, bootstrapToken, nodeId: this.#options.nodeId },
      tls,
    );
    return this.#certificatesOf(response, key);
  }

  /** The response as held certificates, once it is seen to certify this key, ID and node id. */
  #certificatesOf(
    response: CertificateResponse,
    key: webcrypto.CryptoKeyPair,
  ): WorkloadCertificates {
    if (response.spiffeId !== this.spiffeId) {
      throw new BadResponseError(`names ${response.spiffeId.slice(0, 300)}, not ${this.spiffeId}`);
    }
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(response.certificatePem);
    } catch {
      throw new BadResponseError('holds no certificate');
    }
    const privateKey = KeyObject.from(key.privateKey);
    if (!leaf.checkPrivateKey(privateKey)) {
      throw new BadResponseError('certifies another key than the one requested');
    }
    if (leaf.subjectAltName !== `URI:${this.spiffeId}`) {
      throw new BadResponseError(`certificate does not name ${this.spiffeId} alone`);
    }
    if (!leaf.subject.split('\n').includes(`CN=${this.#options.nodeId}`)) {
      throw new BadResponseError(`certificate's subject is not CN=${this.#options.nodeId}`);
    }
    // The response's figure (ms), which must be the certificate's own (whole seconds).
    const notAfterMs = response.notAfterMs;
    if (Math.abs(notAfterMs - Date.parse(leaf.validTo)) > 1_000) {
      throw new BadResponseError(`says notAfter ${notAfterMs}, the certificate ${leaf.validTo}`);
    }
    if (!(notAfterMs > this.#timers.now())) {
      throw new BadResponseError(`certificate expired at ${leaf.validTo}`);
    }
    if (!response.trustBundlePem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new BadResponseError('holds no trust bundle');
    }
    return {
      spiffeId: this.spiffeId,
      nodeId: this.#options.nodeId,
      privateKeyPem: privateKeyPem(key),
      certificatePem: response.certificatePem,
      chainPem: response.chainPem,
      trustBundlePem: response.trustBundlePem,
      notAfterMs,
    };
  }

  #accept(response: WorkloadCertificates, kind: Kind): void {
    const first = this.#current === undefined;
    const pushed = this.#pushedBundlePem;
    const issued = {
      ...(pushed !== undefined && trustBundleRefusal(pushed, response) === undefined
        ? { ...response, trustBundlePem: pushed }
        : response),
      revokedSerials: this.#revokedSerials,
      revokedIdentities: this.#revokedIdentities,
    };
    const now = this.#timers.now();
    this.#current = issued;
    this.#expiryNoticed = false;
    this.#backoff.reset();
    this.#renewAtMs = renewalTime(now, issued.notAfterMs);
    // Every issue is worth its line (one a half lifetime); the state is "fine" again.
    this.#state = { key: 'issued', reason: 'certificate issued' };
    this.#options.log.info(
      {
        spiffeId: issued.spiffeId,
        serial: serialOf(issued.certificatePem),
        notAfter: new Date(issued.notAfterMs).toISOString(),
        renewAt: new Date(this.#renewAtMs).toISOString(),
      },
      kind === 'renewal' ? 'workload certificate renewed' : 'workload certificate issued',
    );
    this.#schedule(this.#renewAtMs);
    if (first) {
      this.#settleFirst?.resolve(issued);
      this.#settleFirst = undefined;
      return;
    }
    this.#tell(issued);
  }

  /** Emits 'renewed'; a listener's exception is its own: the others still hear of it. */
  #tell(issued: WorkloadCertificates): void {
    for (const listener of this.listeners('renewed')) {
      try {
        listener(issued);
      } catch (error) {
        this.#options.log.error({ err: error }, "a listener of the certificate's renewal threw");
      }
    }
  }

  #failed(error: unknown, kind: Kind): void {
    const reason = this.#scrub(errorMessage(error));
    const key =
      error instanceof NotYetError
        ? error.state
        : error instanceof CertificateIssueError
          ? `${kind}:${error.status}`
          : `${kind}:${error instanceof StreammeshError ? error.code : 'error'}`;
    const changed = key !== this.#state.key;
    this.#state = { key, reason };
    if (changed) {
      // Waiting for files the control plane is about to write is normal at start.
      this.#options.log[error instanceof NotYetError ? 'info' : 'warn'](
        { kind, retrying: true },
        reason,
      );
    }
    const delay = this.#backoff.next();
    const current = this.#current;
    // A renewal is retried until the certificate expires, then the bootstrap token is asked.
    const at =
      current !== undefined && kind === 'renewal'
        ? Math.min(this.#timers.now() + delay, current.notAfterMs)
        : this.#timers.now() + delay;
    this.#schedule(at);
  }

  /** Read through a call: TypeScript would keep a check made before an await. */
  #isClosed(): boolean {
    return this.#closed;
  }

  /** Runs the next attempt at `atMs`; a timer that fires early (a far date) is set again. */
  #schedule(atMs: number): void {
    this.#cancelTimer?.();
    if (this.#closed) return;
    const fire = (): void => {
      this.#cancelTimer = undefined;
      if (this.#timers.now() < atMs) this.#schedule(atMs);
      else void this.#attempt();
    };
    this.#cancelTimer = this.#timers.after(Math.max(1, atMs - this.#timers.now()), fire);
  }

  #scrub(text: string): string {
    const token = this.#token;
    return token === undefined || token === '' ? text : text.split(token).join(REDACTED);
  }
}

/** What a TLS end presents: the leaf, then the certificates above it. */
export function chainOf(certificates: WorkloadCertificates): string {
  const leaf = certificates.certificatePem.trimEnd();
  const chain = certificates.chainPem.trim();
  return chain === '' ? `${leaf}\n` : `${leaf}\n${chain}\n`;
}

function serialOf(pem: string): string {
  try {
    return new X509Certificate(pem).serialNumber;
  } catch {
    return '';
  }
}
