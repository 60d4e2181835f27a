/**
 * Who a ServiceAccount token stands for, asked of the API server with a
 * TokenReview (authentication.k8s.io/v1): the control plane never checks a
 * token's signature itself, so a token Kubernetes revoked (its pod deleted,
 * its ServiceAccount gone) is refused here too.
 *
 * allowedIdentity() reads a review's status into what the token's holder
 * may be certified as: authenticated, for our audience
 * (controlPlane.kubernetes.tokenAudience: a token minted for another
 * service cannot be replayed here), by a ServiceAccount
 * (`system:serviceaccount:<ns>:<sa>` → spiffe://<trust domain>/ns/<ns>/sa/<sa>)
 * that is one of the workloads the mesh runs as (its proxies' and
 * signaling nodes' identities: node-roles.ts meshWorkloadIdentities), and
 * bound to a pod, whose name is then the only node id it may ask for.
 *
 * Why both limits: any ServiceAccount of the cluster can get a token for
 * our audience (a projected volume or `kubectl create token --audience`),
 * and a certificate lets its holder register as a proxy and receive camera
 * keys. A token not bound to a pod outlives any pod (up to its expiry,
 * whoever minted it) and names no node, so it proves no running workload.
 * The pod is in the ServiceAccount's namespace (the API server binds a
 * token only to an object of its own namespace), so a pod of another
 * namespace never passes under a mesh identity.
 *
 * TokenReviewer asks, with a deadline, and keeps a positive answer briefly
 * (DEFAULT_CACHE_TTL_MS), keyed by the token's SHA-256, never the token:
 * a restart storm of nodes retrying with the same tokens costs the API
 * server one review per token per TTL. Concurrent asks for one token share
 * one review. Refusals are not kept: a token just minted is not refused for
 * long. No answer (the API server unreachable, an error status, the
 * deadline) is TokenReviewUnavailableError: the caller must refuse with
 * "try again", never take it for a verdict.
 */
import { createHash } from 'node:crypto';
import { AuthenticationV1Api, V1TokenReview, V1TokenReviewSpec } from '@kubernetes/client-node';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import { systemClock, type Clock } from '../../shared/clock.js';
import { errorMessage, StreammeshError } from '../../shared/errors.js';
import { spiffeId, SpiffeIdError } from '../../shared/identity/index.js';
import type { KubeClient } from './kube-client.js';

/** How long a positive review is kept. */
export const DEFAULT_CACHE_TTL_MS = 10_000;
/** Reviews kept at most; the oldest go first. */
export const MAX_CACHED_REVIEWS = 10_000;
/** How long one review may take: a node's certificate request waits on it. */
export const DEFAULT_REVIEW_TIMEOUT_MS = 5_000;

/** The extra field the API server sets for a token bound to a pod. */
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';

const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

/** The fields of a TokenReview's status read here (V1TokenReviewStatus has them). */
export interface ReviewStatus {
  readonly authenticated?: boolean;
  /** The API server's reason for a token it does not authenticate. */
  readonly error?: string;
  /** The audiences the API server checked the token for, among those asked. */
  readonly audiences?: readonly string[];
  readonly user?: {
    readonly username?: string;
    readonly extra?: Readonly<Record<string, readonly string[]>>;
  };
}

/** What a token lets its holder be certified as. */
export interface AllowedIdentity {
  readonly ok: true;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** spiffe://<trust domain>/ns/<namespace>/sa/<service account>. */
  readonly spiffeId: string;
  /** The pod the token is bound to: the only node id it may ask for. */
  readonly podName: string;
}

export interface RefusedToken {
  readonly ok: false;
  readonly reason:
    | 'not_authenticated'
    | 'wrong_audience'
    | 'not_a_service_account'
    /** A ServiceAccount the mesh does not run as. */
    | 'not_mesh_workload'
    /** A mesh ServiceAccount's token not bound to a pod. */
    | 'unbound_token';
  /** Why, for the caller; the API server's words at most, never the token. */
  readonly detail: string;
}

export type TokenVerdict = AllowedIdentity | RefusedToken;

/** What a token must be to be certified. */
export interface TokenExpectations {
  readonly audience: string;
  readonly trustDomain: string;
  /** The SPIFFE IDs the mesh's workloads run as: no other ServiceAccount is certified. */
  readonly workloads: ReadonlySet<string>;
}

/** A review's status read as a verdict (pure: the whole policy of a token). */
export function allowedIdentity(
  status: ReviewStatus | undefined,
  expected: TokenExpectations,
): TokenVerdict {
  if (status?.authenticated !== true) {
    const why = status?.error === undefined ? '' : `: ${status.error.slice(0, 200)}`;
    return {
      ok: false,
      reason: 'not_authenticated',
      detail: `the API server does not authenticate the token${why}`,
    };
  }
  // The API server names the audiences it checked the token for; ours must be one.
  if (!(status.audiences ?? []).includes(expected.audience)) {
    return {
      ok: false,
      reason: 'wrong_audience',
      detail: `the token is not for audience ${JSON.stringify(expected.audience)}`,
    };
  }
  const username = status.user?.username ?? '';
  const match = SERVICE_ACCOUNT_USER.exec(username);
  const [, namespace, serviceAccount] = match ?? [];
  if (namespace === undefined || serviceAccount === undefined) {
    return {
      ok: false,
      reason: 'not_a_service_account',
      detail: "the token is not a ServiceAccount's",
    };
  }
  let id: string;
  try {
    id = spiffeId({ trustDomain: expected.trustDomain, namespace, serviceAccount });
  } catch (error) {
    if (!(error instanceof SpiffeIdError)) throw error;
    return {
      ok: false,
      reason: 'not_a_service_account',
      detail: `ServiceAccount ${namespace}/${serviceAccount} has no SPIFFE ID: ${error.message}`,
    };
  }
  const account = `ServiceAccount ${namespace}/${serviceAccount}`;
  if (!expected.workloads.has(id)) {
    return {
      ok: false,
      reason: 'not_mesh_workload',
      detail: `${account} is not one the mesh runs as (proxy.identity, signaling.identity): the mesh certifies only its own workloads`,
    };
  }
  const podName = status.user?.extra?.[POD_NAME_EXTRA]?.[0];
  if (podName === undefined || podName === '') {
    return {
      ok: false,
      reason: 'unbound_token',
      detail: `the token of ${account} is not bound to a pod: use the pod's projected ServiceAccount token (or kubectl create token --bound-object-kind Pod)`,
    };
  }
  return { ok: true, namespace, serviceAccount, spiffeId: id, podName };
}

/** The API server gave no verdict: unreachable, an error status, or too slow. */
export class TokenReviewUnavailableError extends StreammeshError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_TOKEN_REVIEW_UNAVAILABLE', message, options);
  }
}

/** Sends one TokenReview and resolves with its status. */
export type ReviewCall = (token: string, audience: string) => Promise<ReviewStatus>;

export interface TokenReviewerOptions extends TokenExpectations {
  readonly review: ReviewCall;
  readonly metrics?: MetricsRegistry;
  readonly clock?: Clock;
  readonly cacheTtlMs?: number;
  readonly timeoutMs?: number;
}

interface Cached {
  readonly verdict: AllowedIdentity;
  readonly expiresAtMs: number;
}

export class TokenReviewer {
  readonly audience: string;
  readonly #options: TokenReviewerOptions;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  /** Positive verdicts by the token's SHA-256 (hex). */
  readonly #cache = new Map<string, Cached>();
  readonly #inFlight = new Map<string, Promise<TokenVerdict>>();
  readonly #reviews: Counter | undefined;

  constructor(options: TokenReviewerOptions) {
    this.audience = options.audience;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#ttlMs = options.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
    if (options.metrics !== undefined) {
      this.#reviews = new Counter({
        name: 'streammesh_control_plane_token_reviews_total',
        help: 'ServiceAccount tokens checked, by result (allowed, refused, unavailable: asked of the API server; cached: a recent positive review).',
        labelNames: ['result'],
        registers: [options.metrics],
      });
    }
  }

  /** Positive reviews kept now (expired ones included until swept). */
  get cached(): number {
    return this.#cache.size;
  }

  /** The token's verdict; rejects with TokenReviewUnavailableError when the API server gave none. */
  async check(token: string): Promise<TokenVerdict> {
    const key = tokenKey(token);
    const now = this.#clock.now();
    const cached = this.#cache.get(key);
    if (cached !== undefined && cached.expiresAtMs > now) {
      this.#reviews?.inc({ result: 'cached' });
      return cached.verdict;
    }
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) return await pending;
    const review = this.#review(key, token);
    this.#inFlight.set(key, review);
    try {
      return await review;
    } finally {
      this.#inFlight.delete(key);
    }
  }

  async #review(key: string, token: string): Promise<TokenVerdict> {
    let status: ReviewStatus;
    try {
      status = await withTimeout(
        this.#options.review(token, this.audience),
        this.#options.timeoutMs ?? DEFAULT_REVIEW_TIMEOUT_MS,
      );
    } catch (error) {
      this.#reviews?.inc({ result: 'unavailable' });
      // The error is the client's or the API server's; it never holds the token.
      throw new TokenReviewUnavailableError(
        `the API server could not review the token: ${errorMessage(error).slice(0, 300)}`,
        { cause: error },
      );
    }
    const verdict = allowedIdentity(status, this.#options);
    this.#reviews?.inc({ result: verdict.ok ? 'allowed' : 'refused' });
    if (verdict.ok) this.#keep(key, verdict);
    return verdict;
  }

  #keep(key: string, verdict: AllowedIdentity): void {
    const now = this.#clock.now();
    this.#cache.delete(key);
    this.#cache.set(key, { verdict, expiresAtMs: now + this.#ttlMs });
    if (this.#cache.size <= MAX_CACHED_REVIEWS) return;
    for (const [stale, entry] of this.#cache) {
      if (entry.expiresAtMs <= now) this.#cache.delete(stale);
    }
    // Still full of live entries: the oldest goes.
    if (this.#cache.size > MAX_CACHED_REVIEWS) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
  }
}

/** What the cache keeps a token's review under: its SHA-256 (hex), never the token. */
export function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** TokenReviews sent to the API server of `kube` (the control plane needs system:auth-delegator). */
export function kubernetesTokenReview(kube: KubeClient): ReviewCall {
  const api = kube.kubeConfig.makeApiClient(AuthenticationV1Api);
  return async (token, audience) => {
    // The client's models are classes (its serializer reads them by attribute map).
    const body = Object.assign(new V1TokenReview(), {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: Object.assign(new V1TokenReviewSpec(), { token, audiences: [audience] }),
    });
    const answer = await api.createTokenReview({ body });
    if (answer.status === undefined) throw new Error('the TokenReview came back with no status');
    return answer.status;
  };
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
