/**
 * Compound RTCP (RFC 3550 §6.1): packets stacked back to back in one
 * datagram, each framed by its own common header. A regular compound starts
 * with SR or RR and carries an SDES CNAME; reduced-size RTCP (RFC 5506) may
 * send one feedback packet alone. Both are accepted here.
 *
 * +--------+---------+------+-----+     +--------+
 * | SR/RR  |  SDES   | RTPFB| BYE | ... |  last  | <- only the last may pad
 * +--------+---------+------+-----+     +--------+
 * |<------------------ one UDP datagram -------->|
 */
import { App } from './app.js';
import { Bye } from './bye.js';
import { readRtcpFrame, RtcpPacketType, type RtcpDropReason, type RtcpFrame } from './header.js';
import { PayloadFeedback } from './payload-feedback.js';
import { ReceiverReport } from './receiver-report.js';
import { SenderReport } from './sender-report.js';
import { SourceDescription } from './source-description.js';
import { TransportFeedback } from './transport-feedback.js';
import { UnknownRtcpPacket } from './unknown.js';

/** Any RTCP packet; narrow on `type`. */
export type RtcpPacket =
  | SenderReport
  | ReceiverReport
  | SourceDescription
  | Bye
  | App
  | TransportFeedback
  | PayloadFeedback
  | UnknownRtcpPacket;

export type RtcpParseResult =
  | { readonly ok: true; readonly packets: RtcpPacket[] }
  | { readonly ok: false; readonly reason: RtcpDropReason };

/** Decodes one framed packet by its type; never throws. */
export function decodeRtcpFrame(frame: RtcpFrame): RtcpPacket | RtcpDropReason {
  switch (frame.packetType) {
    case RtcpPacketType.SR:
      return SenderReport.decode(frame);
    case RtcpPacketType.RR:
      return ReceiverReport.decode(frame);
    case RtcpPacketType.SDES:
      return SourceDescription.decode(frame);
    case RtcpPacketType.BYE:
      return Bye.decode(frame);
    case RtcpPacketType.APP:
      return App.decode(frame);
    case RtcpPacketType.RTPFB:
      return TransportFeedback.decode(frame);
    case RtcpPacketType.PSFB:
      return PayloadFeedback.decode(frame);
    default:
      return UnknownRtcpPacket.decode(frame);
  }
}

/**
 * Parses a compound (or single, or reduced-size) RTCP packet. Never throws:
 * a buffer with any bad packet is refused whole, with the first reason
 * found. Decoded fields that hold bytes are views into `buffer`.
 */
export function parseRtcpCompound(buffer: Buffer): RtcpParseResult {
  if (buffer.length === 0) return { ok: false, reason: 'runt' };
  const packets: RtcpPacket[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    const frame = readRtcpFrame(buffer, offset);
    if (typeof frame === 'string') return { ok: false, reason: frame };
    const packet = decodeRtcpFrame(frame);
    if (typeof packet === 'string') return { ok: false, reason: packet };
    packets.push(packet);
    offset = frame.end;
  }
  return { ok: true, packets };
}

/**
 * Writes packets back to back. Throws RangeError for a packet the wire
 * cannot carry (see each codec's `serialize`).
 */
export function serializeRtcpCompound(packets: readonly RtcpPacket[]): Buffer {
  return Buffer.concat(packets.map((packet) => packet.serialize()));
}
