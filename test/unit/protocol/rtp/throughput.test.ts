/**
 * Throughput of the relay's per-packet RTP work: checkRtp and the accessors
 * it reads, on real-shaped packets. Measured and reported, not asserted
 * (machines differ); every loop is bounded in count and time. Also reports
 * how many garbage collections ran during the loop: none means the hot path
 * allocated nothing. werift's parser and our allocating codec are measured on
 * the same packets for scale.
 *
 * Each measurement has its own loop function so that V8 sees one callee per
 * call site, as the relay's packet handler does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { RtpPacket as WeriftRtpPacket } from 'werift';
import {
  checkRtp,
  rtpHeaderLength,
  rtpMarker,
  rtpPayloadLength,
  rtpPayloadType,
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
  RtpPacket,
} from '../../../../src/protocol/rtp/index.js';
import { expectedReason, readFixtures } from '../../../helpers/protocol/rtp-support.js';

const BATCH = 10_000;
const MAX_BATCHES = 2_000; // at most 20 M packets
const MAX_MS = 300;
const WARM_UP_MS = 50;

type Loop = (packets: readonly Buffer[], count: number) => number;

function checkLoop(packets: readonly Buffer[], count: number): number {
  let sink = 0;
  for (let i = 0; i < count; i++) {
    const packet = packets[i % packets.length];
    if (packet !== undefined && checkRtp(packet) === null) sink++;
  }
  return sink;
}

/** What the relay does per packet: check, then read the fields it routes on. */
function relayLoop(packets: readonly Buffer[], count: number): number {
  let sink = 0;
  for (let i = 0; i < count; i++) {
    const packet = packets[i % packets.length];
    if (packet === undefined || checkRtp(packet) !== null) continue;
    sink =
      (sink +
        rtpSsrc(packet) +
        rtpSequenceNumber(packet) +
        rtpTimestamp(packet) +
        rtpPayloadType(packet) +
        (rtpMarker(packet) ? 1 : 0) +
        rtpHeaderLength(packet) +
        rtpPayloadLength(packet)) |
      0;
  }
  return sink;
}

function codecLoop(packets: readonly Buffer[], count: number): number {
  let sink = 0;
  for (let i = 0; i < count; i++) {
    const packet = packets[i % packets.length];
    if (packet !== undefined) sink += RtpPacket.deserialize(packet).payload.length;
  }
  return sink;
}

function weriftLoop(packets: readonly Buffer[], count: number): number {
  let sink = 0;
  for (let i = 0; i < count; i++) {
    const packet = packets[i % packets.length];
    if (packet !== undefined) sink += WeriftRtpPacket.deSerialize(packet).payload.length;
  }
  return sink;
}

interface Measurement {
  readonly opsPerSecond: number;
  readonly ops: number;
  readonly gcs: number;
}

async function measure(loop: Loop, packets: readonly Buffer[]): Promise<Measurement> {
  // Warm up, so the JIT has compiled and inlined before the clock starts.
  const warmUpStarted = performance.now();
  for (let batch = 0; batch < 20 && performance.now() - warmUpStarted < WARM_UP_MS; batch++) {
    loop(packets, BATCH);
  }
  let gcs = 0;
  const observer = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  let ops = 0;
  let sink = 0;
  const started = performance.now();
  let elapsed = 0;
  for (let batch = 0; batch < MAX_BATCHES && elapsed < MAX_MS; batch++) {
    sink ^= loop(packets, BATCH);
    ops += BATCH;
    elapsed = performance.now() - started;
  }
  await sleep(20); // GC entries are delivered asynchronously
  observer.disconnect();
  assert.notEqual(sink, 0.5); // keep the result alive
  return { opsPerSecond: (ops / elapsed) * 1000, ops, gcs };
}

describe('RTP throughput (reported, not asserted)', () => {
  it('checkRtp + accessors', async (t) => {
    const fixtures = [...readFixtures('rtp')];
    const valid = fixtures.filter(([name]) => expectedReason(name) === null).map(([, b]) => b);
    const mixed = fixtures.map(([, b]) => b);
    const report = (what: string, m: Measurement): void => {
      t.diagnostic(
        `${what}: ${(m.opsPerSecond / 1e6).toFixed(1)} M packets/s ` +
          `(${m.ops / 1e6} M packets, ${m.gcs} GCs during the loop)`,
      );
    };

    report('checkRtp alone', await measure(checkLoop, valid));
    report('checkRtp + 7 accessors, valid packets', await measure(relayLoop, valid));
    report('checkRtp + 7 accessors, valid and invalid mixed', await measure(relayLoop, mixed));
    report('RtpPacket.deserialize (allocating codec)', await measure(codecLoop, valid));
    report('werift RtpPacket.deSerialize', await measure(weriftLoop, valid));
  });
});
