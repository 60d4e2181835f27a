/**
 * The RTCP common header (RFC 3550 §6.4.1) and the framing every packet type
 * shares: find one packet in a compound, and write one.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|  count  |      PT       |             length            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 body (length words, padding included)         |
 * |                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               | padding ...   | padding count |  if P
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * `count` is RC, SC, FMT or subtype, depending on PT; `length` is the
 * packet's length in 32-bit words minus one.
 */
import { StreammeshError } from '../../shared/errors.js';

export const RTCP_HEADER_LENGTH = 4;

export const RtcpPacketType = {
  SR: 200,
  RR: 201,
  SDES: 202,
  BYE: 203,
  APP: 204,
  RTPFB: 205,
  PSFB: 206,
} as const;

/**
 * Why `parseRtcpCompound` refused a compound packet; stable strings, fit for
 * a metric label.
 * - `runt`: an empty buffer or one shorter than a common header, or a packet
 *   shorter than its type's fixed part (SR sender info, feedback SSRCs, ...)
 * - `bad_version`: a packet whose version is not 2
 * - `bad_length`: a length field running past the buffer, or bytes left over
 *   that are not a whole packet
 * - `bad_padding`: a padding count of 0 or larger than the packet body, or
 *   padding on a packet other than the last (RFC 3550 §6.4.1)
 * - `bad_count`: RC/SC says more report blocks, chunks or SSRCs than fit, or
 *   SDES data follows its last counted chunk
 * - `malformed`: the body of a known type does not parse: an SDES item or BYE
 *   reason running past the packet, non-null SDES/BYE fill, a NACK or FIR FCI
 *   that is not whole entries, a PLI with an FCI
 */
export type RtcpDropReason =
  'runt' | 'bad_version' | 'bad_length' | 'bad_padding' | 'bad_count' | 'malformed';

/** An RTCP packet `deserialize` refused; `reason` says why. */
export class RtcpParseError extends StreammeshError {
  readonly reason: RtcpDropReason;

  constructor(reason: RtcpDropReason, message?: string) {
    super('ERR_RTCP_INVALID', message ?? `invalid RTCP packet: ${reason}`);
    this.reason = reason;
  }
}

/** One packet of a compound, framed but not yet decoded. */
export interface RtcpFrame {
  /** The 5-bit field after P: RC, SC, FMT or subtype. */
  readonly count: number;
  readonly packetType: number;
  /** Everything after the common header, padding excluded. */
  readonly body: Buffer;
  /** The padding bytes (the last is their count); empty when P=0. */
  readonly padding: Buffer;
  /** Offset just past this packet in the compound. */
  readonly end: number;
}

/**
 * Frames the packet at `offset` of a compound: checks version, length and
 * padding. Padding is accepted only on the packet that ends the buffer.
 */
export function readRtcpFrame(buffer: Buffer, offset: number): RtcpFrame | RtcpDropReason {
  const remaining = buffer.length - offset;
  if (remaining < RTCP_HEADER_LENGTH) return offset === 0 ? 'runt' : 'bad_length';
  const first = buffer[offset] ?? 0;
  if (first >>> 6 !== 2) return 'bad_version';
  const packetType = buffer[offset + 1] ?? 0;
  const words = ((buffer[offset + 2] ?? 0) << 8) | (buffer[offset + 3] ?? 0);
  const end = offset + (words + 1) * 4;
  if (end > buffer.length) return 'bad_length';
  let paddingLength = 0;
  if ((first & 0x20) !== 0) {
    paddingLength = buffer[end - 1] ?? 0;
    if (end !== buffer.length) return 'bad_padding';
    if (paddingLength === 0 || paddingLength > words * 4) return 'bad_padding';
  }
  const bodyEnd = end - paddingLength;
  return {
    count: first & 0x1f,
    packetType,
    body: buffer.subarray(offset + RTCP_HEADER_LENGTH, bodyEnd),
    padding: buffer.subarray(bodyEnd, end),
    end,
  };
}

/**
 * Frames `buffer` as exactly one packet, for the codecs' `deserialize`.
 * Throws RtcpParseError when it is not one well-framed packet of `packetType`
 * (of any type when null).
 */
export function readSingleRtcpFrame(buffer: Buffer, packetType: number | null): RtcpFrame {
  const frame = readRtcpFrame(buffer, 0);
  if (typeof frame === 'string') throw new RtcpParseError(frame);
  if (frame.end !== buffer.length) {
    throw new RtcpParseError('bad_length', 'expected one RTCP packet; more data follows it');
  }
  if (packetType !== null && frame.packetType !== packetType) {
    throw new RtcpParseError(
      'malformed',
      `expected RTCP packet type ${packetType}, got ${frame.packetType}`,
    );
  }
  return frame;
}

/** Throws RtcpParseError when a body decoder returned a reason. */
export function orThrow<T extends object>(decoded: T | RtcpDropReason): T {
  if (typeof decoded === 'string') throw new RtcpParseError(decoded);
  return decoded;
}

/**
 * Allocates one packet with its common header and padding written; the caller
 * writes `bodyLength` bytes of body at offset 4. Throws RangeError when the
 * packet would not be whole words, the count does not fit 5 bits, the padding
 * is inconsistent, or the packet exceeds 65536 words.
 */
export function allocRtcpPacket(
  count: number,
  packetType: number,
  bodyLength: number,
  padding: Buffer,
): Buffer {
  if (!Number.isInteger(count) || count < 0 || count > 31) {
    throw new RangeError(`RTCP count ${count} does not fit 5 bits`);
  }
  const paddingLength = padding.length;
  if (paddingLength > 0 && (paddingLength > 255 || padding[paddingLength - 1] !== paddingLength)) {
    throw new RangeError(
      `RTCP padding is ${paddingLength} bytes but its last byte says ${padding[paddingLength - 1] ?? 0}`,
    );
  }
  const length = RTCP_HEADER_LENGTH + bodyLength + paddingLength;
  if (length % 4 !== 0) {
    throw new RangeError(`RTCP packet of ${length} bytes is not a whole number of words`);
  }
  if (length / 4 - 1 > 0xffff) {
    throw new RangeError(`RTCP packet of ${length} bytes is too long for its length field`);
  }
  const buffer = Buffer.alloc(length);
  buffer[0] = 0x80 | (paddingLength > 0 ? 0x20 : 0) | count;
  buffer[1] = packetType;
  buffer.writeUInt16BE(length / 4 - 1, 2);
  padding.copy(buffer, length - paddingLength);
  return buffer;
}

/** Padding of `length` (1..255) bytes: zeros, then the count. */
export function rtcpPadding(length: number): Buffer {
  if (!Number.isInteger(length) || length < 1 || length > 255) {
    throw new RangeError(`RTCP padding length ${length} is not 1..255`);
  }
  const padding = Buffer.alloc(length);
  padding[length - 1] = length;
  return padding;
}

/** Bytes of zero fill that bring `length` to a 32-bit boundary. */
export function fillTo32(length: number): number {
  return (4 - (length % 4)) % 4;
}

/** True when every byte of `buffer` from `start` to `end` is zero. */
export function isZero(buffer: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buffer[i] !== 0) return false;
  return true;
}
