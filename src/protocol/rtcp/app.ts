/**
 * Application-defined, APP (RFC 3550 §6.7), packet type 204.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P| subtype |   PT=APP=204  |             length            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           SSRC/CSRC                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          name (ASCII)                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   application-dependent data                ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import {
  allocRtcpPacket,
  orThrow,
  readSingleRtcpFrame,
  RTCP_HEADER_LENGTH,
  RtcpPacketType,
  type RtcpDropReason,
  type RtcpFrame,
} from './header.js';

export interface AppFields {
  /** 0..31 */
  readonly subtype: number;
  readonly ssrc: number;
  /** Exactly 4 characters, each one byte (ASCII; read as Latin-1). */
  readonly name: string;
  /** A whole number of words, unless the packet has padding to make up. */
  readonly data?: Buffer;
  readonly padding?: Buffer;
}

export interface AppJson {
  type: 'app';
  subtype: number;
  ssrc: number;
  name: string;
  data: string;
  paddingLength: number;
}

export class App {
  readonly type = 'app';
  subtype: number;
  ssrc: number;
  name: string;
  data: Buffer;
  padding: Buffer;

  constructor(fields: AppFields) {
    this.subtype = fields.subtype;
    this.ssrc = fields.ssrc;
    this.name = fields.name;
    this.data = fields.data ?? Buffer.alloc(0);
    this.padding = fields.padding ?? Buffer.alloc(0);
  }

  /** Decodes a framed APP; never throws. */
  static decode(frame: RtcpFrame): App | RtcpDropReason {
    const { body } = frame;
    if (body.length < 8) return 'runt';
    return new App({
      subtype: frame.count,
      ssrc: body.readUInt32BE(0),
      name: body.toString('latin1', 4, 8),
      data: body.subarray(8),
      padding: frame.padding,
    });
  }

  /** Parses exactly one APP packet; throws RtcpParseError. */
  static deserialize(buffer: Buffer): App {
    return orThrow(App.decode(readSingleRtcpFrame(buffer, RtcpPacketType.APP)));
  }

  serialize(): Buffer {
    const name = Buffer.from(this.name, 'latin1');
    if (name.length !== 4 || name.toString('latin1') !== this.name) {
      throw new RangeError(`APP name ${JSON.stringify(this.name)} is not 4 one-byte characters`);
    }
    const buffer = allocRtcpPacket(
      this.subtype,
      RtcpPacketType.APP,
      8 + this.data.length,
      this.padding,
    );
    buffer.writeUInt32BE(this.ssrc, RTCP_HEADER_LENGTH);
    name.copy(buffer, RTCP_HEADER_LENGTH + 4);
    this.data.copy(buffer, RTCP_HEADER_LENGTH + 8);
    return buffer;
  }

  toJSON(): AppJson {
    return {
      type: this.type,
      subtype: this.subtype,
      ssrc: this.ssrc,
      name: this.name,
      data: this.data.toString('hex'),
      paddingLength: this.padding.length,
    };
  }
}
