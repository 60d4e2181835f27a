/**
 * How often one resource stream may send RoomReports and PipeEndpoints
 * (review finding 3). Both are whole sets a signaling node sends after its
 * Hello and on change (its client coalesces them over 50 ms), and each one
 * that passes costs the control plane a placement and pipe pass and a push
 * to every signaling node. A node sending them as fast as gRPC carries them
 * would keep the event loop busy without pause, so each kind has a token
 * bucket per stream: 20 a second, 40 at once, far above what a node that
 * coalesces sends. What is over is dropped (the node's previous set stays
 * in force, as for a bad set) and counted `rate_limited`; its next set,
 * being whole, repairs what the dropped one said.
 *
 * A stream's warnings about what it sends (over the rate, or a bad set) are
 * logged at most once per LOG_INTERVAL_MS: a flood must not become a flood
 * of log lines. The counters count every one.
 */
import { TokenBucket, type RateLimit } from '../../shared/rate-limit/index.js';

/** Sets of one kind one stream may send: far above a node's coalesced changes. */
export const REPORT_RATE: RateLimit = { perSecond: 20, burst: 40 };
/** At most one warning per stream this often. */
export const REPORT_LOG_INTERVAL_MS = 10_000;

export type ReportKind = 'rooms' | 'pipes';

export class StreamReportLimits {
  readonly #buckets: Record<ReportKind, TokenBucket>;
  #loggedAtMs = Number.NEGATIVE_INFINITY;

  constructor(nowMs: number) {
    this.#buckets = {
      rooms: new TokenBucket(REPORT_RATE, nowMs),
      pipes: new TokenBucket(REPORT_RATE, nowMs),
    };
  }

  /** Whether a set of `kind` sent now is within the rate (it takes a token). */
  admit(kind: ReportKind, nowMs: number): boolean {
    return this.#buckets[kind].take(REPORT_RATE, nowMs) === 0;
  }

  /** Whether a warning about this stream may be logged now (then not again for the interval). */
  mayLog(nowMs: number): boolean {
    if (nowMs - this.#loggedAtMs < REPORT_LOG_INTERVAL_MS) return false;
    this.#loggedAtMs = nowMs;
    return true;
  }
}
