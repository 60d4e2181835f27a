/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): the delay is uniform in [0, min(max, base * 2^attempt)],
 * so many proxies that lost the same control plane do not reconnect in step.
 */
export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
  /** Returns a number in [0, 1); injectable for deterministic tests. */
  readonly random?: () => number;
}

export class Backoff {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    this.#baseMs = options.baseMs;
    this.#maxMs = options.maxMs;
    this.#random = options.random ?? Math.random;
  }

  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; each call counts one failure. */
  next(): number {
    const ceiling = Math.min(this.#maxMs, this.#baseMs * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    // Never 0: a tight reconnect loop helps nobody.
    return Math.max(1, Math.round(ceiling * this.#random()));
  }

  reset(): void {
    this.#attempt = 0;
  }
}
