/**
 * Receiver report, RR (RFC 3550 §6.4.2), packet type 201.
 *
 *         0                   1                   2                   3
 *         0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * header |V=2|P|    RC   |   PT=RR=201   |             length            |
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |                     SSRC of packet sender                     |
 *        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * report |                 SSRC_1 (SSRC of first source)                 |
 * block  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   1    :               ... 24 bytes, see report-block.ts ...           :
 *        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *        :                           ... RC blocks                       :
 *        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *        |                  profile-specific extensions                  |
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
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
import {
  REPORT_BLOCK_LENGTH,
  ReportBlock,
  type ReportBlockFields,
  type ReportBlockJson,
} from './report-block.js';

export interface ReceiverReportFields {
  readonly ssrc: number;
  readonly reports?: readonly ReportBlockFields[];
  /** Profile-specific extension bytes after the report blocks. */
  readonly extension?: Buffer;
  readonly padding?: Buffer;
}

export interface ReceiverReportJson {
  type: 'rr';
  ssrc: number;
  reports: ReportBlockJson[];
  extension: string;
  paddingLength: number;
}

export class ReceiverReport {
  readonly type = 'rr';
  /** SSRC of the packet's sender. */
  ssrc: number;
  /** At most 31 (RC is 5 bits); send more in further RR packets. */
  reports: ReportBlock[];
  extension: Buffer;
  padding: Buffer;

  constructor(fields: ReceiverReportFields) {
    this.ssrc = fields.ssrc;
    this.reports = (fields.reports ?? []).map((block) => new ReportBlock(block));
    this.extension = fields.extension ?? Buffer.alloc(0);
    this.padding = fields.padding ?? Buffer.alloc(0);
  }

  /** Decodes a framed RR; never throws. */
  static decode(frame: RtcpFrame): ReceiverReport | RtcpDropReason {
    const { body, count } = frame;
    if (body.length < 4) return 'runt';
    const blocksEnd = 4 + count * REPORT_BLOCK_LENGTH;
    if (blocksEnd > body.length) return 'bad_count';
    const reports: ReportBlock[] = [];
    for (let offset = 4; offset < blocksEnd; offset += REPORT_BLOCK_LENGTH) {
      reports.push(ReportBlock.read(body, offset));
    }
    return new ReceiverReport({
      ssrc: body.readUInt32BE(0),
      reports,
      extension: body.subarray(blocksEnd),
      padding: frame.padding,
    });
  }

  /** Parses exactly one RR packet; throws RtcpParseError. */
  static deserialize(buffer: Buffer): ReceiverReport {
    return orThrow(ReceiverReport.decode(readSingleRtcpFrame(buffer, RtcpPacketType.RR)));
  }

  serialize(): Buffer {
    const blocksEnd = 4 + this.reports.length * REPORT_BLOCK_LENGTH;
    const buffer = allocRtcpPacket(
      this.reports.length,
      RtcpPacketType.RR,
      blocksEnd + this.extension.length,
      this.padding,
    );
    const at = RTCP_HEADER_LENGTH;
    buffer.writeUInt32BE(this.ssrc, at);
    this.reports.forEach((block, i) => {
      block.write(buffer, at + 4 + i * REPORT_BLOCK_LENGTH);
    });
    this.extension.copy(buffer, at + blocksEnd);
    return buffer;
  }

  toJSON(): ReceiverReportJson {
    return {
      type: this.type,
      ssrc: this.ssrc,
      reports: this.reports.map((block) => block.toJSON()),
      extension: this.extension.toString('hex'),
      paddingLength: this.padding.length,
    };
  }
}
