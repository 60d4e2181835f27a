/**
 * Payload-specific feedback, PSFB (RFC 4585 §6.3), packet type 206. FMT 1
 * (PLI) and FMT 4 (FIR, RFC 5104) are decoded; any other FMT (REMB, SLI,
 * RPSI, ...) is kept raw.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|   FMT   |   PT=206      |          length               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  SSRC of packet sender                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  SSRC of media source                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * :            Feedback Control Information (FCI)                 :
 * :  FMT 1: none (picture-loss-indication.ts)                     :
 * :  FMT 4: FIR entries (full-intra-request.ts)                   :
 */
import { readFeedbackFrame, serializeFeedback } from './feedback.js';
import { FIR_FMT, FullIntraRequest, type FullIntraRequestJson } from './full-intra-request.js';
import {
  orThrow,
  readSingleRtcpFrame,
  RtcpPacketType,
  type RtcpDropReason,
  type RtcpFrame,
} from './header.js';
import {
  PictureLossIndication,
  PLI_FMT,
  type PictureLossIndicationJson,
} from './picture-loss-indication.js';
import { RawFeedback, type RawFeedbackJson } from './raw-feedback.js';

export type PayloadFeedbackMessage = PictureLossIndication | FullIntraRequest | RawFeedback;

export interface PayloadFeedbackFields {
  readonly senderSsrc: number;
  readonly mediaSsrc: number;
  readonly feedback: PayloadFeedbackMessage;
  readonly padding?: Buffer;
}

export interface PayloadFeedbackJson {
  type: 'psfb';
  fmt: number;
  senderSsrc: number;
  mediaSsrc: number;
  feedback: PictureLossIndicationJson | FullIntraRequestJson | RawFeedbackJson;
  paddingLength: number;
}

export class PayloadFeedback {
  readonly type = 'psfb';
  senderSsrc: number;
  mediaSsrc: number;
  feedback: PayloadFeedbackMessage;
  padding: Buffer;

  constructor(fields: PayloadFeedbackFields) {
    this.senderSsrc = fields.senderSsrc;
    this.mediaSsrc = fields.mediaSsrc;
    this.feedback = fields.feedback;
    this.padding = fields.padding ?? Buffer.alloc(0);
  }

  /** A PLI asking `mediaSsrc` for a key frame. */
  static pli(senderSsrc: number, mediaSsrc: number): PayloadFeedback {
    return new PayloadFeedback({ senderSsrc, mediaSsrc, feedback: new PictureLossIndication() });
  }

  /**
   * A FIR asking `mediaSsrc` for a decoder refresh point. RFC 5104 §4.3.1.2
   * sets the header's media source SSRC to 0; the entry names the stream.
   */
  static fir(senderSsrc: number, mediaSsrc: number, sequenceNumber: number): PayloadFeedback {
    return new PayloadFeedback({
      senderSsrc,
      mediaSsrc: 0,
      feedback: new FullIntraRequest([{ ssrc: mediaSsrc, sequenceNumber }]),
    });
  }

  get fmt(): number {
    return this.feedback.fmt;
  }

  /** Decodes a framed PSFB; never throws. */
  static decode(frame: RtcpFrame): PayloadFeedback | RtcpDropReason {
    const fb = readFeedbackFrame(frame);
    if (typeof fb === 'string') return fb;
    let feedback: PayloadFeedbackMessage | 'malformed';
    if (fb.fmt === PLI_FMT) feedback = PictureLossIndication.decodeFci(fb.fci);
    else if (fb.fmt === FIR_FMT) feedback = FullIntraRequest.decodeFci(fb.fci);
    else feedback = new RawFeedback(fb.fmt, fb.fci);
    if (typeof feedback === 'string') return feedback;
    return new PayloadFeedback({
      senderSsrc: fb.senderSsrc,
      mediaSsrc: fb.mediaSsrc,
      feedback,
      padding: frame.padding,
    });
  }

  /** Parses exactly one PSFB packet; throws RtcpParseError. */
  static deserialize(buffer: Buffer): PayloadFeedback {
    return orThrow(PayloadFeedback.decode(readSingleRtcpFrame(buffer, RtcpPacketType.PSFB)));
  }

  serialize(): Buffer {
    return serializeFeedback(
      RtcpPacketType.PSFB,
      this.senderSsrc,
      this.mediaSsrc,
      this.feedback,
      this.padding,
    );
  }

  toJSON(): PayloadFeedbackJson {
    return {
      type: this.type,
      fmt: this.fmt,
      senderSsrc: this.senderSsrc,
      mediaSsrc: this.mediaSsrc,
      feedback: this.feedback.toJSON(),
      paddingLength: this.padding.length,
    };
  }
}
