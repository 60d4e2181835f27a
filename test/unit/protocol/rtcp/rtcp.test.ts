/**
 * RTCP codecs on hand-built values: report blocks (signed 24-bit loss), the
 * relay's builders, NACK packing, BYE/SDES fill with padding, serialize
 * validation, and the NTP helpers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildReceiverReport,
  buildSdesCname,
  Bye,
  GenericNack,
  middle32,
  ntpFromUnixMs,
  parseRtcpCompound,
  PayloadFeedback,
  ReceiverReport,
  ReportBlock,
  roundTripSeconds,
  rtcpPadding,
  SdesItemType,
  SenderReport,
  serializeRtcpCompound,
  SourceDescription,
  TransportFeedback,
  unixMsFromNtp,
  App,
  UnknownRtcpPacket,
  type ReportBlockFields,
  type RtcpPacket,
} from '../../../../src/protocol/rtcp/index.js';

function block(overrides: Partial<ReportBlockFields> = {}): ReportBlockFields {
  return {
    ssrc: 0x11223344,
    fractionLost: 0,
    cumulativeLost: 0,
    highestSequence: 0,
    jitter: 0,
    lastSr: 0,
    delaySinceLastSr: 0,
    ...overrides,
  };
}

function reparse(packets: RtcpPacket[]): RtcpPacket[] {
  const result = parseRtcpCompound(serializeRtcpCompound(packets));
  assert.ok(result.ok, result.ok ? '' : result.reason);
  return result.packets;
}

describe('ReportBlock', () => {
  it('encodes and decodes cumulative loss as signed 24-bit two’s complement', () => {
    for (const lost of [0, 1, -1, -3, 0x7fffff, -0x800000, 12345, -12345]) {
      const wire = new ReportBlock(block({ cumulativeLost: lost })).serialize();
      assert.equal(ReportBlock.deserialize(wire).cumulativeLost, lost);
    }
    const minusOne = new ReportBlock(block({ cumulativeLost: -1 })).serialize();
    assert.equal(minusOne.subarray(5, 8).toString('hex'), 'ffffff');
    const minusThree = new ReportBlock(
      block({ fractionLost: 0x80, cumulativeLost: -3 }),
    ).serialize();
    assert.equal(minusThree.subarray(4, 8).toString('hex'), '80fffffd');
  });

  it('clamps loss outside the 24-bit range (RFC 3550 §A.3), refuses other bad fields', () => {
    const high = new ReportBlock(block({ cumulativeLost: 0x1000000 })).serialize();
    assert.equal(ReportBlock.deserialize(high).cumulativeLost, 0x7fffff);
    const low = new ReportBlock(block({ cumulativeLost: -0x1000000 })).serialize();
    assert.equal(ReportBlock.deserialize(low).cumulativeLost, -0x800000);
    assert.throws(() => new ReportBlock(block({ fractionLost: 256 })).serialize(), RangeError);
    assert.throws(() => new ReportBlock(block({ cumulativeLost: 1.5 })).serialize(), RangeError);
    assert.throws(() => new ReportBlock(block({ jitter: -1 })).serialize(), RangeError);
    assert.throws(() => ReportBlock.deserialize(Buffer.alloc(23)), RangeError);
  });

  it('keeps every unsigned 32-bit field unsigned', () => {
    const max = block({
      ssrc: 0xffffffff,
      highestSequence: 0xffffffff,
      jitter: 0xffffffff,
      lastSr: 0xffffffff,
      delaySinceLastSr: 0xffffffff,
      fractionLost: 255,
    });
    assert.deepEqual(ReportBlock.deserialize(new ReportBlock(max).serialize()).toJSON(), max);
  });
});

describe('buildReceiverReport and buildSdesCname', () => {
  it('build an RR + SDES CNAME compound that parses back', () => {
    const blocks = [
      block({
        ssrc: 1,
        fractionLost: 12,
        cumulativeLost: -2,
        highestSequence: 0x10005,
        jitter: 40,
      }),
      block({ ssrc: 2, lastSr: 0x81a01000, delaySinceLastSr: 0x8000 }),
    ];
    const compound = Buffer.concat([
      buildReceiverReport(0xcafe, blocks),
      buildSdesCname(0xcafe, 'relay-1@mesh'),
    ]);
    const result = parseRtcpCompound(compound);
    assert.ok(result.ok);
    const [rr, sdes] = result.packets;
    assert.ok(rr instanceof ReceiverReport);
    assert.equal(rr.ssrc, 0xcafe);
    assert.deepEqual(
      rr.reports.map((report) => report.toJSON()),
      blocks,
    );
    assert.ok(sdes instanceof SourceDescription);
    assert.equal(sdes.cnameOf(0xcafe), 'relay-1@mesh');
  });

  it('an RR with no blocks is 8 bytes; more than 31 blocks go in further RR packets', () => {
    assert.equal(buildReceiverReport(7, []).toString('hex'), '80c9000100000007');
    const many = Array.from({ length: 70 }, (_, i) => block({ ssrc: i + 1 }));
    const result = parseRtcpCompound(buildReceiverReport(7, many));
    assert.ok(result.ok);
    assert.deepEqual(
      result.packets.map((packet) =>
        packet instanceof ReceiverReport ? packet.reports.length : -1,
      ),
      [31, 31, 8],
    );
    const ssrcs = result.packets.flatMap((packet) =>
      packet instanceof ReceiverReport ? packet.reports.map((report) => report.ssrc) : [],
    );
    assert.deepEqual(
      ssrcs,
      many.map((b) => b.ssrc),
    );
  });

  it('SDES CNAME fill: every CNAME length ends on a word with at least one null', () => {
    for (let length = 0; length <= 255; length++) {
      const cname = 'c'.repeat(length);
      const wire = buildSdesCname(9, cname);
      assert.equal(wire.length % 4, 0);
      assert.equal(wire[wire.length - 1], 0, `length ${length}`);
      const sdes = SourceDescription.deserialize(wire);
      assert.equal(sdes.cnameOf(9), cname);
      assert.ok(sdes.serialize().equals(wire));
    }
    assert.throws(() => buildSdesCname(9, 'c'.repeat(256)), RangeError);
    assert.throws(() => buildSdesCname(9, 'é'.repeat(128)), RangeError); // 256 UTF-8 bytes
  });
});

describe('GenericNack', () => {
  it('packs lost sequence numbers into PID/BLP entries, across the wrap', () => {
    const nack = GenericNack.fromLost([100, 101, 103, 116, 117, 200, 65535, 0, 5]);
    assert.deepEqual(nack.entries, [
      { pid: 100, blp: (1 << 0) | (1 << 2) | (1 << 15) },
      { pid: 117, blp: 0 },
      { pid: 200, blp: 0 },
      { pid: 65535, blp: (1 << 0) | (1 << 5) },
    ]);
    assert.deepEqual(nack.lostSequenceNumbers(), [100, 101, 103, 116, 117, 200, 65535, 0, 5]);
    assert.deepEqual(GenericNack.fromLost([7, 7, 8]).entries, [{ pid: 7, blp: 1 }]);
  });

  it('TransportFeedback.nack builds a packet that parses back', () => {
    const [packet] = reparse([TransportFeedback.nack(1, 2, [10, 11, 12, 40])]);
    assert.ok(packet instanceof TransportFeedback);
    assert.ok(packet.feedback instanceof GenericNack);
    assert.deepEqual(packet.feedback.lostSequenceNumbers(), [10, 11, 12, 40]);
    assert.deepEqual(packet.toJSON().feedback, {
      kind: 'nack',
      entries: [
        { pid: 10, blp: 3 },
        { pid: 40, blp: 0 },
      ],
      lost: [10, 11, 12, 40],
    });
  });
});

describe('PLI and FIR builders', () => {
  it('PLI names the media source; FIR puts it in the entry and 0 in the header', () => {
    const pli = PayloadFeedback.pli(1, 0xabc).serialize();
    assert.equal(pli.toString('hex'), '81ce00020000000100000abc');
    const fir = PayloadFeedback.fir(1, 0xabc, 9).serialize();
    assert.equal(fir.toString('hex'), '84ce0004000000010000000000000abc09000000');
  });

  it('FIR keeps non-zero reserved bits so the packet re-serializes unchanged', () => {
    const wire = Buffer.from('84ce0004000000010000000000000abc09abcdef', 'hex');
    const fir = PayloadFeedback.deserialize(wire);
    assert.deepEqual(fir.toJSON().feedback, {
      kind: 'fir',
      entries: [{ ssrc: 0xabc, sequenceNumber: 9, reserved: 0xabcdef }],
    });
    assert.ok(fir.serialize().equals(wire));
  });
});

describe('BYE', () => {
  it('fills the reason to a word, with or without padding after it', () => {
    for (let length = 0; length <= 12; length++) {
      const reason = 'r'.repeat(length);
      const plain = new Bye({ sources: [1, 2], reason });
      const wire = plain.serialize();
      assert.equal(wire.length % 4, 0);
      assert.equal(Bye.deserialize(wire).reasonText, reason);
      for (const paddingLength of [1, 2, 3, 4, 8]) {
        const padded = new Bye({ sources: [1], reason, padding: rtcpPadding(paddingLength) });
        const paddedWire = padded.serialize();
        const back = Bye.deserialize(paddedWire);
        assert.equal(back.reasonText, reason, `reason ${length}, padding ${paddingLength}`);
        assert.ok(back.serialize().equals(paddedWire));
      }
    }
  });

  it('without a reason is SSRCs only; with an empty reason, one length byte and fill', () => {
    assert.equal(new Bye({ sources: [5] }).serialize().toString('hex'), '81cb000100000005');
    const empty = new Bye({ sources: [5], reason: '' }).serialize();
    assert.equal(empty.toString('hex'), '81cb00020000000500000000');
    assert.equal(Bye.deserialize(empty).reasonText, '');
    assert.equal(Bye.deserialize(new Bye({ sources: [] }).serialize()).sources.length, 0);
  });
});

describe('serialize refuses what the wire cannot carry', () => {
  it('counts, names, padding, item lengths', () => {
    const reports = Array.from({ length: 32 }, () => block());
    assert.throws(() => new ReceiverReport({ ssrc: 1, reports }).serialize(), RangeError);
    assert.throws(
      () =>
        new SenderReport({
          ssrc: 1,
          ntpSeconds: 2 ** 32,
          ntpFraction: 0,
          rtpTimestamp: 0,
          packetCount: 0,
          octetCount: 0,
        }).serialize(),
      RangeError,
    );
    assert.throws(() => new App({ subtype: 0, ssrc: 1, name: 'TOOLONG' }).serialize(), RangeError);
    assert.throws(() => new App({ subtype: 32, ssrc: 1, name: 'ABCD' }).serialize(), RangeError);
    assert.throws(
      () => new App({ subtype: 0, ssrc: 1, name: 'ABCD', data: Buffer.alloc(3) }).serialize(),
      RangeError,
    );
    assert.throws(
      () => new ReceiverReport({ ssrc: 1, padding: Buffer.from([0, 0, 0, 3]) }).serialize(),
      RangeError,
    );
    assert.throws(
      () =>
        new SourceDescription({
          chunks: [{ ssrc: 1, items: [{ type: SdesItemType.NOTE, value: Buffer.alloc(256) }] }],
        }).serialize(),
      RangeError,
    );
    assert.throws(
      () =>
        new SourceDescription({
          chunks: [{ ssrc: 1, items: [{ type: 0, value: Buffer.alloc(1) }] }],
        }).serialize(),
      RangeError,
    );
    assert.throws(
      () => new Bye({ sources: [1], reason: Buffer.alloc(256) }).serialize(),
      RangeError,
    );
    assert.throws(
      () => new UnknownRtcpPacket({ packetType: 256, count: 0, body: Buffer.alloc(0) }).serialize(),
      RangeError,
    );
    assert.throws(() => rtcpPadding(0), RangeError);
  });
});

describe('parseRtcpCompound framing', () => {
  it('accepts an empty SDES and an unknown type with any count', () => {
    const sdes = new SourceDescription({ chunks: [] }).serialize();
    assert.equal(sdes.toString('hex'), '80ca0000');
    const unknown = new UnknownRtcpPacket({ packetType: 195, count: 31, body: Buffer.alloc(4, 1) });
    const packets = reparse([new SourceDescription({ chunks: [] }), unknown]);
    assert.deepEqual(
      packets.map((packet) => packet.type),
      ['sdes', 'unknown'],
    );
  });

  it('keeps profile-specific extensions of SR and RR', () => {
    const extension = Buffer.from('0102030405060708', 'hex');
    const [rr] = reparse([new ReceiverReport({ ssrc: 1, reports: [block()], extension })]);
    assert.ok(rr instanceof ReceiverReport);
    assert.ok(rr.extension.equals(extension));
    assert.equal(rr.reports.length, 1);
  });

  it('refuses padding that eats into the common header', () => {
    // RR, length 1, P=1, padding count 5: more than the 4 body bytes.
    assert.deepEqual(parseRtcpCompound(Buffer.from('a0c9000100000005', 'hex')), {
      ok: false,
      reason: 'bad_padding',
    });
    // Padding count 4: the whole body is padding, so the RR has no SSRC.
    assert.deepEqual(parseRtcpCompound(Buffer.from('a0c9000100000004', 'hex')), {
      ok: false,
      reason: 'runt',
    });
  });
});

describe('NTP helpers', () => {
  it('ntpFromUnixMs: seconds since 1900 and a 32-bit fraction', () => {
    assert.deepEqual(ntpFromUnixMs(0), { seconds: 2_208_988_800, fraction: 0 });
    assert.deepEqual(ntpFromUnixMs(Date.UTC(2026, 10, 26, 10, 0, 0, 250)), {
      seconds: 0xeeb281a0,
      fraction: 0x40000000,
    });
    assert.equal(ntpFromUnixMs(500).fraction, 0x80000000);
    assert.equal(ntpFromUnixMs(999.9999999).fraction <= 0xffffffff, true);
    // Era 1 starts 2036-02-07T06:28:16Z: seconds wrap to 0.
    assert.deepEqual(ntpFromUnixMs(2_085_978_496_000), { seconds: 0, fraction: 0 });
  });

  it('unixMsFromNtp inverts it to well under a millisecond, across the 2036 wrap', () => {
    for (const ms of [
      0,
      1_700_000_000_123,
      Date.UTC(2026, 10, 26),
      2_085_978_496_500,
      2_100_000_000_000,
    ]) {
      assert.ok(Math.abs(unixMsFromNtp(ntpFromUnixMs(ms)) - ms) < 0.001, String(ms));
    }
  });

  it('middle32 takes the low 16 bits of seconds and the high 16 of fraction', () => {
    assert.equal(middle32({ seconds: 0xeeb281a0, fraction: 0x40000000 }), 0x81a04000);
    assert.equal(middle32({ seconds: 0xffffffff, fraction: 0xffffffff }), 0xffffffff);
    assert.equal(middle32(ntpFromUnixMs(Date.UTC(2026, 10, 26, 10, 0, 0) + 62.5)), 0x81a01000);
  });

  it('roundTripSeconds: A - LSR - DLSR, null without an LSR', () => {
    const sent = ntpFromUnixMs(Date.UTC(2026, 10, 26, 10, 0, 0, 0));
    const arrival = ntpFromUnixMs(Date.UTC(2026, 10, 26, 10, 0, 1, 250));
    // The receiver held the SR for 1 s before reporting: RTT 0.25 s.
    const rtt = roundTripSeconds(arrival, middle32(sent), 65536);
    assert.ok(rtt !== null && Math.abs(rtt - 0.25) < 1 / 65536);
    assert.equal(roundTripSeconds(arrival, 0, 0), null);
    // Skew shows as a small negative number, not ~18 hours.
    const skewed = roundTripSeconds(sent, middle32(arrival), 0);
    assert.ok(skewed !== null && skewed < 0 && skewed > -2);
  });
});
