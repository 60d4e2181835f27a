/**
 * A feedback message whose FMT this codec does not decode (for example
 * transport-wide congestion control, RTPFB FMT 15, or REMB, PSFB FMT 15):
 * the FCI is kept as bytes so the packet re-serializes unchanged.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * :            Feedback Control Information (FCI), raw            :
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import type { FeedbackMessage } from './feedback.js';

export interface RawFeedbackJson {
  kind: 'raw';
  fmt: number;
  fci: string;
}

export class RawFeedback implements FeedbackMessage {
  readonly kind = 'raw';
  /** 0..31 */
  readonly fmt: number;
  readonly fci: Buffer;

  constructor(fmt: number, fci: Buffer) {
    this.fmt = fmt;
    this.fci = fci;
  }

  get fciLength(): number {
    return this.fci.length;
  }

  writeFci(buffer: Buffer, offset: number): void {
    this.fci.copy(buffer, offset);
  }

  toJSON(): RawFeedbackJson {
    return { kind: this.kind, fmt: this.fmt, fci: this.fci.toString('hex') };
  }
}
