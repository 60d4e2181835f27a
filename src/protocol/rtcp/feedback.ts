/**
 * The common layout of RTCP feedback messages (RFC 4585 §6.1), shared by
 * transport-layer (RTPFB, 205) and payload-specific (PSFB, 206) feedback.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|   FMT   |       PT      |          length               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  SSRC of packet sender                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  SSRC of media source                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * :            Feedback Control Information (FCI)                 :
 * :                                                               :
 */
import { allocRtcpPacket, RTCP_HEADER_LENGTH, type RtcpFrame } from './header.js';

/** What every FCI codec (NACK, PLI, FIR, raw) provides to its packet. */
export interface FeedbackMessage {
  readonly kind: string;
  /** The FMT field: which message this is within its packet type. */
  readonly fmt: number;
  readonly fciLength: number;
  writeFci(buffer: Buffer, offset: number): void;
  toJSON(): object;
}

export interface FeedbackFrame {
  readonly fmt: number;
  readonly senderSsrc: number;
  readonly mediaSsrc: number;
  readonly fci: Buffer;
}

/** Splits a framed feedback packet; 'runt' when the two SSRCs do not fit. */
export function readFeedbackFrame(frame: RtcpFrame): FeedbackFrame | 'runt' {
  const { body } = frame;
  if (body.length < 8) return 'runt';
  return {
    fmt: frame.count,
    senderSsrc: body.readUInt32BE(0),
    mediaSsrc: body.readUInt32BE(4),
    fci: body.subarray(8),
  };
}

export function serializeFeedback(
  packetType: number,
  senderSsrc: number,
  mediaSsrc: number,
  message: FeedbackMessage,
  padding: Buffer,
): Buffer {
  const buffer = allocRtcpPacket(message.fmt, packetType, 8 + message.fciLength, padding);
  buffer.writeUInt32BE(senderSsrc, RTCP_HEADER_LENGTH);
  buffer.writeUInt32BE(mediaSsrc, RTCP_HEADER_LENGTH + 4);
  message.writeFci(buffer, RTCP_HEADER_LENGTH + 8);
  return buffer;
}
