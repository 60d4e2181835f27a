/**
 * Random, valid RTCP packets for the fuzz and cross-check tests.
 */
import {
  App,
  Bye,
  FullIntraRequest,
  GenericNack,
  PayloadFeedback,
  PictureLossIndication,
  RawFeedback,
  ReceiverReport,
  rtcpPadding,
  SenderReport,
  SourceDescription,
  TransportFeedback,
  UnknownRtcpPacket,
  type ReportBlockFields,
  type RtcpPacket,
  type SdesItem,
} from '../../../src/protocol/rtcp/index.js';
import type { Xorshift32 } from './rtp-support.js';

export type RtcpKind =
  | 'sr'
  | 'rr'
  | 'sdes'
  | 'bye'
  | 'app'
  | 'nack'
  | 'rtpfb-raw'
  | 'pli'
  | 'fir'
  | 'psfb-raw'
  | 'unknown';

export const ALL_KINDS: readonly RtcpKind[] = [
  'sr',
  'rr',
  'sdes',
  'bye',
  'app',
  'nack',
  'rtpfb-raw',
  'pli',
  'fir',
  'psfb-raw',
  'unknown',
];

export function randomBlock(random: Xorshift32): ReportBlockFields {
  return {
    ssrc: random.next(),
    fractionLost: random.below(256),
    cumulativeLost: random.between(-0x800000, 0x7fffff),
    highestSequence: random.next(),
    jitter: random.next(),
    lastSr: random.next(),
    delaySinceLastSr: random.next(),
  };
}

function blocks(random: Xorshift32): ReportBlockFields[] {
  return Array.from({ length: random.chance(0.7) ? random.below(4) : random.below(32) }, () =>
    randomBlock(random),
  );
}

function words(random: Xorshift32, max: number): Buffer {
  return random.bytes(random.between(0, max) * 4);
}

/** ASCII text, as werift can only compare text it decodes and re-encodes unchanged. */
export function randomText(random: Xorshift32, maxLength: number): string {
  let text = '';
  const length = random.between(0, maxLength);
  for (let i = 0; i < length; i++) text += String.fromCharCode(random.between(0x21, 0x7e));
  return text;
}

function sdesItems(random: Xorshift32, asciiOnly: boolean): SdesItem[] {
  return Array.from({ length: random.between(0, 3) }, (_, i) => ({
    type: i === 0 ? 1 : random.between(1, 8),
    value: asciiOnly ? Buffer.from(randomText(random, 40)) : random.bytes(random.between(0, 60)),
  }));
}

/** One random packet of `kind`. `asciiOnly` keeps SDES text werift-comparable. */
export function randomRtcpPacket(
  random: Xorshift32,
  kind: RtcpKind,
  asciiOnly = false,
): RtcpPacket {
  switch (kind) {
    case 'sr':
      return new SenderReport({
        ssrc: random.next(),
        ntpSeconds: random.next(),
        ntpFraction: random.next(),
        rtpTimestamp: random.next(),
        packetCount: random.next(),
        octetCount: random.next(),
        reports: blocks(random),
        extension: random.chance(0.1) ? words(random, 3) : Buffer.alloc(0),
      });
    case 'rr':
      return new ReceiverReport({
        ssrc: random.next(),
        reports: blocks(random),
        extension: random.chance(0.1) ? words(random, 3) : Buffer.alloc(0),
      });
    case 'sdes':
      return new SourceDescription({
        chunks: Array.from({ length: random.between(0, 4) }, () => ({
          ssrc: random.next(),
          items: sdesItems(random, asciiOnly),
        })),
      });
    case 'bye':
      return new Bye({
        sources: Array.from({ length: random.between(0, 5) }, () => random.next()),
        reason: random.chance(0.5) ? random.bytes(random.between(0, 40)) : null,
      });
    case 'app':
      return new App({
        subtype: random.below(32),
        ssrc: random.next(),
        name: Array.from({ length: 4 }, () => String.fromCharCode(random.between(0x41, 0x5a))).join(
          '',
        ),
        data: words(random, 6),
      });
    case 'nack':
      return new TransportFeedback({
        senderSsrc: random.next(),
        mediaSsrc: random.next(),
        feedback: new GenericNack(
          Array.from({ length: random.between(1, 6) }, () => ({
            pid: random.below(0x10000),
            blp: random.below(0x10000),
          })),
        ),
      });
    case 'rtpfb-raw':
      return new TransportFeedback({
        senderSsrc: random.next(),
        mediaSsrc: random.next(),
        feedback: new RawFeedback(random.pick([0, 2, 3, 15, 31]), words(random, 6)),
      });
    case 'pli':
      return new PayloadFeedback({
        senderSsrc: random.next(),
        mediaSsrc: random.next(),
        feedback: new PictureLossIndication(),
      });
    case 'fir':
      return new PayloadFeedback({
        senderSsrc: random.next(),
        mediaSsrc: random.chance(0.5) ? 0 : random.next(),
        feedback: new FullIntraRequest(
          Array.from({ length: random.between(1, 4) }, () => ({
            ssrc: random.next(),
            sequenceNumber: random.below(256),
          })),
        ),
      });
    case 'psfb-raw':
      return new PayloadFeedback({
        senderSsrc: random.next(),
        mediaSsrc: random.next(),
        feedback: new RawFeedback(random.pick([0, 2, 3, 15, 31]), words(random, 6)),
      });
    case 'unknown':
      return new UnknownRtcpPacket({
        packetType: random.pick([192, 193, 195, 207, 208, 223]),
        count: random.below(32),
        body: words(random, 6),
      });
  }
}

/** A compound of 1..5 random packets; sometimes the last one padded. */
export function randomCompound(
  random: Xorshift32,
  kinds: readonly RtcpKind[] = ALL_KINDS,
  options: { padding?: boolean; asciiOnly?: boolean } = {},
): RtcpPacket[] {
  const packets = Array.from({ length: random.between(1, 5) }, () =>
    randomRtcpPacket(random, random.pick(kinds), options.asciiOnly ?? false),
  );
  const last = packets.at(-1);
  if ((options.padding ?? true) && last !== undefined && random.chance(0.2)) {
    // Padding in whole words keeps every type's body whole.
    last.padding = rtcpPadding(random.between(1, 8) * 4);
  }
  return packets;
}
