/**
 * Cross-check with werift's RTCP codec (a real peer's implementation): for a
 * few hundred random compounds, each side reads what the other wrote and
 * both see the same fields.
 *
 * werift differs from RFC 3550/4585/5104 in ways that shape this test; the
 * last suite pins them down, since a werift peer sends what it writes:
 * - SDES, Generic NACK and FIR decoding run to the end of the datagram, not
 *   of their packet, so those go last in the compounds werift reads here;
 * - cumulative loss is read unsigned (24-bit) and NACK sequence numbers do
 *   not wrap at 65536;
 * - a FIR is written with its length one word short, and an SDES chunk whose
 *   items end on a word boundary without its END octet: RFC-conformant
 *   parsers (this one, libwebrtc's) refuse both.
 * - BYE and APP are not decoded at all, so they are left out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  GenericNack as WeriftGenericNack,
  PictureLossIndication as WeriftPli,
  RtcpPacketConverter,
  RtcpPayloadSpecificFeedback,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  type RtcpPacket as WeriftRtcpPacket,
} from 'werift';
import {
  FullIntraRequest,
  GenericNack,
  parseRtcpCompound,
  PayloadFeedback,
  PictureLossIndication,
  ReceiverReport,
  SenderReport,
  serializeRtcpCompound,
  SourceDescription,
  TransportFeedback,
  type ReportBlock,
  type RtcpPacket,
} from '../../../../src/protocol/rtcp/index.js';
import { fuzzSeed, Xorshift32 } from '../../../helpers/protocol/rtp-support.js';
import {
  randomBlock,
  randomCompound,
  randomText,
  type RtcpKind,
} from '../../../helpers/protocol/rtcp-generators.js';

const COMPOUNDS = 300;

function assertSameBlocks(ours: readonly ReportBlock[], theirs: readonly RtcpReceiverInfo[]): void {
  assert.deepEqual(
    theirs.map((block) => ({
      ssrc: block.ssrc,
      fractionLost: block.fractionLost,
      // werift reads the signed 24-bit field unsigned.
      cumulativeLost: block.packetsLost,
      highestSequence: block.highestSequence,
      jitter: block.jitter,
      lastSr: block.lsr,
      delaySinceLastSr: block.dlsr,
    })),
    ours.map((block) => ({ ...block.toJSON(), cumulativeLost: block.cumulativeLost & 0xffffff })),
  );
}

function assertSame(ours: RtcpPacket, theirs: WeriftRtcpPacket | undefined): void {
  if (ours instanceof SenderReport) {
    assert.ok(theirs instanceof RtcpSrPacket);
    assert.equal(theirs.ssrc, ours.ssrc);
    assert.equal(
      theirs.senderInfo.ntpTimestamp,
      (BigInt(ours.ntpSeconds) << 32n) | BigInt(ours.ntpFraction),
    );
    assert.equal(theirs.senderInfo.rtpTimestamp, ours.rtpTimestamp);
    assert.equal(theirs.senderInfo.packetCount, ours.packetCount);
    assert.equal(theirs.senderInfo.octetCount, ours.octetCount);
    assertSameBlocks(ours.reports, theirs.reports);
  } else if (ours instanceof ReceiverReport) {
    assert.ok(theirs instanceof RtcpRrPacket);
    assert.equal(theirs.ssrc, ours.ssrc);
    assertSameBlocks(ours.reports, theirs.reports);
  } else if (ours instanceof SourceDescription) {
    assert.ok(theirs instanceof RtcpSourceDescriptionPacket);
    assert.deepEqual(
      theirs.chunks.map((chunk) => ({
        ssrc: chunk.source,
        items: chunk.items.map((item) => ({ type: item.type, text: item.text })),
      })),
      ours.toJSON().chunks,
    );
  } else if (ours instanceof TransportFeedback && ours.feedback instanceof GenericNack) {
    assert.ok(theirs instanceof RtcpTransportLayerFeedback);
    const nack = theirs.feedback;
    assert.ok(nack instanceof WeriftGenericNack);
    assert.equal(nack.senderSsrc, ours.senderSsrc);
    assert.equal(nack.mediaSourceSsrc, ours.mediaSsrc);
    // werift does not wrap PID + n past 65535.
    assert.deepEqual(
      nack.lost.map((seq) => seq & 0xffff),
      ours.feedback.lostSequenceNumbers(),
    );
  } else if (ours instanceof PayloadFeedback && ours.feedback instanceof PictureLossIndication) {
    assert.ok(theirs instanceof RtcpPayloadSpecificFeedback);
    assert.ok(theirs.feedback instanceof WeriftPli);
    assert.equal(theirs.feedback.senderSsrc, ours.senderSsrc);
    assert.equal(theirs.feedback.mediaSsrc, ours.mediaSsrc);
  } else if (ours instanceof PayloadFeedback && ours.feedback instanceof FullIntraRequest) {
    assert.ok(theirs instanceof RtcpPayloadSpecificFeedback);
    const fir = theirs.feedback;
    assert.ok('fir' in fir, 'werift did not read a FIR');
    assert.equal(fir.senderSsrc, ours.senderSsrc);
    assert.equal(fir.mediaSsrc, ours.mediaSsrc);
    assert.deepEqual(fir.fir, ours.feedback.entries);
  } else {
    assert.fail(`no werift comparison for ${ours.type}`);
  }
}

/** The kinds werift decodes within their own packet, so they may come first. */
const SAFE_FIRST: readonly RtcpKind[] = ['sr', 'rr', 'pli'];
const LAST: readonly RtcpKind[] = ['sr', 'rr', 'sdes', 'nack', 'pli', 'fir'];

describe('RTCP cross-check with werift', () => {
  it('werift reads what serializeRtcpCompound writes', (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`seed ${seed}`);
    const random = new Xorshift32(seed);
    for (let i = 0; i < COMPOUNDS; i++) {
      const packets = [
        ...randomCompound(random, SAFE_FIRST, { padding: false }).slice(0, random.below(3)),
        ...randomCompound(random, LAST, { asciiOnly: true }).slice(-1),
      ];
      const wire = serializeRtcpCompound(packets);
      try {
        assert.ok(parseRtcpCompound(wire).ok);
        const theirs = RtcpPacketConverter.deSerialize(wire);
        assert.equal(theirs.length, packets.length);
        packets.forEach((packet, index) => {
          assertSame(packet, theirs[index]);
        });
      } catch (error) {
        throw new Error(`seed ${seed}, compound ${i}: ${wire.toString('hex')}`, { cause: error });
      }
    }
  });

  it('parseRtcpCompound reads what werift writes', (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`seed ${seed}`);
    const random = new Xorshift32(seed);
    const receiverInfo = (): RtcpReceiverInfo => {
      const block = randomBlock(random);
      return new RtcpReceiverInfo({
        ssrc: block.ssrc,
        fractionLost: block.fractionLost,
        packetsLost: block.cumulativeLost & 0xffffff, // werift cannot write negatives
        highestSequence: block.highestSequence,
        jitter: block.jitter,
        lsr: block.lastSr,
        dlsr: block.delaySinceLastSr,
      });
    };
    const cname = (): string => {
      // werift omits END when a chunk's items end on a word (see the last suite).
      let text = randomText(random, 60);
      if ((2 + text.length) % 4 === 0) text += 'x';
      return text;
    };
    for (let i = 0; i < COMPOUNDS; i++) {
      const rr = new RtcpRrPacket({
        ssrc: random.next(),
        reports: Array.from({ length: random.below(4) }, receiverInfo),
      });
      const sr = new RtcpSrPacket({
        ssrc: random.next(),
        senderInfo: new RtcpSenderInfo({
          ntpTimestamp: (BigInt(random.next()) << 32n) | BigInt(random.next()),
          rtpTimestamp: random.next(),
          packetCount: random.next(),
          octetCount: random.next(),
        }),
        reports: Array.from({ length: random.below(4) }, receiverInfo),
      });
      const sdes = new RtcpSourceDescriptionPacket({
        chunks: [
          new SourceDescriptionChunk({
            source: random.next(),
            items: [new SourceDescriptionItem({ type: 1, text: cname() })],
          }),
        ],
      });
      const start = random.below(0x10000 - 700); // werift cannot write a NACK across the wrap
      const lost = [
        start,
        ...Array.from({ length: random.below(40) }, () => start + random.below(600)),
      ];
      const nack = new RtcpTransportLayerFeedback({
        feedback: new WeriftGenericNack({
          senderSsrc: random.next(),
          mediaSourceSsrc: random.next(),
          lost: [...new Set(lost)].sort((a, b) => a - b),
        }),
      });
      const pli = new RtcpPayloadSpecificFeedback({
        feedback: new WeriftPli({ senderSsrc: random.next(), mediaSsrc: random.next() }),
      });
      const theirs: WeriftRtcpPacket[] = [
        random.pick([sr, rr]),
        pli,
        random.pick([sdes, nack, pli]),
      ];
      const wire = Buffer.concat(theirs.map((packet) => packet.serialize()));
      try {
        const result = parseRtcpCompound(wire);
        assert.ok(result.ok, result.ok ? '' : result.reason);
        assert.equal(result.packets.length, theirs.length);
        result.packets.forEach((packet, index) => {
          assertSame(packet, theirs[index]);
        });
        assert.ok(serializeRtcpCompound(result.packets).equals(wire));
      } catch (error) {
        throw new Error(`seed ${seed}, compound ${i}: ${wire.toString('hex')}`, { cause: error });
      }
    }
  });
});

describe('werift interop: where it departs from the RFCs (werift 0.24)', () => {
  it('writes a FIR with its length one word short: refused as malformed', () => {
    const parsed = RtcpPacketConverter.deSerialize(
      Buffer.from('84ce0004000000010000000000000abc09000000', 'hex'),
    );
    const feedback =
      parsed[0] instanceof RtcpPayloadSpecificFeedback ? parsed[0].feedback : undefined;
    assert.ok(feedback && 'fir' in feedback);
    const wire = new RtcpPayloadSpecificFeedback({ feedback }).serialize();
    assert.equal(wire.readUInt16BE(2), 3); // 20 bytes, so it should say 4
    assert.deepEqual(parseRtcpCompound(wire), { ok: false, reason: 'malformed' });
  });

  it('writes no END octet when an SDES chunk ends on a word: refused as malformed', () => {
    const wire = new RtcpSourceDescriptionPacket({
      chunks: [
        new SourceDescriptionChunk({
          source: 9,
          items: [new SourceDescriptionItem({ type: 1, text: 'ab' })],
        }),
      ],
    }).serialize();
    assert.equal(wire.toString('hex'), '81ca00020000000901026162');
    assert.deepEqual(parseRtcpCompound(wire), { ok: false, reason: 'malformed' });
    // werift's own CNAME is a 36-character UUID: 4 + 2 + 36 leaves room for END.
  });

  it('reads SDES and NACK on into the next packet of the compound', () => {
    const sdesThenPli = serializeRtcpCompound([
      SourceDescription.cname(1, 'abc'),
      PayloadFeedback.pli(1, 2),
    ]);
    const theirs = RtcpPacketConverter.deSerialize(sdesThenPli);
    assert.ok(theirs[0] instanceof RtcpSourceDescriptionPacket);
    assert.ok(theirs[0].chunks.length > 1); // the PLI's bytes read as further chunks

    const nackThenPli = serializeRtcpCompound([
      TransportFeedback.nack(1, 2, [100]),
      PayloadFeedback.pli(1, 2),
    ]);
    const theirNack = RtcpPacketConverter.deSerialize(nackThenPli)[0];
    assert.ok(theirNack instanceof RtcpTransportLayerFeedback);
    assert.ok(theirNack.feedback instanceof WeriftGenericNack);
    assert.ok(theirNack.feedback.lost.length > 1); // the PLI's bytes read as PID/BLP entries
    const ourNack = parseRtcpCompound(nackThenPli);
    assert.ok(ourNack.ok && ourNack.packets[0] instanceof TransportFeedback);
    assert.ok(ourNack.packets[0].feedback instanceof GenericNack);
    assert.deepEqual(ourNack.packets[0].feedback.lostSequenceNumbers(), [100]);

    const ours = parseRtcpCompound(sdesThenPli);
    assert.ok(ours.ok);
    assert.deepEqual(
      ours.packets.map((packet) => packet.type),
      ['sdes', 'psfb'],
    );
  });
});
