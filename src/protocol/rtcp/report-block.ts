/**
 * Reception report block (RFC 3550 §6.4.1), carried by SR and RR.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                 SSRC_n (SSRC of source n)                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | fraction lost |       cumulative number of packets lost       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           extended highest sequence number received           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      interarrival jitter                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         last SR (LSR)                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   delay since last SR (DLSR)                  |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *
 * The cumulative number of packets lost is a signed 24-bit two's-complement
 * number: duplicates can make it negative.
 */

export const REPORT_BLOCK_LENGTH = 24;
export const MAX_CUMULATIVE_LOST = 0x7fffff;
export const MIN_CUMULATIVE_LOST = -0x800000;

export interface ReportBlockFields {
  /** SSRC of the source this block reports on. */
  readonly ssrc: number;
  /** Fraction lost since the last report, in 1/256 units (0..255). */
  readonly fractionLost: number;
  /** Packets lost since the start, signed (-8388608..8388607). */
  readonly cumulativeLost: number;
  /** Extended highest sequence number received (cycles << 16 | seq). */
  readonly highestSequence: number;
  /** Interarrival jitter, in RTP timestamp units. */
  readonly jitter: number;
  /** LSR: the middle 32 bits of the last SR's NTP timestamp, or 0. */
  readonly lastSr: number;
  /** DLSR: delay since that SR, in 1/65536 seconds, or 0. */
  readonly delaySinceLastSr: number;
}

export type ReportBlockJson = ReportBlockFields;

export class ReportBlock implements ReportBlockFields {
  ssrc: number;
  fractionLost: number;
  cumulativeLost: number;
  highestSequence: number;
  jitter: number;
  lastSr: number;
  delaySinceLastSr: number;

  constructor(fields: ReportBlockFields) {
    this.ssrc = fields.ssrc;
    this.fractionLost = fields.fractionLost;
    this.cumulativeLost = fields.cumulativeLost;
    this.highestSequence = fields.highestSequence;
    this.jitter = fields.jitter;
    this.lastSr = fields.lastSr;
    this.delaySinceLastSr = fields.delaySinceLastSr;
  }

  /** Reads a block from 24 bytes at `offset`, which the caller has checked fit. */
  static read(buffer: Buffer, offset: number): ReportBlock {
    // Shift the 24-bit field to the top of an int32 and back: sign-extends.
    const cumulativeLost = (buffer.readUInt32BE(offset + 4) << 8) >> 8;
    return new ReportBlock({
      ssrc: buffer.readUInt32BE(offset),
      fractionLost: buffer.readUInt8(offset + 4),
      cumulativeLost,
      highestSequence: buffer.readUInt32BE(offset + 8),
      jitter: buffer.readUInt32BE(offset + 12),
      lastSr: buffer.readUInt32BE(offset + 16),
      delaySinceLastSr: buffer.readUInt32BE(offset + 20),
    });
  }

  /** Parses one 24-byte block. Throws RangeError for another length. */
  static deserialize(buffer: Buffer): ReportBlock {
    if (buffer.length !== REPORT_BLOCK_LENGTH) {
      throw new RangeError(`a report block is 24 bytes, not ${buffer.length}`);
    }
    return ReportBlock.read(buffer, 0);
  }

  /**
   * Writes the block at `offset`. A cumulative loss outside the signed 24-bit
   * range is clamped, as RFC 3550 §A.3 says; other fields out of range throw
   * RangeError.
   */
  write(buffer: Buffer, offset: number): void {
    if (!Number.isInteger(this.cumulativeLost)) {
      throw new RangeError(`cumulativeLost ${this.cumulativeLost} is not an integer`);
    }
    const lost = Math.min(MAX_CUMULATIVE_LOST, Math.max(MIN_CUMULATIVE_LOST, this.cumulativeLost));
    buffer.writeUInt32BE(this.ssrc, offset);
    buffer.writeUInt8(this.fractionLost, offset + 4);
    buffer.writeUIntBE(lost & 0xffffff, offset + 5, 3);
    buffer.writeUInt32BE(this.highestSequence, offset + 8);
    buffer.writeUInt32BE(this.jitter, offset + 12);
    buffer.writeUInt32BE(this.lastSr, offset + 16);
    buffer.writeUInt32BE(this.delaySinceLastSr, offset + 20);
  }

  serialize(): Buffer {
    const buffer = Buffer.alloc(REPORT_BLOCK_LENGTH);
    this.write(buffer, 0);
    return buffer;
  }

  toJSON(): ReportBlockJson {
    return {
      ssrc: this.ssrc,
      fractionLost: this.fractionLost,
      cumulativeLost: this.cumulativeLost,
      highestSequence: this.highestSequence,
      jitter: this.jitter,
      lastSr: this.lastSr,
      delaySinceLastSr: this.delaySinceLastSr,
    };
  }
}
