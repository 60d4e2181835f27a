/**
 * The one packet a chain works on. A chain owns one `MediaPacket` and loads
 * each datagram into it, so the packet loop creates no object per packet:
 * interceptors read and write its fields, and may point `buffer` at other
 * bytes (SRTP unprotect/protect, a rewritten copy).
 */
import type { RtcpPacket } from '../../protocol/rtcp/index.js';
import type { PacketClass } from '../quality/index.js';

const EMPTY = Buffer.alloc(0);
const NO_RTCP: readonly RtcpPacket[] = [];

export class MediaPacket {
  /** The bytes as they are now: after unprotect, after any rewrite. */
  buffer: Buffer = EMPTY;
  /** Length on the wire as received (before SRTP unprotect), for byte counters. */
  wireLength = 0;
  /** Arrival time, in ms of the chain's clock: read once per packet. */
  arrivalMs = 0;
  /** Where the datagram came from ('' when it did not come from a socket). */
  sourceAddress = '';
  sourcePort = 0;
  /** RTP fields, filled by `RtpCheck`; read-only to interceptors after it. */
  ssrc = 0;
  sequence = 0;
  timestamp = 0;
  payloadType = 0;
  /** What the measurement made of the packet; 'ok' until `Measure` runs. */
  verdict: PacketClass = 'ok';
  /** The RTCP compound's packets, filled by `RtcpParse`. */
  rtcp: readonly RtcpPacket[] = NO_RTCP;
  /**
   * Others still read `buffer` after this chain (a route's other
   * destinations): an interceptor that changes bytes copies them first, or
   * puts them back before the packet leaves the chain's owner.
   */
  shared = false;

  /** Starts a new packet in this object; parsed fields are reset. */
  load(buffer: Buffer, arrivalMs: number, sourceAddress = '', sourcePort = 0): this {
    this.buffer = buffer;
    this.wireLength = buffer.length;
    this.arrivalMs = arrivalMs;
    this.sourceAddress = sourceAddress;
    this.sourcePort = sourcePort;
    this.ssrc = 0;
    this.sequence = 0;
    this.timestamp = 0;
    this.payloadType = 0;
    this.verdict = 'ok';
    this.rtcp = NO_RTCP;
    this.shared = false;
    return this;
  }

  /** Carries a packet that passed one chain into the next (fan-out to an outbound chain). */
  loadFrom(other: MediaPacket): this {
    this.buffer = other.buffer;
    this.wireLength = other.wireLength;
    this.arrivalMs = other.arrivalMs;
    this.sourceAddress = other.sourceAddress;
    this.sourcePort = other.sourcePort;
    this.ssrc = other.ssrc;
    this.sequence = other.sequence;
    this.timestamp = other.timestamp;
    this.payloadType = other.payloadType;
    this.verdict = other.verdict;
    this.rtcp = other.rtcp;
    this.shared = other.shared;
    return this;
  }
}
