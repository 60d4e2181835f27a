/**
 * Why a route dropped packets: the packet chain's counters
 * (src/media/packet-chain), one instance per route shared by its inbound,
 * outbound and RTCP chains. The reasons its own interceptors use are listed
 * here; an interceptor added to a route's chain counts under its own.
 */
import type { RtcpDropReason } from '../../../src/protocol/rtcp/index.js';
import type { RtpDropReason } from '../../../src/protocol/rtp/index.js';
import type { SrtpDropReason } from '../../../src/protocol/srtp/index.js';

export { DropCounters, type DropCounts } from '../../../src/media/packet-chain/index.js';

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
  /** A sequence number relayed less than a second before (duplicate-filter.ts). */
  | 'duplicate'
  /** Older than the 128-packet window; dropped only when a chain asks (off in the relay). */
  | 'late'
  /** Feedback from a receiver while no sender is latched. */
  | 'no_sender'
  | 'protect_failed'
  | 'send_error'
  /** Handed to a route after its close(). */
  | 'route_closed'
  /** For a destination whose egress socket has closed. */
  | 'destination_closed'
  /** An interceptor threw (a bug): the packet was dropped, the route goes on. */
  | 'interceptor_failed';
