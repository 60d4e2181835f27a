/**
 * The one order in which every user of the chain (relay route, RTSP track,
 * camera pull) checks, counts and measures what it receives:
 *
 *   rtp-check -> count -> measure -> [after measure] -> duplicate-filter
 *   -> [rewrites]
 *
 * - count before measure: every valid RTP packet is in the owner's packet
 *   and byte counters, including those the stream table then refuses
 *   (counted again, as drops, under its reason) and duplicates;
 * - measure before anything that drops by content (payload-type map,
 *   duplicate filter): packets of another payload type on the same sequence
 *   numbers (RED, FEC, comfort noise) are part of the stream, not gaps;
 * - rewrites last: the measurement sees the sender's own numbering.
 *
 * A user puts its own steps in front (the relay's latch gate and SRTP
 * unprotect), right after measure (the relay's latch confirm: only an
 * admitted stream latches) and among the rewrites (the camera's
 * payload-type map, continuity).
 */
import { DuplicateFilter, type DuplicateFilterOptions } from './duplicate-filter.js';
import type { Interceptor } from './interceptor.js';
import { Measure } from './measure.js';
import type { PacketCounter } from './packet-counter.js';
import { RtpCheck, type RtpCheckOptions } from './rtp-check.js';
import type { StreamResolver } from './stream-table.js';

export interface ReceiveStepsOptions {
  readonly check?: RtpCheckOptions;
  /** The owner's packet/byte counter (it may share one between chains). */
  readonly counter: PacketCounter;
  readonly streams: StreamResolver;
  readonly duplicates?: DuplicateFilterOptions;
  /** Between measure and the duplicate filter. */
  readonly afterMeasure?: readonly Interceptor[];
  /** After the duplicate filter, in order. */
  readonly rewrites?: readonly Interceptor[];
}

export function receiveSteps(options: ReceiveStepsOptions): Interceptor[] {
  return [
    new RtpCheck(options.check),
    options.counter,
    new Measure(options.streams),
    ...(options.afterMeasure ?? []),
    new DuplicateFilter(options.duplicates),
    ...(options.rewrites ?? []),
  ];
}
