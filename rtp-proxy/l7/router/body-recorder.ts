/**
 * Keeps a copy of a request body, up to a limit, while it streams to the first
 * upstream, so that a retry or a mirror can send the same bytes again. Bodies
 * over the limit are not kept (and their requests are neither retried nor
 * mirrored): buffering them would let one client hold unbounded memory.
 *
 * The copy is also charged to its listener's BodyBufferBudget, chunk by
 * chunk. A chunk that does not fit drops the copy: the request is still
 * proxied, streamed, only not retried or mirrored (as Envoy abandons the
 * retry or shadow of a request over its buffer limit, and linkerd2-proxy
 * stops buffering a body past its limit). Refusing it with a 503 instead
 * would turn a memory safeguard into lost requests, and could not be done
 * anyway once the first bytes have gone upstream. Every byte charged is
 * given back when the copy is dropped or released, so the budget returns to
 * 0 when traffic stops.
 */
import type { Readable, Writable } from 'node:stream';
import type { BodyBufferBudget } from '../listener/body-budget.js';

/** Envoy's default per-request buffer limit is 1 MiB; requests worth retrying are small. */
export const DEFAULT_BODY_RECORD_LIMIT = 64 * 1024;

/** Why a copy was dropped before the body ended (a metric label). */
export type AbandonReason = 'request_too_large' | 'listener_budget_full';

export interface BodyRecorderOptions {
  /** Largest body kept for one request. */
  readonly limitBytes?: number;
  /** The listener's budget the copy is charged to; none: only the per-request limit holds. */
  readonly budget?: BodyBufferBudget | undefined;
  /** Told once, when the copy is dropped for being over a limit. */
  readonly onAbandoned?: (reason: AbandonReason) => void;
}

export class BodyRecorder {
  #chunks: Buffer[] = [];
  #bytes = 0;
  /** Bytes of #chunks charged to the budget, given back when they are dropped. */
  #charged = 0;
  /** Set once the copy is gone (over a limit, or released): nothing more is kept. */
  #dropped = false;
  #ended = false;
  readonly #budget: BodyBufferBudget | undefined;
  readonly #endWaiters: (() => void)[] = [];

  /** Must be called before the body is piped, so no chunk is missed. */
  constructor(source: Readable, options: BodyRecorderOptions = {}) {
    const limitBytes = options.limitBytes ?? DEFAULT_BODY_RECORD_LIMIT;
    this.#budget = options.budget;
    const abandon = (reason: AbandonReason): void => {
      this.release();
      options.onAbandoned?.(reason);
    };
    source.on('data', (chunk: Buffer) => {
      this.#bytes += chunk.length;
      if (this.#dropped) return;
      if (this.#bytes > limitBytes) {
        abandon('request_too_large');
        return;
      }
      if (this.#budget !== undefined) {
        if (!this.#budget.tryCharge(chunk.length)) {
          abandon('listener_budget_full');
          return;
        }
        this.#charged += chunk.length;
      }
      this.#chunks.push(chunk);
    });
    source.once('end', () => {
      this.#ended = true;
      for (const wake of this.#endWaiters.splice(0)) wake();
    });
  }

  /** The whole body is here and the copy is still kept. */
  get replayable(): boolean {
    return this.#ended && !this.#dropped;
  }

  /** Bytes of the body seen so far (kept or not). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Resolves when the body has ended (never, if the client stops sending). */
  ended(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    return new Promise((resolve) => this.#endWaiters.push(resolve));
  }

  /** Writes the kept body and ends `target`; only when `replayable`. */
  replayInto(target: Writable): void {
    for (const chunk of this.#chunks) target.write(chunk);
    target.end();
  }

  /**
   * Drops the copy and gives its bytes back to the budget: once no retry or
   * mirror can want it (the request is over, or its answer is chosen).
   * Idempotent; the body is no longer replayable.
   */
  release(): void {
    this.#dropped = true;
    this.#chunks = [];
    this.#budget?.release(this.#charged);
    this.#charged = 0;
  }
}
