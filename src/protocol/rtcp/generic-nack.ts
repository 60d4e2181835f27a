/**
 * Generic NACK (RFC 4585 §6.2.1): the FCI of RTPFB (205) with FMT 1. Each
 * entry names a lost packet (PID) and a bitmask of the 16 that follow it
 * (BLP: bit i set means PID + i + 1 was lost too).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |            PID                |             BLP               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * :                        ... more entries                       :
 */
import type { FeedbackMessage } from './feedback.js';

export const GENERIC_NACK_FMT = 1;

export interface NackEntry {
  /** Sequence number of a lost packet. */
  readonly pid: number;
  /** Bitmask of following lost packets. */
  readonly blp: number;
}

export interface GenericNackJson {
  kind: 'nack';
  entries: NackEntry[];
  lost: number[];
}

export class GenericNack implements FeedbackMessage {
  readonly kind = 'nack';
  readonly fmt = GENERIC_NACK_FMT;
  entries: NackEntry[];

  constructor(entries: readonly NackEntry[]) {
    this.entries = entries.map((entry) => ({ pid: entry.pid, blp: entry.blp }));
  }

  /**
   * Packs lost sequence numbers, given in sending order (wrapping past 65535
   * is fine), into as few entries as that order allows.
   */
  static fromLost(sequenceNumbers: Iterable<number>): GenericNack {
    const entries: { pid: number; blp: number }[] = [];
    let last: { pid: number; blp: number } | undefined;
    for (const raw of sequenceNumbers) {
      const seq = raw & 0xffff;
      const distance = last === undefined ? 0 : (seq - last.pid) & 0xffff;
      if (last !== undefined && distance >= 1 && distance <= 16) {
        last.blp |= 1 << (distance - 1);
      } else if (last === undefined || distance !== 0) {
        last = { pid: seq, blp: 0 };
        entries.push(last);
      }
    }
    return new GenericNack(entries);
  }

  /** Decodes an FCI; 'malformed' when it is not whole 4-byte entries. */
  static decodeFci(fci: Buffer): GenericNack | 'malformed' {
    if (fci.length % 4 !== 0) return 'malformed';
    const entries: NackEntry[] = [];
    for (let offset = 0; offset < fci.length; offset += 4) {
      entries.push({ pid: fci.readUInt16BE(offset), blp: fci.readUInt16BE(offset + 2) });
    }
    return new GenericNack(entries);
  }

  /** Every sequence number the entries name as lost, in entry order. */
  lostSequenceNumbers(): number[] {
    const lost: number[] = [];
    for (const { pid, blp } of this.entries) {
      lost.push(pid);
      for (let bit = 0; bit < 16; bit++) {
        if ((blp >>> bit) & 1) lost.push((pid + bit + 1) & 0xffff);
      }
    }
    return lost;
  }

  get fciLength(): number {
    return this.entries.length * 4;
  }

  writeFci(buffer: Buffer, offset: number): void {
    this.entries.forEach((entry, i) => {
      buffer.writeUInt16BE(entry.pid, offset + i * 4);
      buffer.writeUInt16BE(entry.blp, offset + i * 4 + 2);
    });
  }

  toJSON(): GenericNackJson {
    return {
      kind: this.kind,
      entries: this.entries.map((entry) => ({ pid: entry.pid, blp: entry.blp })),
      lost: this.lostSequenceNumbers(),
    };
  }
}
