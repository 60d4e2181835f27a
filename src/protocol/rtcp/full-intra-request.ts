/**
 * Full Intra Request, FIR (RFC 5104 §4.3.1): the FCI of PSFB (206) with
 * FMT 4. One entry per media sender asked for a decoder refresh point; the
 * sequence number lets the sender tell a repeated request from a new one.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                              SSRC                             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Seq nr.       |    Reserved                                   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * :                        ... more entries                       :
 *
 * RFC 5104 has receivers ignore the reserved bits, so a non-zero value does
 * not refuse the packet; it is kept, so the packet re-serializes unchanged.
 */
import type { FeedbackMessage } from './feedback.js';

export const FIR_FMT = 4;

export interface FirEntry {
  readonly ssrc: number;
  /** 0..255 */
  readonly sequenceNumber: number;
  /** The 24 reserved bits when a sender set them (else absent, meaning 0). */
  readonly reserved?: number;
}

export interface FullIntraRequestJson {
  kind: 'fir';
  entries: FirEntry[];
}

export class FullIntraRequest implements FeedbackMessage {
  readonly kind = 'fir';
  readonly fmt = FIR_FMT;
  entries: FirEntry[];

  constructor(entries: readonly FirEntry[]) {
    this.entries = entries.map(copyEntry);
  }

  /** Decodes an FCI; 'malformed' when it is not whole 8-byte entries. */
  static decodeFci(fci: Buffer): FullIntraRequest | 'malformed' {
    if (fci.length % 8 !== 0) return 'malformed';
    const entries: FirEntry[] = [];
    for (let offset = 0; offset < fci.length; offset += 8) {
      const ssrc = fci.readUInt32BE(offset);
      const sequenceNumber = fci.readUInt8(offset + 4);
      const reserved = fci.readUIntBE(offset + 5, 3);
      entries.push(reserved === 0 ? { ssrc, sequenceNumber } : { ssrc, sequenceNumber, reserved });
    }
    return new FullIntraRequest(entries);
  }

  get fciLength(): number {
    return this.entries.length * 8;
  }

  writeFci(buffer: Buffer, offset: number): void {
    this.entries.forEach((entry, i) => {
      buffer.writeUInt32BE(entry.ssrc, offset + i * 8);
      buffer.writeUInt8(entry.sequenceNumber, offset + i * 8 + 4);
      buffer.writeUIntBE(entry.reserved ?? 0, offset + i * 8 + 5, 3);
    });
  }

  toJSON(): FullIntraRequestJson {
    return { kind: this.kind, entries: this.entries.map(copyEntry) };
  }
}

function copyEntry(entry: FirEntry): FirEntry {
  return entry.reserved === undefined || entry.reserved === 0
    ? { ssrc: entry.ssrc, sequenceNumber: entry.sequenceNumber }
    : { ssrc: entry.ssrc, sequenceNumber: entry.sequenceNumber, reserved: entry.reserved };
}
