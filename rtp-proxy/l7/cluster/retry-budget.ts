/**
 * Envoy's retry budget: retries in flight may not exceed a share of the
 * requests in flight. A fixed "3 retries per request" multiplies load by 4
 * exactly when an upstream is failing; a budget keeps the extra load to a
 * fixed fraction, so retries help with scattered failures and cannot turn an
 * overload into a storm.
 */
import { Backoff } from '../../../src/shared/backoff.js';
import { releaseOnce, type Release } from './circuit-breaker.js';

export interface RetryBudgetOptions {
  /** Retries in flight allowed, as a percentage of requests in flight (Envoy default 20). */
  readonly budgetPercent: number;
  /** Retries always allowed at once, so a quiet cluster can still retry (Envoy default 3). */
  readonly minRetryConcurrency: number;
}

export class RetryBudget {
  readonly #options: RetryBudgetOptions;
  #activeRequests = 0;
  #activeRetries = 0;
  #denied = 0;

  constructor(options: RetryBudgetOptions = { budgetPercent: 20, minRetryConcurrency: 3 }) {
    if (!(options.budgetPercent >= 0) || !(options.minRetryConcurrency >= 0)) {
      throw new RangeError('retry budget percent and minimum concurrency must be >= 0');
    }
    this.#options = options;
  }

  get activeRequests(): number {
    return this.#activeRequests;
  }

  get activeRetries(): number {
    return this.#activeRetries;
  }

  /** Retries refused since start: a metric, and the sign of a failing upstream. */
  get denied(): number {
    return this.#denied;
  }

  /** Retries that may be in flight now. */
  get limit(): number {
    return Math.max(
      this.#options.minRetryConcurrency,
      Math.floor((this.#options.budgetPercent / 100) * this.#activeRequests),
    );
  }

  /** Counts one downstream request for its whole life, retries included. */
  startRequest(): Release {
    this.#activeRequests += 1;
    return releaseOnce(() => {
      this.#activeRequests -= 1;
    });
  }

  /** A release for a retry attempt, or `undefined` when the budget is spent (then answer with the last failure). */
  tryRetry(): Release | undefined {
    if (this.#activeRetries >= this.limit) {
      this.#denied += 1;
      return undefined;
    }
    this.#activeRetries += 1;
    return releaseOnce(() => {
      this.#activeRetries -= 1;
    });
  }
}

export interface RetryBackoffOptions {
  /** Envoy's default is 25 ms. */
  readonly baseMs: number;
  /** Envoy's default is 10 x base. */
  readonly maxMs?: number;
  readonly random?: () => number;
}

/**
 * The delays between one request's attempts: exponential with full jitter, so
 * requests that failed together do not retry together. One per request; its
 * `next()` is the wait before the next attempt. Built on the shared Backoff so
 * the formula exists once.
 */
export function retryBackoff(options: RetryBackoffOptions): Backoff {
  return new Backoff({
    baseMs: options.baseMs,
    maxMs: options.maxMs ?? options.baseMs * 10,
    ...(options.random === undefined ? {} : { random: options.random }),
  });
}
