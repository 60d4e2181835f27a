/**
 * The two clocks of a proxied request on one timer: its deadline (the route
 * timeout, or the gRPC deadline if sooner; fixed when it starts) and its
 * idle timeout (no body byte either way for `idleMs`). A chunk only notes
 * the time; the timer is re-armed when it fires before the idle time has
 * really passed. So a request costs one Timeout however many chunks it
 * moves, where a timer refreshed per chunk (and a second one for the
 * deadline) cost an allocation, a list move per chunk and garbage on every
 * request (issue 20's profile of the request path).
 */
import { performance } from 'node:perf_hooks';

/** The longest delay setTimeout takes; node runs a longer one after 1 ms. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * libuv fires a timer by its loop's cached millisecond clock, which can be
 * up to a millisecond behind performance.now(): a timer this close to its
 * time counts as on time rather than being armed again for a sliver.
 */
const TIMER_SLACK_MS = 1;

export interface RequestTimerEvents {
  /** The deadline passed. */
  readonly onDeadline: () => void;
  /** No byte moved for the idle timeout. */
  readonly onIdle: () => void;
}

export class RequestTimer {
  readonly #deadlineAt: number;
  readonly #idleMs: number;
  readonly #events: RequestTimerEvents;
  #lastActivity: number;
  #timer: NodeJS.Timeout | undefined;

  /** `deadlineMs` Infinity: no deadline (a route timeout of 0, for long streams). */
  constructor(deadlineMs: number, idleMs: number, events: RequestTimerEvents) {
    const now = performance.now();
    this.#deadlineAt = now + deadlineMs;
    this.#idleMs = idleMs;
    this.#events = events;
    this.#lastActivity = now;
    this.#arm(Math.min(deadlineMs, idleMs));
  }

  /** A body chunk moved: the idle clock starts again. A listener, so bound once. */
  readonly touch = (): void => {
    this.#lastActivity = performance.now();
  };

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#fire();
    }, ms);
  }

  #fire(): void {
    const now = performance.now();
    const onTime = now + TIMER_SLACK_MS;
    this.#timer = undefined;
    if (onTime >= this.#deadlineAt) {
      this.#events.onDeadline();
      return;
    }
    const idleAt = this.#lastActivity + this.#idleMs;
    if (onTime >= idleAt) {
      this.#events.onIdle();
      return;
    }
    this.#arm(Math.min(this.#deadlineAt, idleAt) - now);
  }
}
