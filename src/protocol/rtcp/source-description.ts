/**
 * Source description, SDES (RFC 3550 §6.5), packet type 202.
 *
 *         0                   1                   2                   3
 *         0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * header |V=2|P|    SC   |  PT=SDES=202  |             length            |
 *        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * chunk  |                          SSRC/CSRC_1                          |
 *   1    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |                           SDES items                          |
 *        |                              ...                              |
 *        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * chunk  |                          SSRC/CSRC_2                          |
 *   2    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |                           SDES items                          |
 *        |                              ...                              |
 *        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *
 * Each item (§6.5.1 CNAME shown):
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |    CNAME=1    |     length    | user and domain name        ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * A chunk's items end with a null octet (item type 0, END), followed by null
 * octets up to the next 32-bit boundary: 1 to 4 nulls in all.
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

/** SDES item types (RFC 3550 §6.5; 0 is END, never an item). */
export const SdesItemType = {
  CNAME: 1,
  NAME: 2,
  EMAIL: 3,
  PHONE: 4,
  LOC: 5,
  TOOL: 6,
  NOTE: 7,
  PRIV: 8,
} as const;

export interface SdesItem {
  /** 1..255 */
  readonly type: number;
  /**
   * The item's bytes (UTF-8 text for all but PRIV), at most 255. Kept as
   * bytes so that any packet re-serializes unchanged.
   */
  readonly value: Buffer;
}

export interface SdesChunk {
  readonly ssrc: number;
  readonly items: readonly SdesItem[];
}

export interface SourceDescriptionFields {
  readonly chunks: readonly SdesChunk[];
  readonly padding?: Buffer;
}

export interface SourceDescriptionJson {
  type: 'sdes';
  chunks: { ssrc: number; items: { type: number; text: string }[] }[];
  paddingLength: number;
}

export class SourceDescription {
  readonly type = 'sdes';
  /** At most 31 (SC is 5 bits). */
  chunks: SdesChunk[];
  padding: Buffer;

  constructor(fields: SourceDescriptionFields) {
    this.chunks = fields.chunks.map((chunk) => ({ ssrc: chunk.ssrc, items: [...chunk.items] }));
    this.padding = fields.padding ?? Buffer.alloc(0);
  }

  /** An SDES packet with one chunk holding one CNAME item. */
  static cname(ssrc: number, cname: string): SourceDescription {
    return new SourceDescription({
      chunks: [{ ssrc, items: [{ type: SdesItemType.CNAME, value: Buffer.from(cname, 'utf8') }] }],
    });
  }

  /** Decodes a framed SDES; never throws. */
  static decode(frame: RtcpFrame): SourceDescription | RtcpDropReason {
    const { body, count } = frame;
    const chunks: SdesChunk[] = [];
    let offset = 0;
    for (let i = 0; i < count; i++) {
      if (offset + 4 > body.length) return 'bad_count';
      const ssrc = body.readUInt32BE(offset);
      offset += 4;
      const items: SdesItem[] = [];
      for (;;) {
        const type = body[offset];
        if (type === undefined) return 'malformed'; // no END before the packet ends
        if (type === 0) break;
        const length = body[offset + 1];
        if (length === undefined || offset + 2 + length > body.length) return 'malformed';
        items.push({ type, value: body.subarray(offset + 2, offset + 2 + length) });
        offset += 2 + length;
      }
      const chunkEnd = offset + 1 + fillTo32(offset + 1);
      if (chunkEnd > body.length || !isZero(body, offset, chunkEnd)) return 'malformed';
      offset = chunkEnd;
      chunks.push({ ssrc, items });
    }
    if (offset !== body.length) return 'bad_count';
    return new SourceDescription({ chunks, padding: frame.padding });
  }

  /** Parses exactly one SDES packet; throws RtcpParseError. */
  static deserialize(buffer: Buffer): SourceDescription {
    return orThrow(SourceDescription.decode(readSingleRtcpFrame(buffer, RtcpPacketType.SDES)));
  }

  /** The CNAME of `ssrc`'s chunk (UTF-8), if it has one. */
  cnameOf(ssrc: number): string | undefined {
    const chunk = this.chunks.find((candidate) => candidate.ssrc === ssrc);
    return chunk?.items.find((item) => item.type === SdesItemType.CNAME)?.value.toString('utf8');
  }

  serialize(): Buffer {
    let bodyLength = 0;
    for (const chunk of this.chunks) {
      let chunkLength = 4;
      for (const item of chunk.items) {
        if (!Number.isInteger(item.type) || item.type < 1 || item.type > 255) {
          throw new RangeError(`SDES item type ${item.type} is not 1..255`);
        }
        if (item.value.length > 255) {
          throw new RangeError(`SDES item of type ${item.type} is longer than 255 bytes`);
        }
        chunkLength += 2 + item.value.length;
      }
      bodyLength += chunkLength + 1 + fillTo32(chunkLength + 1);
    }
    const buffer = allocRtcpPacket(
      this.chunks.length,
      RtcpPacketType.SDES,
      bodyLength,
      this.padding,
    );
    let offset = RTCP_HEADER_LENGTH;
    for (const chunk of this.chunks) {
      buffer.writeUInt32BE(chunk.ssrc, offset);
      offset += 4;
      for (const item of chunk.items) {
        buffer[offset] = item.type;
        buffer[offset + 1] = item.value.length;
        offset += 2 + item.value.copy(buffer, offset + 2);
      }
      // END and fill: the buffer is zeroed already.
      offset += 1 + fillTo32(offset + 1 - RTCP_HEADER_LENGTH);
    }
    return buffer;
  }

  toJSON(): SourceDescriptionJson {
    return {
      type: this.type,
      chunks: this.chunks.map((chunk) => ({
        ssrc: chunk.ssrc,
        items: chunk.items.map((item) => ({ type: item.type, text: item.value.toString('utf8') })),
      })),
      paddingLength: this.padding.length,
    };
  }
}
