/**
 * A token bucket with no timer: the tokens a request finds are computed from
 * the time since the bucket was last used, so a million idle buckets cost
 * memory and nothing else. Every request takes one token; tokens come back
 * at `perSecond` up to `burst`, which is also what a new bucket starts with.
 */

export interface RateLimit {
  /** Requests per second a source may keep sending. */
  readonly perSecond: number;
  /** Requests a source may send at once after being quiet (at least 1). */
  readonly burst: number;
}

export class TokenBucket {
  #tokens: number;
  #atMs: number;

  constructor(limit: RateLimit, nowMs: number) {
    this.#tokens = limit.burst;
    this.#atMs = nowMs;
  }

  /**
   * Takes a token: 0 when there was one (the request may go on), else the
   * whole seconds (at least 1) until there will be one, for Retry-After.
   * The limit is read at each call, so a changed config applies at once.
   */
  take(limit: RateLimit, nowMs: number): number {
    // A clock that steps back (or a bucket from the future) refills nothing.
    const elapsedMs = Math.max(0, nowMs - this.#atMs);
    this.#tokens = Math.min(limit.burst, this.#tokens + (elapsedMs * limit.perSecond) / 1000);
    this.#atMs = nowMs;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.#tokens) / limit.perSecond));
  }
}
