/**
 * Sender report, SR (RFC 3550 §6.4.1), packet type 200.
 *
 *         0                   1                   2                   3
 *         0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * header |V=2|P|    RC   |   PT=SR=200   |             length            |
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |                         SSRC of sender                        |
 *        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * sender |              NTP timestamp, most significant word             |
 * info   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |             NTP timestamp, least significant word             |
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |                         RTP timestamp                         |
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |                     sender's packet count                     |
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |                      sender's octet count                     |
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
import type { NtpTimestamp } from './ntp.js';
import {
  REPORT_BLOCK_LENGTH,
  ReportBlock,
  type ReportBlockFields,
  type ReportBlockJson,
} from './report-block.js';

const SENDER_INFO_END = 24; // SSRC + sender info, from the start of the body

export interface SenderReportFields {
  readonly ssrc: number;
  /** NTP timestamp, most significant word: seconds since 1900 (mod 2^32). */
  readonly ntpSeconds: number;
  /** NTP timestamp, least significant word: fraction of a second (2^-32 s). */
  readonly ntpFraction: number;
  readonly rtpTimestamp: number;
  readonly packetCount: number;
  readonly octetCount: number;
  readonly reports?: readonly ReportBlockFields[];
  /** Profile-specific extension bytes after the report blocks. */
  readonly extension?: Buffer;
  readonly padding?: Buffer;
}

export interface SenderReportJson {
  type: 'sr';
  ssrc: number;
  ntpSeconds: number;
  ntpFraction: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  reports: ReportBlockJson[];
  extension: string;
  paddingLength: number;
}

export class SenderReport {
  readonly type = 'sr';
  ssrc: number;
  ntpSeconds: number;
  ntpFraction: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  /** At most 31 (RC is 5 bits); send more in further RR packets. */
  reports: ReportBlock[];
  extension: Buffer;
  padding: Buffer;

  constructor(fields: SenderReportFields) {
    this.ssrc = fields.ssrc;
    this.ntpSeconds = fields.ntpSeconds;
    this.ntpFraction = fields.ntpFraction;
    this.rtpTimestamp = fields.rtpTimestamp;
    this.packetCount = fields.packetCount;
    this.octetCount = fields.octetCount;
    this.reports = (fields.reports ?? []).map((block) => new ReportBlock(block));
    this.extension = fields.extension ?? Buffer.alloc(0);
    this.padding = fields.padding ?? Buffer.alloc(0);
  }

  /** The NTP timestamp as one value, for `middle32` and `unixMsFromNtp`. */
  get ntpTimestamp(): NtpTimestamp {
    return { seconds: this.ntpSeconds, fraction: this.ntpFraction };
  }

  /** Decodes a framed SR; never throws. */
  static decode(frame: RtcpFrame): SenderReport | RtcpDropReason {
    const { body, count } = frame;
    if (body.length < SENDER_INFO_END) return 'runt';
    const blocksEnd = SENDER_INFO_END + count * REPORT_BLOCK_LENGTH;
    if (blocksEnd > body.length) return 'bad_count';
    const reports: ReportBlock[] = [];
    for (let offset = SENDER_INFO_END; offset < blocksEnd; offset += REPORT_BLOCK_LENGTH) {
      reports.push(ReportBlock.read(body, offset));
    }
    return new SenderReport({
      ssrc: body.readUInt32BE(0),
      ntpSeconds: body.readUInt32BE(4),
      ntpFraction: body.readUInt32BE(8),
      rtpTimestamp: body.readUInt32BE(12),
      packetCount: body.readUInt32BE(16),
      octetCount: body.readUInt32BE(20),
      reports,
      extension: body.subarray(blocksEnd),
      padding: frame.padding,
    });
  }

  /** Parses exactly one SR packet; throws RtcpParseError. */
  static deserialize(buffer: Buffer): SenderReport {
    return orThrow(SenderReport.decode(readSingleRtcpFrame(buffer, RtcpPacketType.SR)));
  }

  serialize(): Buffer {
    const blocksEnd = SENDER_INFO_END + this.reports.length * REPORT_BLOCK_LENGTH;
    const buffer = allocRtcpPacket(
      this.reports.length,
      RtcpPacketType.SR,
      blocksEnd + this.extension.length,
      this.padding,
    );
    const at = RTCP_HEADER_LENGTH;
    buffer.writeUInt32BE(this.ssrc, at);
    buffer.writeUInt32BE(this.ntpSeconds, at + 4);
    buffer.writeUInt32BE(this.ntpFraction, at + 8);
    buffer.writeUInt32BE(this.rtpTimestamp, at + 12);
    buffer.writeUInt32BE(this.packetCount, at + 16);
    buffer.writeUInt32BE(this.octetCount, at + 20);
    this.reports.forEach((block, i) => {
      block.write(buffer, at + SENDER_INFO_END + i * REPORT_BLOCK_LENGTH);
    });
    this.extension.copy(buffer, at + blocksEnd);
    return buffer;
  }

  toJSON(): SenderReportJson {
    return {
      type: this.type,
      ssrc: this.ssrc,
      ntpSeconds: this.ntpSeconds,
      ntpFraction: this.ntpFraction,
      rtpTimestamp: this.rtpTimestamp,
      packetCount: this.packetCount,
      octetCount: this.octetCount,
      reports: this.reports.map((block) => block.toJSON()),
      extension: this.extension.toString('hex'),
      paddingLength: this.padding.length,
    };
  }
}
