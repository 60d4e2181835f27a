/**
 * Goodbye, BYE (RFC 3550 §6.6), packet type 203.
 *
 *        0                   1                   2                   3
 *        0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *       +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *       |V=2|P|    SC   |   PT=BYE=203  |             length            |
 *       +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *       |                           SSRC/CSRC                           |
 *       +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *       :                              ...                              :
 *       +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * (opt) |     length    |               reason for leaving            ...
 *       +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The reason is followed by null octets up to the 32-bit boundary.
 */
import {
  allocRtcpPacket,
  fillTo32,
  isZero,
  orThrow,
  readSingleRtcpFrame,
  RTCP_HEADER_LENGTH,
  RtcpPacketType,
  type RtcpDropReason,
  type RtcpFrame,
} from './header.js';

export interface ByeFields {
  readonly sources: readonly number[];
  /** UTF-8 reason for leaving (at most 255 bytes), or null for none. */
  readonly reason?: Buffer | string | null;
  readonly padding?: Buffer;
}

export interface ByeJson {
  type: 'bye';
  sources: number[];
  reason: string | null;
  paddingLength: number;
}

export class Bye {
  readonly type = 'bye';
  /** At most 31 (SC is 5 bits). */
  sources: number[];
  /** The reason's bytes (UTF-8 text), or null when the packet has none. */
  reason: Buffer | null;
  padding: Buffer;

  constructor(fields: ByeFields) {
    this.sources = [...fields.sources];
    const reason = fields.reason ?? null;
    this.reason = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason;
    this.padding = fields.padding ?? Buffer.alloc(0);
  }

  /** Decodes a framed BYE; never throws. */
  static decode(frame: RtcpFrame): Bye | RtcpDropReason {
    const { body, count } = frame;
    const sourcesEnd = count * 4;
    if (sourcesEnd > body.length) return 'bad_count';
    const sources: number[] = [];
    for (let offset = 0; offset < sourcesEnd; offset += 4) sources.push(body.readUInt32BE(offset));
    let reason: Buffer | null = null;
    const reasonLength = body[sourcesEnd];
    if (reasonLength !== undefined) {
      const reasonEnd = sourcesEnd + 1 + reasonLength;
      if (reasonEnd > body.length) return 'malformed';
      // Only the fill to the next word may follow, all nulls.
      if (body.length - reasonEnd > 3 || !isZero(body, reasonEnd, body.length)) return 'malformed';
      reason = body.subarray(sourcesEnd + 1, reasonEnd);
    }
    return new Bye({ sources, reason, padding: frame.padding });
  }

  /** Parses exactly one BYE packet; throws RtcpParseError. */
  static deserialize(buffer: Buffer): Bye {
    return orThrow(Bye.decode(readSingleRtcpFrame(buffer, RtcpPacketType.BYE)));
  }

  /** The reason as text, or null. */
  get reasonText(): string | null {
    return this.reason === null ? null : this.reason.toString('utf8');
  }

  serialize(): Buffer {
    const reason = this.reason;
    if (reason !== null && reason.length > 255) {
      throw new RangeError(`BYE reason is ${reason.length} bytes; at most 255 fit`);
    }
    let bodyLength = this.sources.length * 4;
    if (reason !== null) {
      bodyLength += 1 + reason.length;
      // Fill so that body and padding together end on a word boundary.
      bodyLength += fillTo32(bodyLength + this.padding.length);
    }
    const buffer = allocRtcpPacket(
      this.sources.length,
      RtcpPacketType.BYE,
      bodyLength,
      this.padding,
    );
    let offset = RTCP_HEADER_LENGTH;
    for (const ssrc of this.sources) {
      buffer.writeUInt32BE(ssrc, offset);
      offset += 4;
    }
    if (reason !== null) {
      buffer[offset] = reason.length;
      reason.copy(buffer, offset + 1);
    }
    return buffer;
  }

  toJSON(): ByeJson {
    return {
      type: this.type,
      sources: [...this.sources],
      reason: this.reasonText,
      paddingLength: this.padding.length,
    };
  }
}
