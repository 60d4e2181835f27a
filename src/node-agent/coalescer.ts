/**
 * Sends a whole-set report at most once per interval: the first change
 * sends at once, changes within the interval after it send once at its end
 * (the set as it is then). A room or pipe set can change many times in a
 * burst (a room of fifty joining, a pipe per peer node) and each message
 * carries the whole set, so one at the end says all of it; the first goes
 * at once because a pipe's setup waits on it.
 */
export class Coalescer {
  readonly #intervalMs: number;
  readonly #send: () => void;
  readonly #now: () => number;
  #lastAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;

  constructor(intervalMs: number, send: () => void, now: () => number = Date.now) {
    this.#intervalMs = intervalMs;
    this.#send = send;
    this.#now = now;
  }

  /** The set changed: sends it now, or at the end of the interval if one was sent within it. */
  changed(): void {
    if (this.#timer !== undefined) return;
    const wait = this.#lastAt + this.#intervalMs - this.#now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.#timer = setTimeout(() => this.flush(), wait);
  }

  /** Sends now (after a Hello), dropping a send that was due later. */
  flush(): void {
    this.cancel();
    this.#lastAt = this.#now();
    this.#send();
  }

  /** Drops a send that was due (the stream ended: the next Hello sends the set). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
