/**
 * An RTCP packet of a type this codec does not decode (XR 207, IJ 195, ...):
 * the common header's fields and the body are kept as they came, so the
 * packet re-serializes unchanged and can be forwarded.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|  count  |      PT       |             length            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * :                          body, raw                            :
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import {
  allocRtcpPacket,
  readSingleRtcpFrame,
  RTCP_HEADER_LENGTH,
  type RtcpFrame,
} from './header.js';

export interface UnknownRtcpPacketFields {
  readonly packetType: number;
  /** The 5-bit field after P. */
  readonly count: number;
  readonly body: Buffer;
  readonly padding?: Buffer;
}

export interface UnknownRtcpPacketJson {
  type: 'unknown';
  packetType: number;
  count: number;
  body: string;
  paddingLength: number;
}

export class UnknownRtcpPacket {
  readonly type = 'unknown';
  packetType: number;
  count: number;
  body: Buffer;
  padding: Buffer;

  constructor(fields: UnknownRtcpPacketFields) {
    this.packetType = fields.packetType;
    this.count = fields.count;
    this.body = fields.body;
    this.padding = fields.padding ?? Buffer.alloc(0);
  }

  /** Keeps a framed packet as it is; never throws. */
  static decode(frame: RtcpFrame): UnknownRtcpPacket {
    return new UnknownRtcpPacket({
      packetType: frame.packetType,
      count: frame.count,
      body: frame.body,
      padding: frame.padding,
    });
  }

  /** Keeps exactly one packet, of any type, as it is; throws RtcpParseError. */
  static deserialize(buffer: Buffer): UnknownRtcpPacket {
    return UnknownRtcpPacket.decode(readSingleRtcpFrame(buffer, null));
  }

  serialize(): Buffer {
    if (!Number.isInteger(this.packetType) || this.packetType < 0 || this.packetType > 255) {
      throw new RangeError(`RTCP packet type ${this.packetType} is not 0..255`);
    }
    const buffer = allocRtcpPacket(this.count, this.packetType, this.body.length, this.padding);
    this.body.copy(buffer, RTCP_HEADER_LENGTH);
    return buffer;
  }

  toJSON(): UnknownRtcpPacketJson {
    return {
      type: this.type,
      packetType: this.packetType,
      count: this.count,
      body: this.body.toString('hex'),
      paddingLength: this.padding.length,
    };
  }
}
