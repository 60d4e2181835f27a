/**
 * The three users of the packet chain - a relay route's inbound chain, an
 * RTSP path's track chain and the camera pull's chain, each built by its
 * own builder - fed the same scripted packets on one manual clock give the
 * same figures: packets and bytes counted (wire length), loss, jitter,
 * duplicates, reordering. The script has a packet of another payload type
 * on the stream's sequence numbers (a RED/FEC/CN packet): it is measured as
 * part of the stream by all three, and only then refused by the camera's
 * payload-type map, so it is no gap for anyone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DropCounters,
  MediaPacket,
  PacketChain,
  PacketCounter,
  PayloadTypeMap,
  SsrcStreamTable,
  SymmetricLatch,
  TrackStream,
  type MeasuredStream,
} from '../../../../src/media/packet-chain/index.js';
import type { QualitySnapshot } from '../../../../src/media/quality/index.js';
import { TrackContinuity } from '../../../../src/media/source/continuity.js';
import { SrtpSession, generateKeyingMaterial } from '../../../../src/protocol/srtp/index.js';
import { routeInboundChain } from '../../../../rtp-proxy/media/relay/media-route.js';
import { trackChain } from '../../../../rtp-proxy/media/rtsp/stream-path.js';
import { cameraChain } from '../../../../signaling/cameras/camera-pull.js';
import { ManualClock } from '../../../helpers/quality.js';
import { rtp } from '../../../helpers/udp.js';

const CLOCK_RATE = 90_000;
const H264 = 96;
/** Another payload type on the same SSRC and sequence numbers (e.g. ulpfec). */
const FOREIGN = 127;
const TICKS_PER_PACKET = 3_000;
const SSRC = 0x1234;

interface Step {
  readonly seq: number;
  readonly arrivalMs: number;
  readonly payloadType?: number;
  readonly size?: number;
  readonly runt?: boolean;
}

/** 33 ms apart; 5 lost, 7 after 8, 10 twice, 12 of another payload type, a runt, one late. */
const at = (seq: number, extraMs = 0): number => 10_000 + seq * 33 + extraMs;
const SCRIPT: readonly Step[] = [
  { seq: 1, arrivalMs: at(1) },
  { seq: 2, arrivalMs: at(2, 4), size: 900 },
  { seq: 3, arrivalMs: at(3, 1) },
  { seq: 4, arrivalMs: at(4, 9), size: 1_200 },
  { seq: 6, arrivalMs: at(6, 2) },
  { seq: 8, arrivalMs: at(8) },
  { seq: 7, arrivalMs: at(8, 3) },
  { seq: 9, arrivalMs: at(9, 12) },
  { seq: 10, arrivalMs: at(10, 1) },
  { seq: 10, arrivalMs: at(10, 2) },
  { seq: 11, arrivalMs: at(11, 7), runt: true },
  { seq: 11, arrivalMs: at(11, 8) },
  { seq: 12, arrivalMs: at(12, 3), payloadType: FOREIGN, size: 60 },
  { seq: (11 - 400) & 0xffff, arrivalMs: at(12, 5) },
  { seq: 13, arrivalMs: at(13, 6) },
  { seq: 14, arrivalMs: at(14) },
];

interface User {
  readonly name: string;
  readonly chain: PacketChain;
  readonly counter: PacketCounter;
  readonly quality: () => QualitySnapshot | undefined;
}

function relay(clock: ManualClock): User {
  const counter = new PacketCounter();
  const table = new SsrcStreamTable({
    clockRate: CLOCK_RATE,
    kind: 'video',
    maxStreams: 16,
    onlyFirstSsrc: false,
  });
  const chain = routeInboundChain({
    latch: new SymmetricLatch({ relatchAfterMs: 5_000 }),
    table,
    counter,
    drops: new DropCounters(),
    clock,
  });
  const stream = (): MeasuredStream | undefined => table.streams.get(SSRC);
  return { name: 'relay', chain, counter, quality: () => stream()?.quality.snapshot(clock.now()) };
}

function rtspTrack(clock: ManualClock): User {
  const counter = new PacketCounter();
  const stream = new TrackStream({ clockRate: CLOCK_RATE, kind: 'video' });
  const chain = trackChain({
    counter,
    stream,
    continuity: new TrackContinuity(CLOCK_RATE, 0x5555),
    drops: new DropCounters(),
    clock,
  });
  return { name: 'rtsp', chain, counter, quality: () => stream.quality?.snapshot(clock.now()) };
}

function camera(clock: ManualClock): User {
  const counter = new PacketCounter();
  const stream = new TrackStream({ clockRate: CLOCK_RATE, kind: 'video' });
  const chain = cameraChain({
    counter,
    stream,
    payloadTypes: new PayloadTypeMap(H264, 102),
    continuity: new TrackContinuity(CLOCK_RATE, 0x6666),
    clock,
  });
  return { name: 'camera', chain, counter, quality: () => stream.quality?.snapshot(clock.now()) };
}

function play(user: User, clock: ManualClock): number[] {
  const packet = new MediaPacket();
  const passed: number[] = [];
  for (const step of SCRIPT) {
    clock.set(step.arrivalMs);
    const full = rtp({
      sequence: step.seq,
      timestamp: step.seq * TICKS_PER_PACKET,
      ssrc: SSRC,
      payloadType: step.payloadType ?? H264,
      payload: Buffer.alloc((step.size ?? 500) - 12, 0x41),
    });
    const bytes = step.runt === true ? full.subarray(0, 7) : full;
    const loaded = packet.load(bytes, user.chain.clock.now(), '10.0.0.1', 5_000);
    if (user.chain.run(loaded)) passed.push(step.seq);
  }
  return passed;
}

describe('the three users of the packet chain', () => {
  it('count, measure and filter the same script identically, another payload type included', () => {
    const users = [relay, rtspTrack, camera].map((build) => {
      const clock = new ManualClock();
      const user = build(clock);
      const passed = play(user, clock);
      return { user, passed };
    });
    const figures = users.map(({ user }) => {
      const q = user.quality();
      assert.ok(q, user.name);
      return {
        packets: user.counter.packets,
        bytes: user.counter.bytes,
        measuredPackets: q.packets,
        measuredBytes: q.bytes,
        expected: q.expected,
        lost: q.lost,
        jitterMs: q.jitterMs,
        duplicates: q.duplicates,
        reordered: q.reordered,
        late: q.late,
      };
    });
    const [relayFigures, rtspFigures, cameraFigures] = figures;
    assert.ok(relayFigures);
    assert.deepEqual(rtspFigures, relayFigures, 'rtsp track = relay');
    assert.deepEqual(cameraFigures, relayFigures, 'camera pull = relay');

    // And the figures are the script's, not merely equal.
    const valid = SCRIPT.filter((s) => s.runt !== true);
    const wireBytes = valid.reduce((sum, s) => sum + (s.size ?? 500), 0);
    assert.deepEqual(relayFigures, {
      packets: valid.length,
      bytes: wireBytes,
      measuredPackets: valid.length,
      measuredBytes: wireBytes,
      // Probation ends at 2; 2..14 expected.
      expected: 13,
      // 5 is missing, the repeat of 10 counts as received (A.1): 0; 12 is no gap.
      lost: 0,
      jitterMs: relayFigures.jitterMs,
      duplicates: 1,
      reordered: 1,
      late: 1,
    });
    assert.ok(relayFigures.jitterMs > 0);

    // What each forwards: the repeat of 10 dropped by all; the foreign payload
    // type only by the camera, whose Producer takes one payload type.
    const [relayRun, rtspRun, cameraRun] = users;
    assert.ok(relayRun && rtspRun && cameraRun);
    const relayPassed = relayRun.passed;
    assert.equal(relayPassed.filter((seq) => seq === 10).length, 1);
    assert.deepEqual(rtspRun.passed, relayPassed);
    assert.deepEqual(
      cameraRun.passed,
      relayPassed.filter((seq) => seq !== 12),
    );
    assert.equal(cameraRun.user.chain.drops.get('unexpected_payload_type'), 1);
  });

  it('counts packets the relay stream table refuses, as received and as dropped by reason', () => {
    const clock = new ManualClock();
    const counter = new PacketCounter();
    const drops = new DropCounters();
    const table = new SsrcStreamTable({
      clockRate: CLOCK_RATE,
      kind: 'video',
      maxStreams: 2,
      onlyFirstSsrc: false,
    });
    const chain = routeInboundChain({
      latch: new SymmetricLatch({ relatchAfterMs: 5_000 }),
      table,
      counter,
      drops,
      clock,
    });
    const packet = new MediaPacket();
    const ssrcs = [1, 2, 3, 3, 1];
    for (const [i, ssrc] of ssrcs.entries()) {
      chain.run(packet.load(rtp({ sequence: i, ssrc }), clock.now(), '10.0.0.1', 5_000));
    }
    assert.equal(counter.packets, ssrcs.length);
    assert.deepEqual(drops.counts, { too_many_streams: 2 });
  });

  it('measures SRTP-received bytes as they came on the wire, as the counter does', () => {
    const clock = new ManualClock();
    const keys = generateKeyingMaterial('AES_CM_128_HMAC_SHA1_80');
    const sender = new SrtpSession(keys);
    const counter = new PacketCounter();
    const table = new SsrcStreamTable({
      clockRate: CLOCK_RATE,
      kind: 'video',
      maxStreams: 2,
      onlyFirstSsrc: false,
    });
    const chain = routeInboundChain({
      latch: new SymmetricLatch({ relatchAfterMs: 5_000 }),
      srtp: new SrtpSession(keys),
      table,
      counter,
      drops: new DropCounters(),
      clock,
    });
    const packet = new MediaPacket();
    let wire = 0;
    for (let seq = 1; seq <= 5; seq += 1) {
      const sealed = sender.protectRtp(rtp({ sequence: seq, ssrc: SSRC }));
      assert.ok(sealed.ok);
      wire += sealed.packet.length;
      assert.equal(chain.run(packet.load(sealed.packet, clock.now(), '10.0.0.1', 5_000)), true);
    }
    assert.equal(counter.bytes, wire);
    assert.equal(table.streams.get(SSRC)?.quality.snapshot(clock.now()).bytes, wire);
  });
});
