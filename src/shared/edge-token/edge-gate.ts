/**
 * What an edge holds to check tokens: where its trust bundle comes from (the
 * node's workload identity, which renewals and CA rotations replace), its
 * trust domain, a clock, and the signing chains it has seen (for compact
 * tokens: those the control plane names with the trust bundle, and those
 * full tokens carried). The bundle is parsed again only when its text
 * changes, not per viewer.
 */
import type { X509Certificate } from 'node:crypto';
import type { RevokedSerials } from '../identity/index.js';
import { scopeRefusal, type EdgeAccess } from './claims.js';
import { IssuerCache } from './issuer-cache.js';
import { parseTrustBundle, verifyEdgeToken, type EdgeTokenVerdict } from './verify.js';

export interface EdgeTokenGateOptions {
  /** The mesh trust bundle (PEM) now; undefined until the node has its certificate. */
  readonly trustBundle: () => string | undefined;
  readonly trustDomain: string;
  /** Unix ms; default Date.now. */
  readonly now?: () => number;
  /**
   * The token-issuer leaves (PEM) the control plane pushed with the bundle:
   * compact tokens they signed verify without a full token first.
   */
  readonly tokenIssuers?: () => string | undefined;
  /** The mesh's revocation list now (pushed with the bundle): a revoked signer's tokens are refused. */
  readonly revoked?: () => RevokedSerials | undefined;
}

export class EdgeTokenGate {
  readonly trustDomain: string;
  readonly #trustBundle: () => string | undefined;
  readonly #now: () => number;
  readonly #issuers = new IssuerCache();
  #bundleText: string | undefined;
  #roots: readonly X509Certificate[] | undefined;
  readonly #tokenIssuers: (() => string | undefined) | undefined;
  #tokenIssuersText: string | undefined;
  readonly #revoked: (() => RevokedSerials | undefined) | undefined;

  constructor(options: EdgeTokenGateOptions) {
    this.trustDomain = options.trustDomain;
    this.#trustBundle = options.trustBundle;
    this.#now = options.now ?? Date.now;
    this.#tokenIssuers = options.tokenIssuers;
    this.#revoked = options.revoked;
  }

  /** The token's claims when it opens `access`; else why not. Never throws. */
  check(token: string | undefined, access: EdgeAccess): EdgeTokenVerdict {
    const verdict = this.verify(token);
    if (!verdict.ok) return verdict;
    const refusal = scopeRefusal(verdict.claims, access);
    return refusal === undefined ? verdict : { ok: false, reason: refusal };
  }

  /**
   * The token's claims when it is genuine and valid now, whatever it opens:
   * for an edge that learns the room later (a WebSocket joins after the
   * upgrade) and checks the scope then with scopeRefusal().
   */
  verify(token: string | undefined): EdgeTokenVerdict {
    this.#learnTokenIssuers();
    return verifyEdgeToken(token, {
      trustBundle: this.#currentRoots(),
      trustDomain: this.trustDomain,
      nowMs: this.#now(),
      issuers: this.#issuers,
      revoked: this.#revoked?.(),
    });
  }

  /** Remembers the pushed token-issuer leaves when their text changed. */
  #learnTokenIssuers(): void {
    let text: string | undefined;
    try {
      text = this.#tokenIssuers?.();
    } catch {
      text = undefined;
    }
    if (text === this.#tokenIssuersText) return;
    this.#tokenIssuersText = text;
    for (const certificate of parseTrustBundle(text) ?? []) this.#issuers.remember([certificate]);
  }

  #currentRoots(): readonly X509Certificate[] | undefined {
    let text: string | undefined;
    try {
      text = this.#trustBundle();
    } catch {
      text = undefined;
    }
    if (text !== this.#bundleText) {
      this.#bundleText = text;
      this.#roots = parseTrustBundle(text);
    }
    return this.#roots;
  }
}
