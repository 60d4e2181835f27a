/**
 * The per-packet chain every media path runs (relay route in and out, RTSP
 * fan-out, camera pull), after Pion's interceptors: a `MediaPacket` with its
 * arrival time from an injected clock passes an ordered list of small
 * interceptors, each of which passes, rewrites or drops it with a reason;
 * the chain counts drops by reason in one place. One file per interceptor.
 *
 *   every user: rtp-check -> count -> measure -> duplicate-filter
 *               -> rewrites (receive-steps.ts: the one order and why)
 *   relay in:   latch-gate -> srtp-unprotect -> rtp-check -> count -> measure
 *               -> latch-confirm -> duplicate-filter -> fan-out
 *   relay out:  header-rewrite -> srtp-protect -> socket
 *   relay RTCP: source-address -> srtcp-unprotect -> rtcp-parse (from the
 *               sender, and feedback from each destination); srtcp-protect
 *   RTSP track: rtp-check -> count -> measure -> duplicate-filter
 *               -> continuity-rewrite -> viewers
 *   camera:     rtp-check -> count -> measure -> duplicate-filter
 *               -> payload-type-map -> continuity-rewrite -> socket
 *
 * Byte figures are `wireLength` (see measure.ts).
 */
export { MediaPacket } from './media-packet.js';
export { PASS, type DropReason, type Interceptor } from './interceptor.js';
export { DropCounters, type DropCounts } from './drop-counters.js';
export {
  INTERCEPTOR_FAILED,
  PacketChain,
  PacketChainError,
  type PacketChainOptions,
} from './packet-chain.js';
export { monotonicClock } from './monotonic-clock.js';
export { RtcpParse } from './rtcp-parse.js';
export { SourceAddress } from './source-address.js';
export { RtpCheck, type RtpCheckOptions } from './rtp-check.js';
export { SrtpUnprotect, srtpDropReasons, type SrtpPacketKind } from './srtp-unprotect.js';
export { PROTECT_FAILED, SrtpProtect } from './srtp-protect.js';
export {
  SOURCE_NOT_ALLOWED,
  SymmetricLatch,
  UNLATCHED_SOURCE,
  type LatchedSender,
  type SymmetricLatchOptions,
} from './symmetric-latch.js';
export {
  SsrcStreamTable,
  TOO_MANY_STREAMS,
  TrackStream,
  UNKNOWN_SSRC,
  type MeasuredStream,
  type SsrcStreamTableOptions,
  type StreamKind,
  type StreamResolver,
} from './stream-table.js';
export { Measure } from './measure.js';
export {
  DUPLICATE,
  DUPLICATE_WINDOW_MS,
  DuplicateFilter,
  LATE,
  type DuplicateFilterOptions,
} from './duplicate-filter.js';
export { receiveSteps, type ReceiveStepsOptions } from './receive-steps.js';
export { PacketCounter } from './packet-counter.js';
export { HeaderRewrite, type HeaderRewriteOptions } from './header-rewrite.js';
export { ContinuityRewrite } from './continuity-rewrite.js';
export { PayloadTypeMap, UNEXPECTED_PAYLOAD_TYPE } from './payload-type-map.js';
