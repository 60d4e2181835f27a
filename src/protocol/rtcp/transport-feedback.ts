/**
 * Transport-layer feedback, RTPFB (RFC 4585 §6.2), packet type 205. FMT 1
 * (Generic NACK) is decoded; any other FMT is kept raw.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|   FMT   |   PT=205      |          length               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  SSRC of packet sender                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  SSRC of media source                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * :            Feedback Control Information (FCI)                 :
 * :       FMT 1: Generic NACK entries, see generic-nack.ts        :
 */
import { readFeedbackFrame, serializeFeedback } from './feedback.js';
import { GENERIC_NACK_FMT, GenericNack, type GenericNackJson } from './generic-nack.js';
import {
  orThrow,
  readSingleRtcpFrame,
  RtcpPacketType,
  type RtcpDropReason,
  type RtcpFrame,
} from './header.js';
import { RawFeedback, type RawFeedbackJson } from './raw-feedback.js';

export type TransportFeedbackMessage = GenericNack | RawFeedback;

export interface TransportFeedbackFields {
  readonly senderSsrc: number;
  readonly mediaSsrc: number;
  readonly feedback: TransportFeedbackMessage;
  readonly padding?: Buffer;
}

export interface TransportFeedbackJson {
  type: 'rtpfb';
  fmt: number;
  senderSsrc: number;
  mediaSsrc: number;
  feedback: GenericNackJson | RawFeedbackJson;
  paddingLength: number;
}

export class TransportFeedback {
  readonly type = 'rtpfb';
  senderSsrc: number;
  mediaSsrc: number;
  feedback: TransportFeedbackMessage;
  padding: Buffer;

  constructor(fields: TransportFeedbackFields) {
    this.senderSsrc = fields.senderSsrc;
    this.mediaSsrc = fields.mediaSsrc;
    this.feedback = fields.feedback;
    this.padding = fields.padding ?? Buffer.alloc(0);
  }

  /** A Generic NACK asking `mediaSsrc` to resend `lost` sequence numbers. */
  static nack(senderSsrc: number, mediaSsrc: number, lost: Iterable<number>): TransportFeedback {
    return new TransportFeedback({ senderSsrc, mediaSsrc, feedback: GenericNack.fromLost(lost) });
  }

  get fmt(): number {
    return this.feedback.fmt;
  }

  /** Decodes a framed RTPFB; never throws. */
  static decode(frame: RtcpFrame): TransportFeedback | RtcpDropReason {
    const fb = readFeedbackFrame(frame);
    if (typeof fb === 'string') return fb;
    const feedback =
      fb.fmt === GENERIC_NACK_FMT ? GenericNack.decodeFci(fb.fci) : new RawFeedback(fb.fmt, fb.fci);
    if (typeof feedback === 'string') return feedback;
    return new TransportFeedback({
      senderSsrc: fb.senderSsrc,
      mediaSsrc: fb.mediaSsrc,
      feedback,
      padding: frame.padding,
    });
  }

  /** Parses exactly one RTPFB packet; throws RtcpParseError. */
  static deserialize(buffer: Buffer): TransportFeedback {
    return orThrow(TransportFeedback.decode(readSingleRtcpFrame(buffer, RtcpPacketType.RTPFB)));
  }

  serialize(): Buffer {
    return serializeFeedback(
      RtcpPacketType.RTPFB,
      this.senderSsrc,
      this.mediaSsrc,
      this.feedback,
      this.padding,
    );
  }

  toJSON(): TransportFeedbackJson {
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
