/**
 * Each interceptor on its own: what it passes, what it drops and under which
 * reason, what it rewrites. SRTP against the project's own SRTP sessions
 * (round trips and wrong keys; libsrtp interop is in the relay SRTP tests).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ContinuityRewrite,
  HeaderRewrite,
  MediaPacket,
  PacketChain,
  PayloadTypeMap,
  RtcpParse,
  RtpCheck,
  SourceAddress,
  SrtpProtect,
  SrtpUnprotect,
  SymmetricLatch,
} from '../../../../src/media/packet-chain/index.js';
import { TrackContinuity } from '../../../../src/media/source/continuity.js';
import { SrtpSession, generateKeyingMaterial } from '../../../../src/protocol/srtp/index.js';
import {
  rtpPayloadType,
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
} from '../../../../src/protocol/rtp/index.js';
import { buildReceiverReport } from '../../../../src/protocol/rtcp/index.js';
import { ManualClock } from '../../../helpers/quality.js';
import { rtp } from '../../../helpers/udp.js';

function runOne(chain: PacketChain, bytes: Buffer, address = '127.0.0.1', port = 5000) {
  const packet = new MediaPacket().load(bytes, chain.clock.now(), address, port);
  return { passed: chain.run(packet), packet };
}

describe('packet chain interceptors', () => {
  it('rtp-check: fills the header fields, drops malformed input under checkRtp reasons or one given reason', () => {
    const detailed = new PacketChain([new RtpCheck()]);
    const collapsed = new PacketChain([new RtpCheck({ invalidReason: 'invalid_rtp' })]);
    const good = rtp({ sequence: 513, timestamp: 99_000, ssrc: 0xdeadbeef, payloadType: 111 });
    const { passed, packet } = runOne(detailed, good);
    assert.equal(passed, true);
    assert.deepEqual(
      [packet.sequence, packet.timestamp, packet.ssrc, packet.payloadType],
      [513, 99_000, 0xdeadbeef, 111],
    );
    const runt = good.subarray(0, 11);
    const version1 = Buffer.from(good);
    version1[0] = 0x40;
    for (const chain of [detailed, collapsed]) {
      runOne(chain, runt);
      runOne(chain, version1);
      runOne(chain, Buffer.alloc(0));
    }
    assert.deepEqual(detailed.drops.counts, { runt: 2, bad_version: 1 });
    assert.deepEqual(collapsed.drops.counts, { invalid_rtp: 3 });
  });

  it('srtp protect -> unprotect round trips; a wrong key and a replay are dropped as srtp_*', () => {
    const keys = generateKeyingMaterial('AES_CM_128_HMAC_SHA1_80');
    const protect = new PacketChain([new SrtpProtect(new SrtpSession(keys))]);
    const unprotect = new PacketChain([new SrtpUnprotect(new SrtpSession(keys)), new RtpCheck()]);
    const stranger = new PacketChain([
      new SrtpUnprotect(new SrtpSession(generateKeyingMaterial('AES_CM_128_HMAC_SHA1_80'))),
    ]);
    const plain = rtp({ sequence: 42, ssrc: 5 });
    const sealed = runOne(protect, plain).packet.buffer;
    assert.notDeepEqual(sealed, plain);
    const opened = runOne(unprotect, sealed);
    assert.equal(opened.passed, true);
    assert.deepEqual(opened.packet.buffer, plain);
    assert.equal(opened.packet.wireLength, sealed.length, 'wire length is the protected one');
    assert.equal(runOne(unprotect, sealed).passed, false);
    assert.equal(runOne(stranger, sealed).passed, false);
    assert.deepEqual(unprotect.drops.counts, { srtp_replay: 1 });
    assert.deepEqual(stranger.drops.counts, { srtp_auth_failed: 1 });
  });

  it('srtcp: protect -> unprotect -> parse round trips a receiver report', () => {
    const keys = generateKeyingMaterial('AEAD_AES_128_GCM');
    const rr = buildReceiverReport(77, []);
    const protect = new PacketChain([new SrtpProtect(new SrtpSession(keys), 'rtcp')]);
    const receive = new PacketChain([
      new SrtpUnprotect(new SrtpSession(keys), 'rtcp'),
      new RtcpParse(),
    ]);
    const sealed = runOne(protect, rr).packet.buffer;
    const { passed, packet } = runOne(receive, sealed);
    assert.equal(passed, true);
    assert.deepEqual(
      packet.rtcp.map((p) => p.type),
      ['rr'],
    );
    const otherKeys = generateKeyingMaterial('AEAD_AES_128_GCM');
    const forged = new PacketChain([new SrtpProtect(new SrtpSession(otherKeys), 'rtcp')]);
    runOne(forged, rr);
    // Index 1, past the replay window's 0: only the tag can refuse it.
    runOne(receive, runOne(forged, rr).packet.buffer);
    runOne(receive, rr);
    assert.deepEqual(receive.drops.counts, { srtcp_auth_failed: 1, srtcp_too_short: 1 });
    const parseOnly = new PacketChain([new RtcpParse()]);
    runOne(parseOnly, Buffer.from([0x80, 201, 0x00, 0x40, 0, 0, 0, 1]));
    assert.deepEqual(parseOnly.drops.counts, { rtcp_bad_length: 1 });
  });

  it('symmetric latch: first valid sender latches, others are refused until it is silent 5 s', () => {
    const clock = new ManualClock(0);
    const latch = new SymmetricLatch({ relatchAfterMs: 5_000 });
    const chain = new PacketChain([latch.gate, new RtpCheck(), latch.confirm], { clock });
    const valid = rtp({ sequence: 1 });
    // Garbage from a stranger neither latches nor is let through.
    assert.equal(runOne(chain, Buffer.alloc(3), '10.0.0.9', 1).passed, false);
    assert.equal(latch.sender, undefined);
    assert.equal(runOne(chain, valid, '10.0.0.1', 4000).passed, true);
    assert.equal(runOne(chain, valid, '10.0.0.2', 4000).passed, false);
    assert.equal(
      runOne(chain, valid, '10.0.0.1', 4002).passed,
      false,
      'another port is another sender',
    );
    clock.set(4_000);
    assert.equal(runOne(chain, valid, '10.0.0.1', 4000).passed, true, 'refreshes the latch');
    clock.set(9_000);
    assert.equal(
      runOne(chain, valid, '10.0.0.2', 4000).passed,
      false,
      '5 s since refresh: not yet',
    );
    clock.set(9_001);
    assert.equal(runOne(chain, valid, '10.0.0.2', 4000).passed, true);
    assert.deepEqual(latch.sender, { address: '10.0.0.2', port: 4000, lastSeenMs: 9_001 });
    assert.deepEqual(chain.drops.counts, { runt: 1, unlatched_source: 3 });

    const locked = new SymmetricLatch({ lockedAddress: '10.0.0.1', relatchAfterMs: 5_000 });
    const lockedChain = new PacketChain([locked.gate, locked.confirm], { clock });
    assert.equal(runOne(lockedChain, valid, '10.0.0.2', 4000).passed, false);
    assert.equal(runOne(lockedChain, valid, '10.0.0.1', 4000).passed, true);
    assert.deepEqual(lockedChain.drops.counts, { source_not_allowed: 1 });
  });

  it('symmetric latch isOpenTo: who could latch the route now (the relay holds early RTCP by it)', () => {
    const clock = new ManualClock(0);
    const latch = new SymmetricLatch({ relatchAfterMs: 5_000 });
    const chain = new PacketChain([latch.gate, new RtpCheck(), latch.confirm], { clock });
    assert.equal(latch.isOpenTo('10.0.0.9', 0), true, 'nobody latched: anyone');
    runOne(chain, rtp({ sequence: 1 }), '10.0.0.1', 4000);
    assert.equal(latch.isOpen(5_000), false);
    assert.equal(latch.isOpenTo('10.0.0.1', 5_000), false, 'held, even for its own address');
    assert.equal(latch.isOpenTo('10.0.0.9', 5_000), false);
    assert.equal(latch.isOpen(5_001), true, 'silent past relatchAfterMs');
    assert.equal(latch.isOpenTo('10.0.0.9', 5_001), true);

    const locked = new SymmetricLatch({ lockedAddress: '10.0.0.1', relatchAfterMs: 5_000 });
    assert.equal(locked.isOpenTo('10.0.0.1', 0), true);
    assert.equal(locked.isOpenTo('10.0.0.9', 0), false, 'latch.address: nobody else, ever');
  });

  it('source-address: only the named address, and nothing while there is none', () => {
    const owner: { address?: string } = {};
    const chain = new PacketChain([new SourceAddress(() => owner.address)]);
    assert.equal(runOne(chain, Buffer.alloc(8), '10.0.0.1').passed, false);
    owner.address = '10.0.0.1';
    assert.equal(runOne(chain, Buffer.alloc(8), '10.0.0.1', 9).passed, true);
    assert.equal(runOne(chain, Buffer.alloc(8), '10.0.0.3').passed, false);
    assert.deepEqual(chain.drops.counts, { unlatched_source: 2 });
  });

  it('header-rewrite: sets the SSRC and renumbers without gaps; a shared packet on a copy, leaving the original', () => {
    const chain = new PacketChain([
      new RtpCheck(),
      new HeaderRewrite({ ssrc: 0xcafe, renumber: true, firstSequence: 0xfffe }),
    ]);
    const originals = [10, 11, 500, 501].map((sequence) => rtp({ sequence, ssrc: 1 }));
    const out = originals.map((bytes) => {
      const packet = new MediaPacket().load(bytes, 0);
      packet.shared = true;
      assert.equal(chain.run(packet), true);
      assert.notEqual(packet.buffer, bytes, 'a shared packet is rewritten on a copy');
      return packet.buffer;
    });
    assert.deepEqual(
      out.map((b) => [rtpSsrc(b), rtpSequenceNumber(b)]),
      [
        [0xcafe, 0xfffe],
        [0xcafe, 0xffff],
        [0xcafe, 0],
        [0xcafe, 1],
      ],
    );
    assert.deepEqual(
      originals.map((b) => [rtpSsrc(b), rtpSequenceNumber(b)]),
      [
        [1, 10],
        [1, 11],
        [1, 500],
        [1, 501],
      ],
    );
  });

  it('header-rewrite: a packet no one else reads is rewritten in place, with no copy', () => {
    const chain = new PacketChain([
      new RtpCheck(),
      new HeaderRewrite({ ssrc: 7, renumber: false }),
    ]);
    const bytes = rtp({ sequence: 3, ssrc: 1 });
    const { passed, packet } = runOne(chain, bytes);
    assert.equal(passed, true);
    assert.equal(packet.buffer, bytes, 'the same buffer');
    assert.equal(rtpSsrc(bytes), 7);
  });

  it('header-rewrite with restore: in place before SRTP protect, the shared bytes put back after, output as with a copy', () => {
    const keys = generateKeyingMaterial('AES_CM_128_HMAC_SHA1_80');
    const options = { ssrc: 0xcafe, renumber: true, firstSequence: 40 } as const;
    const restoring = new HeaderRewrite({ ...options, restore: true });
    let protectInput: Buffer | undefined;
    const seen = {
      name: 'seen-by-protect',
      process: (packet: MediaPacket): undefined => {
        protectInput = packet.buffer;
      },
    };
    const inPlace = new PacketChain([
      new RtpCheck(),
      restoring,
      seen,
      new SrtpProtect(new SrtpSession(keys)),
    ]);
    const copying = new PacketChain([
      new RtpCheck(),
      new HeaderRewrite(options),
      new SrtpProtect(new SrtpSession(keys)),
    ]);
    const receive = new SrtpSession(keys);
    for (const sequence of [100, 101, 102]) {
      const bytes = rtp({ sequence, ssrc: 1 });
      const before = Buffer.from(bytes);
      const packet = new MediaPacket().load(bytes, 0);
      packet.shared = true;
      assert.equal(inPlace.run(packet), true);
      restoring.restore();
      assert.equal(protectInput, bytes, 'protect read the original buffer: no copy');
      assert.deepEqual(bytes, before, 'the next destination reads the sender header');
      const sealed = packet.buffer;
      const copy = new MediaPacket().load(Buffer.from(before), 0);
      copy.shared = true;
      copying.run(copy);
      assert.deepEqual(sealed, copy.buffer, 'byte-identical to rewrite-on-a-copy');
      const opened = receive.unprotectRtp(sealed);
      assert.ok(opened.ok);
      assert.deepEqual(
        [rtpSsrc(opened.packet), rtpSequenceNumber(opened.packet)],
        [0xcafe, 40 + sequence - 100],
      );
    }
  });

  it('payload-type-map: one payload type in, renumbered with the marker kept; others dropped', () => {
    const map = new PayloadTypeMap(96, 102);
    const chain = new PacketChain([new RtpCheck(), map]);
    const marked = runOne(chain, rtp({ sequence: 1, payloadType: 96, marker: true })).packet.buffer;
    assert.equal(rtpPayloadType(marked), 102);
    assert.equal((marked[1] ?? 0) & 0x80, 0x80);
    assert.equal(runOne(chain, rtp({ sequence: 2, payloadType: 97 })).passed, false);
    map.from = 97;
    assert.equal(runOne(chain, rtp({ sequence: 3, payloadType: 97 })).passed, true);
    assert.deepEqual(chain.drops.counts, { unexpected_payload_type: 1 });
  });

  it('continuity-rewrite: the track SSRC, numbering continued across a restart, the gap from the chain clock', () => {
    const clock = new ManualClock(1_000);
    const continuity = new TrackContinuity(90_000, 0xabcd);
    const chain = new PacketChain([new RtpCheck(), new ContinuityRewrite(continuity)], { clock });
    const first = runOne(chain, rtp({ sequence: 7, timestamp: 1_000, ssrc: 1 })).packet.buffer;
    const seq0 = rtpSequenceNumber(first);
    const ts0 = rtpTimestamp(first);
    continuity.restart();
    clock.set(1_500);
    const next = runOne(chain, rtp({ sequence: 60_000, timestamp: 5, ssrc: 2 })).packet.buffer;
    assert.equal(rtpSsrc(next), 0xabcd);
    assert.equal(rtpSequenceNumber(next), (seq0 + 1) & 0xffff);
    // 500 ms of outage at 90 kHz.
    assert.equal(rtpTimestamp(next), (ts0 + 500 * 90) >>> 0);
  });
});
