/**
 * A token bucket per connection: every request takes a token, tokens come
 * back at a steady rate up to a burst. Most requests cost the SFU worker an
 * IPC round trip, so one client flooding them must not slow everyone's.
 * The bucket is the shared one (src/shared/rate-limit), which also limits
 * requests per source address on the listeners.
 */
import { TokenBucket, type RateLimit } from '../../src/shared/rate-limit/index.js';

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
  readonly #limit: RateLimit;
  readonly #now: () => number;
  readonly #bucket: TokenBucket;

  constructor(options: RequestBudgetOptions = DEFAULT_REQUEST_BUDGET) {
    this.#limit = { burst: options.burst, perSecond: options.perSecond };
    this.#now = options.now ?? Date.now;
    this.#bucket = new TokenBucket(this.#limit, this.#now());
  }

  /** Takes a token; false when none is left (the request is refused). */
  take(): boolean {
    return this.#bucket.take(this.#limit, this.#now()) === 0;
  }
}
