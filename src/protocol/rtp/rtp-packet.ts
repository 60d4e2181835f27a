/**
 * RTP packet codec (RFC 3550 §5.1; header extension §5.3.1) for tests, tools
 * and anything off the per-packet path. The relay itself uses the
 * allocation-free functions in rtp-fields.ts.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           timestamp                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           synchronization source (SSRC) identifier            |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |            contributing source (CSRC) identifiers             |
 * |                             ....                              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      defined by profile       |           length              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        header extension                       |
 * |                             ....                              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                            payload                            |
 * |                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               | padding ...   | padding count |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Every byte of a valid packet is kept (the extension block and the padding
 * raw), so `serialize(deserialize(x))` equals `x` byte for byte.
 */
import { StreammeshError } from '../../shared/errors.js';
import { checkRtp, RTP_FIXED_HEADER_LENGTH, type RtpDropReason } from './rtp-fields.js';

/** The RFC 3550 §5.3.1 extension block: its profile word and data words. */
export interface RtpHeaderExtension {
  /** The 16-bit "defined by profile" field (0xBEDE for RFC 8285 one-byte). */
  readonly profile: number;
  /** The extension data, a multiple of 4 bytes, without its 4-byte header. */
  readonly data: Buffer;
}

export interface RtpPacketFields {
  readonly payloadType: number;
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly marker?: boolean;
  readonly csrcs?: readonly number[];
  readonly extension?: RtpHeaderExtension | null;
  readonly payload?: Buffer;
  /** The padding bytes, the last being their count; empty for none (P=0). */
  readonly padding?: Buffer;
}

export interface RtpPacketJson {
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrcs: number[];
  extension: { profile: number; data: string } | null;
  payloadLength: number;
  paddingLength: number;
}

/** A packet `RtpPacket.deserialize` refused; `reason` is `checkRtp`'s. */
export class RtpParseError extends StreammeshError {
  readonly reason: RtpDropReason;

  constructor(reason: RtpDropReason) {
    super('ERR_RTP_INVALID', `invalid RTP packet: ${reason}`);
    this.reason = reason;
  }
}

export class RtpPacket {
  marker: boolean;
  /** 0..127 */
  payloadType: number;
  /** 0..65535 */
  sequenceNumber: number;
  /** unsigned 32-bit */
  timestamp: number;
  /** unsigned 32-bit */
  ssrc: number;
  /** Up to 15 unsigned 32-bit CSRCs. */
  csrcs: number[];
  /** The header extension (X=1), or null (X=0). */
  extension: RtpHeaderExtension | null;
  payload: Buffer;
  /** The padding bytes, the last being their count; empty for none (P=0). */
  padding: Buffer;

  constructor(fields: RtpPacketFields) {
    this.marker = fields.marker ?? false;
    this.payloadType = fields.payloadType;
    this.sequenceNumber = fields.sequenceNumber;
    this.timestamp = fields.timestamp;
    this.ssrc = fields.ssrc;
    this.csrcs = [...(fields.csrcs ?? [])];
    this.extension = fields.extension ?? null;
    this.payload = fields.payload ?? Buffer.alloc(0);
    this.padding = fields.padding ?? Buffer.alloc(0);
  }

  /** Padding of `length` (1..255) bytes: zeros, then the count. */
  static padding(length: number): Buffer {
    if (!Number.isInteger(length) || length < 1 || length > 255) {
      throw new RangeError(`RTP padding length ${length} is not 1..255`);
    }
    const padding = Buffer.alloc(length);
    padding[length - 1] = length;
    return padding;
  }

  /**
   * Parses a packet. The payload, extension data and padding are views into
   * `buffer`: copy them if `buffer` will be reused. Throws RtpParseError with
   * `checkRtp`'s reason for an invalid packet.
   */
  static deserialize(buffer: Buffer): RtpPacket {
    const reason = checkRtp(buffer);
    if (reason !== null) throw new RtpParseError(reason);
    const first = buffer.readUInt8(0);
    const second = buffer.readUInt8(1);
    const csrcCount = first & 0x0f;
    const csrcs: number[] = [];
    let offset = RTP_FIXED_HEADER_LENGTH;
    for (let i = 0; i < csrcCount; i++) {
      csrcs.push(buffer.readUInt32BE(offset));
      offset += 4;
    }
    let extension: RtpHeaderExtension | null = null;
    if ((first & 0x10) !== 0) {
      const profile = buffer.readUInt16BE(offset);
      const dataLength = buffer.readUInt16BE(offset + 2) * 4;
      offset += 4;
      extension = { profile, data: buffer.subarray(offset, offset + dataLength) };
      offset += dataLength;
    }
    const paddingLength = (first & 0x20) !== 0 ? buffer.readUInt8(buffer.length - 1) : 0;
    const payloadEnd = buffer.length - paddingLength;
    return new RtpPacket({
      marker: (second & 0x80) !== 0,
      payloadType: second & 0x7f,
      sequenceNumber: buffer.readUInt16BE(2),
      timestamp: buffer.readUInt32BE(4),
      ssrc: buffer.readUInt32BE(8),
      csrcs,
      extension,
      payload: buffer.subarray(offset, payloadEnd),
      padding: buffer.subarray(payloadEnd),
    });
  }

  /** Length of the header: fixed part, CSRCs and extension block. */
  get headerLength(): number {
    return (
      RTP_FIXED_HEADER_LENGTH +
      this.csrcs.length * 4 +
      (this.extension === null ? 0 : 4 + this.extension.data.length)
    );
  }

  get serializedLength(): number {
    return this.headerLength + this.payload.length + this.padding.length;
  }

  /** Writes the packet. Throws RangeError for a field the wire cannot carry. */
  serialize(): Buffer {
    this.#validate();
    const buffer = Buffer.allocUnsafe(this.serializedLength);
    const hasPadding = this.padding.length > 0;
    buffer[0] =
      0x80 | (hasPadding ? 0x20 : 0) | (this.extension === null ? 0 : 0x10) | this.csrcs.length;
    buffer[1] = (this.marker ? 0x80 : 0) | this.payloadType;
    buffer.writeUInt16BE(this.sequenceNumber, 2);
    buffer.writeUInt32BE(this.timestamp, 4);
    buffer.writeUInt32BE(this.ssrc, 8);
    let offset = RTP_FIXED_HEADER_LENGTH;
    for (const csrc of this.csrcs) {
      buffer.writeUInt32BE(csrc, offset);
      offset += 4;
    }
    if (this.extension !== null) {
      buffer.writeUInt16BE(this.extension.profile, offset);
      buffer.writeUInt16BE(this.extension.data.length / 4, offset + 2);
      offset += 4;
      offset += this.extension.data.copy(buffer, offset);
    }
    offset += this.payload.copy(buffer, offset);
    this.padding.copy(buffer, offset);
    return buffer;
  }

  toJSON(): RtpPacketJson {
    return {
      marker: this.marker,
      payloadType: this.payloadType,
      sequenceNumber: this.sequenceNumber,
      timestamp: this.timestamp,
      ssrc: this.ssrc,
      csrcs: [...this.csrcs],
      extension:
        this.extension === null
          ? null
          : { profile: this.extension.profile, data: this.extension.data.toString('hex') },
      payloadLength: this.payload.length,
      paddingLength: this.padding.length,
    };
  }

  #validate(): void {
    if (!Number.isInteger(this.payloadType) || this.payloadType < 0 || this.payloadType > 127) {
      throw new RangeError(`RTP payload type ${this.payloadType} is not 0..127`);
    }
    if (this.csrcs.length > 15) {
      throw new RangeError(`RTP packet has ${this.csrcs.length} CSRCs; at most 15 fit`);
    }
    if (this.extension !== null) {
      const { data } = this.extension;
      if (data.length % 4 !== 0 || data.length > 0xffff * 4) {
        throw new RangeError(
          `RTP header extension data is ${data.length} bytes; it must be whole words, at most 65535`,
        );
      }
    }
    const paddingLength = this.padding.length;
    if (
      paddingLength > 0 &&
      (paddingLength > 255 || this.padding[paddingLength - 1] !== paddingLength)
    ) {
      throw new RangeError(
        `RTP padding is ${paddingLength} bytes but its last byte says ${this.padding[paddingLength - 1] ?? 0}`,
      );
    }
  }
}
