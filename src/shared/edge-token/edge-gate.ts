/**
 * What an edge holds to check tokens: where its trust bundle comes from (the
 * node's workload identity, which renewals and CA rotations replace), its
 * trust domain, a clock, and the signing chains it has seen (for compact
 * tokens). The bundle is parsed again only when its text changes, not per
 * viewer.
 */
import type { X509Certificate } from 'node:crypto';
import { scopeRefusal, type EdgeAccess } from './claims.js';
import { IssuerCache } from './issuer-cache.js';
import { parseTrustBundle, verifyEdgeToken, type EdgeTokenVerdict } from './verify.js';

export interface EdgeTokenGateOptions {
  /** The mesh trust bundle (PEM) now; undefined until the node has its certificate. */
  readonly trustBundle: () => string | undefined;
  readonly trustDomain: string;
  /** Unix ms; default Date.now. */
  readonly now?: () => number;
}

export class EdgeTokenGate {
  readonly trustDomain: string;
  readonly #trustBundle: () => string | undefined;
  readonly #now: () => number;
  readonly #issuers = new IssuerCache();
  #bundleText: string | undefined;
  #roots: readonly X509Certificate[] | undefined;

  constructor(options: EdgeTokenGateOptions) {
    this.trustDomain = options.trustDomain;
    this.#trustBundle = options.trustBundle;
    this.#now = options.now ?? Date.now;
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
    return verifyEdgeToken(token, {
      trustBundle: this.#currentRoots(),
      trustDomain: this.trustDomain,
      nowMs: this.#now(),
      issuers: this.#issuers,
    });
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
