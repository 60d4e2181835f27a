/**
 * A listener's budget of bytes held in request-body copies (issue 14): the
 * copies BodyRecorder keeps so a retry or a mirror can resend a body. Each
 * copy is bounded per request; this bounds their sum over every request in
 * flight on one listener, so maxPendingRequests x the per-request limit is no
 * longer what a flood of slow uploads can pin in memory.
 *
 * Recorders charge it chunk by chunk and give back everything they charged
 * when their copy is dropped; it never goes below 0 or above its limit.
 *
 * The listener attaches its budget to each request it hands to the router
 * (the router's interface takes the listener's name, not the listener), and
 * the request's recorder finds it there.
 */
import type { DownstreamRequest } from './downstream.js';

export class BodyBufferBudget {
  readonly limitBytes: number;
  #usedBytes = 0;

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  /** Bytes charged now, over every copy held on this listener. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  /** Takes `bytes` if they fit under the limit; false (and nothing taken) if not. */
  tryCharge(bytes: number): boolean {
    if (this.#usedBytes + bytes > this.limitBytes) return false;
    this.#usedBytes += bytes;
    return true;
  }

  /** Gives back bytes taken by tryCharge. */
  release(bytes: number): void {
    // Clamped, so a bug that releases twice shows as a low gauge, not a negative budget.
    this.#usedBytes = Math.max(0, this.#usedBytes - bytes);
  }
}

/**
 * Where a request carries its listener's budget: a property of its own
 * rather than a WeakMap entry, which costs the collector an ephemeron per
 * request (the profile showed WeakMap.set on every request).
 */
const BODY_BUDGET = Symbol('streammesh.bodyBudget');

type WithBudget = DownstreamRequest & { [BODY_BUDGET]?: BodyBufferBudget };

/** Called by the listener for each request it admits, before the router sees it. */
export function attachBodyBudget(req: DownstreamRequest, budget: BodyBufferBudget): void {
  (req as WithBudget)[BODY_BUDGET] = budget;
}

/** The budget of the listener `req` came in on; undefined for a request no listener admitted. */
export function bodyBudgetOf(req: DownstreamRequest): BodyBufferBudget | undefined {
  return (req as WithBudget)[BODY_BUDGET];
}
