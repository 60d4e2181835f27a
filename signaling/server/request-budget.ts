/**
 * A token bucket per connection: every request takes a token, tokens come
 * back at a steady rate up to a burst. Most requests cost the SFU worker an
 * IPC round trip, so one client flooding them must not slow everyone's.
 */
export interface RequestBudgetOptions {
  /** Requests a client may send at once after being quiet. */
  readonly burst: number;
  /** Requests per second a client may keep sending. */
  readonly perSecond: number;
  readonly now?: () => number;
}

/** Generous for mediasoup-client's flow (a join and a few dozen requests), tight for a flood. */
export const DEFAULT_REQUEST_BUDGET: RequestBudgetOptions = { burst: 200, perSecond: 50 };

export class RequestBudget {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(options: RequestBudgetOptions = DEFAULT_REQUEST_BUDGET) {
    this.#burst = options.burst;
    this.#perMs = options.perSecond / 1000;
    this.#now = options.now ?? Date.now;
    this.#tokens = options.burst;
    this.#at = this.#now();
  }

  /** Takes a token; false when none is left (the request is refused). */
  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
