/**
 * Picture Loss Indication, PLI (RFC 4585 §6.3.1): PSFB (206) with FMT 1. It
 * has no FCI; the media source SSRC names the stream that needs a key frame.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P| FMT=1   |   PT=206      |          length=2             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  SSRC of packet sender                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  SSRC of media source                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import type { FeedbackMessage } from './feedback.js';

export const PLI_FMT = 1;

export interface PictureLossIndicationJson {
  kind: 'pli';
}

export class PictureLossIndication implements FeedbackMessage {
  readonly kind = 'pli';
  readonly fmt = PLI_FMT;
  readonly fciLength = 0;

  /** Decodes an FCI; 'malformed' unless it is empty. */
  static decodeFci(fci: Buffer): PictureLossIndication | 'malformed' {
    return fci.length === 0 ? new PictureLossIndication() : 'malformed';
  }

  writeFci(_buffer: Buffer, _offset: number): void {
    // PLI has no FCI.
  }

  toJSON(): PictureLossIndicationJson {
    return { kind: this.kind };
  }
}
