/**
 * H.264 over RTP, RFC 6184 packetization-mode 1 (non-interleaved, §6.3):
 * NAL units go in decoding order, each either whole in a single NAL unit
 * packet (§5.6) or, when it does not fit, split into FU-A fragments (§5.8).
 * Every packet of an access unit carries its timestamp, and the last one
 * sets the marker bit (§5.1).
 *
 * FU-A payload:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | FU indicator  |   FU header   |                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               |
 * |                         FU payload                            |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   FU indicator: F | NRI (2) | Type = 28      (F and NRI of the NAL unit)
 *   FU header:    S | E | R=0 | Type (5)       (the NAL unit's own type)
 *
 * The NAL unit header itself is not sent in the fragments: the receiver
 * rebuilds it from the indicator's F|NRI and the header's type.
 */
import { RtpPacket } from '../rtp/index.js';

/** FU-A's NAL unit type (RFC 6184 §5.2, Table 1). */
export const FU_A_TYPE = 28;

/**
 * Largest RTP payload by default: 1200 bytes keeps a packet (with RTP, UDP,
 * IPv6 headers and room for SRTP's tag or a tunnel) under a 1280-byte path MTU.
 */
export const DEFAULT_MAX_PAYLOAD_SIZE = 1200;

/** The RTP clock rate of H.264 (RFC 6184 §8.2.1). */
export const H264_CLOCK_RATE = 90_000;

/** FU indicator + FU header. */
const FU_A_HEADER_LENGTH = 2;

/**
 * The RTP payloads that carry one NAL unit (without its start code): the
 * unit itself when it fits in `maxPayloadSize` (a view of `nal`), otherwise
 * FU-A fragments of at most `maxPayloadSize` bytes each (fresh buffers).
 */
export function h264NalPayloads(
  nal: Uint8Array,
  maxPayloadSize: number = DEFAULT_MAX_PAYLOAD_SIZE,
): Buffer[] {
  if (nal.length === 0) return [];
  // A view, not a copy: the RTP serializer copies the payload into the packet.
  if (nal.length <= maxPayloadSize) return [Buffer.from(nal.buffer, nal.byteOffset, nal.length)];
  const header = nal[0] ?? 0;
  const indicator = (header & 0xe0) | FU_A_TYPE;
  const type = header & 0x1f;
  const chunk = maxPayloadSize - FU_A_HEADER_LENGTH;
  const payloads: Buffer[] = [];
  for (let offset = 1; offset < nal.length; offset += chunk) {
    const end = Math.min(offset + chunk, nal.length);
    const fuHeader = (offset === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
    const payload = Buffer.allocUnsafe(FU_A_HEADER_LENGTH + end - offset);
    payload[0] = indicator;
    payload[1] = fuHeader;
    payload.set(nal.subarray(offset, end), FU_A_HEADER_LENGTH);
    payloads.push(payload);
  }
  return payloads;
}

export interface H264PacketizerOptions {
  readonly ssrc: number;
  /** Dynamic payload type the SDP maps to H264/90000; default 96. */
  readonly payloadType?: number;
  /** Sequence number of the first packet; RFC 3550 §5.1 wants it random. */
  readonly firstSequenceNumber?: number;
  /** Default DEFAULT_MAX_PAYLOAD_SIZE; at least 3 (an FU-A needs two header bytes). */
  readonly maxPayloadSize?: number;
}

/** Turns access units into RTP packets of one stream, numbering them as it goes. */
export class H264Packetizer {
  readonly ssrc: number;
  readonly payloadType: number;
  readonly maxPayloadSize: number;
  #sequenceNumber: number;
  #packetCount = 0;
  #octetCount = 0;

  constructor(options: H264PacketizerOptions) {
    this.ssrc = options.ssrc >>> 0;
    this.payloadType = options.payloadType ?? 96;
    this.maxPayloadSize = options.maxPayloadSize ?? DEFAULT_MAX_PAYLOAD_SIZE;
    this.#sequenceNumber = (options.firstSequenceNumber ?? 0) & 0xffff;
    if (!Number.isInteger(this.maxPayloadSize) || this.maxPayloadSize < FU_A_HEADER_LENGTH + 1) {
      throw new RangeError(`H.264 max payload size ${this.maxPayloadSize} is below 3 bytes`);
    }
  }

  /** The sequence number the next packet will carry. */
  get nextSequenceNumber(): number {
    return this.#sequenceNumber;
  }

  /** Packets sent so far: an SR's sender packet count (RFC 3550 §6.4.1). */
  get packetCount(): number {
    return this.#packetCount;
  }

  /** Payload octets sent so far: an SR's sender octet count. */
  get octetCount(): number {
    return this.#octetCount;
  }

  /**
   * The packets of one access unit (its NAL units in decoding order, without
   * start codes), all stamped `timestamp` (mod 2^32), the marker on the last.
   * Each packet is a fresh buffer.
   */
  packetize(accessUnit: readonly Uint8Array[], timestamp: number): Buffer[] {
    const payloads = accessUnit.flatMap((nal) => h264NalPayloads(nal, this.maxPayloadSize));
    return payloads.map((payload, index) => {
      const packet = new RtpPacket({
        payloadType: this.payloadType,
        sequenceNumber: this.#sequenceNumber,
        timestamp: timestamp >>> 0,
        ssrc: this.ssrc,
        marker: index === payloads.length - 1,
        payload,
      });
      this.#sequenceNumber = (this.#sequenceNumber + 1) & 0xffff;
      this.#packetCount = (this.#packetCount + 1) >>> 0;
      this.#octetCount = (this.#octetCount + payload.length) >>> 0;
      return packet.serialize();
    });
  }
}
