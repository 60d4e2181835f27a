/**
 * Why packets were dropped, per route. A plain object of numbers: the packet
 * path increments a field, nothing more.
 */
import type { RtcpDropReason } from '../../../src/protocol/rtcp/index.js';
import type { RtpDropReason } from '../../../src/protocol/rtp/index.js';
import type { SrtpDropReason } from '../../../src/protocol/srtp/index.js';

export type RelayDropReason =
  | RtpDropReason
  | `srtp_${SrtpDropReason}`
  | `srtcp_${SrtpDropReason}`
  | `rtcp_${RtcpDropReason}`
  /** Not from the latched sender (or the destination, for feedback). */
  | 'unlatched_source'
  /** latch.address is set and the packet came from elsewhere. */
  | 'source_not_allowed'
  /** latch.ssrc is set and this is not the latched SSRC. */
  | 'unknown_ssrc'
  | 'too_many_streams'
  /** Feedback from a receiver while no sender is latched. */
  | 'no_sender'
  | 'protect_failed'
  | 'send_error';

export type DropCounts = Partial<Record<RelayDropReason, number>>;

export class DropCounters {
  readonly counts: DropCounts = {};

  add(reason: RelayDropReason): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + 1;
  }
}
