/**
 * RTCP fixtures: every valid one parses and round-trips byte for byte; every
 * invalid one is refused with the reason its name gives; the fields of the
 * real-shaped ones are what their annotations in fixtures.ts say.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  App,
  Bye,
  decodeRtcpFrame,
  FullIntraRequest,
  GenericNack,
  parseRtcpCompound,
  PayloadFeedback,
  PictureLossIndication,
  RawFeedback,
  readRtcpFrame,
  ReceiverReport,
  RtcpParseError,
  SenderReport,
  serializeRtcpCompound,
  SourceDescription,
  TransportFeedback,
  UnknownRtcpPacket,
  type RtcpPacket,
} from '../../../../src/protocol/rtcp/index.js';
import { expectedReason, readFixtures } from '../../../helpers/protocol/rtp-support.js';
import { rtcpFixtures } from '../../../helpers/protocol/rtcp-fixtures.js';

const fixtures = readFixtures('rtcp');

function parse(name: string): RtcpPacket[] {
  const buffer = fixtures.get(name);
  assert.ok(buffer, `missing fixture ${name}`);
  const result = parseRtcpCompound(buffer);
  assert.ok(result.ok, `${name}: ${result.ok ? '' : result.reason}`);
  return result.packets;
}

function only<T>(packets: RtcpPacket[], type: new (...args: never[]) => T, index = 0): T {
  const packet = packets[index];
  assert.ok(packet instanceof type, `packet ${index} is ${packet?.type ?? 'missing'}`);
  return packet;
}

const CNAME = 'k3lR1BWtFXI9kP0e';

describe('RTCP fixtures', () => {
  it('are the bytes test/helpers/protocol/rtcp-fixtures.ts describes', () => {
    assert.deepEqual([...fixtures.keys()].sort(), Object.keys(rtcpFixtures).sort());
    for (const [name, buffer] of Object.entries(rtcpFixtures)) {
      assert.ok(fixtures.get(name)?.equals(buffer), `${name} differs from fixtures.ts; regenerate`);
    }
  });

  for (const [name, buffer] of fixtures) {
    const reason = expectedReason(name);
    if (reason === null) {
      it(`${name}: parses, each packet alone and all together round-trip byte for byte`, () => {
        const result = parseRtcpCompound(buffer);
        assert.ok(result.ok, result.ok ? '' : result.reason);
        assert.ok(serializeRtcpCompound(result.packets).equals(buffer));
        // Each packet's own deserialize reads its slice of the compound.
        let offset = 0;
        for (const packet of result.packets) {
          const frame = readRtcpFrame(buffer, offset);
          assert.ok(typeof frame !== 'string');
          const slice = buffer.subarray(offset, frame.end);
          const alone = packet.serialize();
          assert.ok(alone.equals(slice));
          const again =
            packet.type === 'unknown' ? UnknownRtcpPacket.deserialize(slice) : undefined;
          if (again) assert.deepEqual(again.toJSON(), packet.toJSON());
          assert.doesNotThrow(() => JSON.stringify(packet));
          offset = frame.end;
        }
      });
    } else {
      it(`${name}: refused as ${reason}`, () => {
        assert.deepEqual(parseRtcpCompound(buffer), { ok: false, reason });
      });
    }
  }

  it('SR + SDES: sender info, report block, CNAME', () => {
    const packets = parse('valid-sr-sdes.bin');
    assert.deepEqual(
      packets.map((packet) => packet.type),
      ['sr', 'sdes'],
    );
    const sr = only(packets, SenderReport);
    assert.deepEqual(sr.toJSON(), {
      type: 'sr',
      ssrc: 0x6c1f3a52,
      ntpSeconds: 0xeeb281a0,
      ntpFraction: 0x40000000,
      rtpTimestamp: 759066496,
      packetCount: 2970,
      octetCount: 3039041,
      reports: [
        {
          ssrc: 0x3a9d11c4,
          fractionLost: 5,
          cumulativeLost: 42,
          highestSequence: 0x11b2c,
          jitter: 156,
          lastSr: 0x81a01000,
          delaySinceLastSr: 0x13000,
        },
      ],
      extension: '',
      paddingLength: 0,
    });
    assert.deepEqual(sr.ntpTimestamp, { seconds: 0xeeb281a0, fraction: 0x40000000 });
    const sdes = only(packets, SourceDescription, 1);
    assert.equal(sdes.cnameOf(0x6c1f3a52), CNAME);
    assert.deepEqual(sdes.toJSON(), {
      type: 'sdes',
      chunks: [{ ssrc: 0x6c1f3a52, items: [{ type: 1, text: CNAME }] }],
      paddingLength: 0,
    });
  });

  it('RR + SDES: two blocks, the second with negative cumulative loss', () => {
    const packets = parse('valid-rr-sdes.bin');
    const rr = only(packets, ReceiverReport);
    assert.equal(rr.ssrc, 1);
    assert.deepEqual(
      rr.reports.map((block) => [block.ssrc, block.cumulativeLost, block.lastSr]),
      [
        [0x6c1f3a52, 0, 0x81a01000],
        [0x3a9d11c4, -3, 0],
      ],
    );
    assert.equal(only(packets, SourceDescription, 1).cnameOf(1), CNAME);
  });

  it('SR with no blocks + SDES with two chunks, one with two items', () => {
    const packets = parse('valid-sr-sdes-two-chunks.bin');
    assert.equal(only(packets, SenderReport).reports.length, 0);
    const sdes = only(packets, SourceDescription, 1);
    assert.deepEqual(sdes.toJSON().chunks, [
      {
        ssrc: 0x3a9d11c4,
        items: [
          { type: 1, text: CNAME },
          { type: 6, text: 'streammesh' },
        ],
      },
      { ssrc: 0x6c1f3a52, items: [{ type: 1, text: CNAME }] },
    ]);
  });

  it('Generic NACK: PID/BLP entries and the sequence numbers they name', () => {
    const nack = only(parse('valid-nack.bin'), TransportFeedback);
    assert.equal(nack.fmt, 1);
    assert.equal(nack.senderSsrc, 1);
    assert.equal(nack.mediaSsrc, 0x6c1f3a52);
    assert.ok(nack.feedback instanceof GenericNack);
    assert.deepEqual(nack.feedback.entries, [
      { pid: 23117, blp: 5 },
      { pid: 23152, blp: 0 },
    ]);
    assert.deepEqual(nack.feedback.lostSequenceNumbers(), [23117, 23118, 23120, 23152]);

    const wrap = only(parse('valid-nack-wrap.bin'), TransportFeedback);
    assert.ok(wrap.feedback instanceof GenericNack);
    assert.deepEqual(wrap.feedback.lostSequenceNumbers(), [65528, 65529, 8]);
  });

  it('PLI and FIR', () => {
    const pli = only(parse('valid-pli.bin'), PayloadFeedback);
    assert.ok(pli.feedback instanceof PictureLossIndication);
    assert.equal(pli.mediaSsrc, 0x6c1f3a52);
    const fir = only(parse('valid-fir.bin'), PayloadFeedback);
    assert.ok(fir.feedback instanceof FullIntraRequest);
    assert.equal(fir.mediaSsrc, 0);
    assert.deepEqual(fir.feedback.entries, [{ ssrc: 0x6c1f3a52, sequenceNumber: 7 }]);
  });

  it('BYE with a reason, after RR and SDES', () => {
    const packets = parse('valid-rr-sdes-bye-reason.bin');
    assert.deepEqual(
      packets.map((packet) => packet.type),
      ['rr', 'sdes', 'bye'],
    );
    const bye = only(packets, Bye, 2);
    assert.deepEqual(bye.sources, [0x6c1f3a52]);
    assert.equal(bye.reasonText, 'session ended');
  });

  it('APP', () => {
    const app = only(parse('valid-app.bin'), App);
    assert.deepEqual(app.toJSON(), {
      type: 'app',
      subtype: 3,
      ssrc: 0x6c1f3a52,
      name: 'STMS',
      data: '0000002a00000100',
      paddingLength: 0,
    });
  });

  it('transport-cc and REMB are kept raw, with the P-bit padding', () => {
    const twcc = only(parse('valid-transport-cc.bin'), TransportFeedback);
    assert.ok(twcc.feedback instanceof RawFeedback);
    assert.equal(twcc.fmt, 15);
    assert.equal(twcc.feedback.fci.length, 13);
    assert.equal(twcc.padding.toString('hex'), '000003');
    const remb = only(parse('valid-remb.bin'), PayloadFeedback);
    assert.ok(remb.feedback instanceof RawFeedback);
    assert.equal(remb.fmt, 15);
    assert.equal(remb.feedback.fci.subarray(0, 4).toString('latin1'), 'REMB');
  });

  it('XR is kept as an unknown packet', () => {
    const packets = parse('valid-rr-xr.bin');
    const xr = only(packets, UnknownRtcpPacket, 1);
    assert.equal(xr.packetType, 207);
    assert.equal(xr.body.length, 16);
  });

  it('padding on the last packet is kept apart from its body', () => {
    const packets = parse('valid-rr-sdes-padded.bin');
    const sdes = only(packets, SourceDescription, 1);
    assert.equal(sdes.padding.toString('hex'), '00000004');
    assert.equal(sdes.cnameOf(1), CNAME);
  });

  it("each codec's deserialize reads its own packet and refuses others", () => {
    const one = (name: string): Buffer => {
      const buffer = fixtures.get(name);
      assert.ok(buffer);
      return buffer;
    };
    assert.equal(TransportFeedback.deserialize(one('valid-nack.bin')).fmt, 1);
    assert.equal(PayloadFeedback.deserialize(one('valid-pli.bin')).fmt, 1);
    assert.equal(App.deserialize(one('valid-app.bin')).name, 'STMS');
    const isError = (reason: string) => (error: unknown) =>
      error instanceof RtcpParseError &&
      error.code === 'ERR_RTCP_INVALID' &&
      error.reason === reason;
    // A compound is more than one packet.
    assert.throws(() => SenderReport.deserialize(one('valid-sr-sdes.bin')), isError('bad_length'));
    // Wrong type.
    assert.throws(() => ReceiverReport.deserialize(one('valid-pli.bin')), isError('malformed'));
    assert.throws(
      () => Bye.deserialize(one('invalid-bad_count-bye-sc-lies.bin')),
      isError('bad_count'),
    );
    assert.throws(
      () => SourceDescription.deserialize(one('invalid-malformed-sdes-no-end.bin')),
      isError('malformed'),
    );
    assert.throws(() => SenderReport.deserialize(Buffer.alloc(2)), isError('runt'));
  });

  it('decodeRtcpFrame dispatches on the packet type', () => {
    const buffer = fixtures.get('valid-rr-xr.bin');
    assert.ok(buffer);
    const first = readRtcpFrame(buffer, 0);
    assert.ok(typeof first !== 'string');
    assert.equal((decodeRtcpFrame(first) as RtcpPacket).type, 'rr');
  });
});
