/**
 * Property test: 100,000 random packets (realistic runs, reorders, duplicates,
 * wild jumps and garbage numbers), interleaved with random RTCP, never throw
 * and never put NaN or Infinity into a snapshot or report block.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_DOWNSTREAM_RECEIVERS,
  StreamQuality,
  type QualitySnapshot,
  type ReportBlockValues,
} from '../../../../src/media/quality/index.js';

/** mulberry32: a seeded PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b_79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const GARBAGE = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -1,
  -1e20,
  1e20,
  1.5,
  2 ** 53,
  -0,
  Number.MAX_VALUE,
];

function assertFinite(value: unknown, path: string): void {
  if (typeof value === 'number') {
    assert.ok(Number.isFinite(value), `${path} = ${value}`);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => assertFinite(item, `${path}[${i}]`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) assertFinite(item, `${path}.${key}`);
  }
}

function checkSnapshot(snapshot: QualitySnapshot, kind: 'audio' | 'video'): void {
  assertFinite(snapshot, 'snapshot');
  assert.ok(snapshot.lossFraction >= 0 && snapshot.lossFraction <= 1);
  assert.ok(snapshot.jitterMs >= 0);
  assert.ok(snapshot.bitrateBps >= 0);
  assert.ok(snapshot.expected >= 0);
  assert.ok(snapshot.downstream.length <= MAX_DOWNSTREAM_RECEIVERS);
  if (kind === 'video') assert.equal(snapshot.mos, null);
  else assert.ok(snapshot.mos !== null && snapshot.mos >= 1 && snapshot.mos <= 4.5);
}

function checkBlock(block: ReportBlockValues): void {
  assertFinite(block, 'block');
  assert.ok(Number.isInteger(block.fractionLost) && block.fractionLost >= 0);
  assert.ok(block.fractionLost <= 255);
  assert.ok(block.cumulativeLost >= -0x80_0000 && block.cumulativeLost <= 0x7f_ffff);
  for (const field of ['highestSequence', 'jitter', 'lastSr', 'delaySinceLastSr'] as const) {
    const value = block[field];
    assert.ok(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff, field);
  }
}

describe('StreamQuality fuzz', () => {
  it('survives 100,000 random inputs with finite, in-range outputs', () => {
    const random = prng(0x5eed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const streams = [
      { kind: 'audio', clockRate: 8000, step: 160 },
      { kind: 'audio', clockRate: 48_000, step: 960 },
      { kind: 'video', clockRate: 90_000, step: 3000 },
    ] as const;
    const state = streams.map((stream, i) => ({
      ...stream,
      quality: new StreamQuality({
        ssrc: i + 1,
        clockRate: stream.clockRate,
        kind: stream.kind,
        startMs: 1_000,
      }),
      seq: Math.floor(random() * 65_536),
      ts: Math.floor(random() * 2 ** 32),
      arrival: 1_000,
    }));

    for (let i = 0; i < 100_000; i++) {
      const s = pick(state);
      const mode = random();
      let seq: number;
      let ts: number;
      let arrival: number;
      let payloadType = s.kind === 'video' ? 96 : pick([0, 8, 111]);
      let bytes = 100 + Math.floor(random() * 1_100);
      if (mode < 0.6) {
        // A realistic next packet: small gaps, network jitter.
        const gap = random() < 0.05 ? 2 + Math.floor(random() * 5) : 1;
        s.seq = (s.seq + gap) & 0xffff;
        s.ts = (s.ts + gap * s.step) >>> 0;
        s.arrival += 20 * gap + (random() - 0.5) * 30;
        [seq, ts, arrival] = [s.seq, s.ts, s.arrival];
      } else if (mode < 0.75) {
        // Reordered, duplicate or late: up to 300 behind.
        const back = Math.floor(random() * 300);
        seq = (s.seq - back) & 0xffff;
        ts = (s.ts - back * s.step) >>> 0;
        arrival = s.arrival + random() * 5;
      } else if (mode < 0.9) {
        // Anything at all within wire ranges, arrival may go backwards.
        seq = Math.floor(random() * 65_536);
        ts = Math.floor(random() * 2 ** 32);
        s.arrival += (random() - 0.3) * 10_000;
        arrival = s.arrival;
        if (random() < 0.5) s.seq = seq;
      } else {
        // Garbage in any field.
        seq = random() < 0.5 ? pick(GARBAGE) : s.seq;
        ts = random() < 0.5 ? pick(GARBAGE) : s.ts;
        arrival = random() < 0.5 ? pick(GARBAGE) : s.arrival;
        payloadType = random() < 0.5 ? pick(GARBAGE) : payloadType;
        bytes = random() < 0.5 ? pick(GARBAGE) : bytes;
      }
      const result = s.quality.onRtp(seq, ts, payloadType, bytes, arrival);
      assert.ok(['ok', 'duplicate', 'reordered', 'late', 'restart'].includes(result));

      const rtcp = random();
      if (rtcp < 0.002) {
        s.quality.onSenderReport(
          random() < 0.9 ? Math.floor(random() * 2 ** 32) : pick(GARBAGE),
          s.arrival,
        );
      } else if (rtcp < 0.004) {
        const wild = random() < 0.2;
        s.quality.onReceiverReport(
          `r${Math.floor(random() * 50)}`,
          {
            ssrc: i,
            fractionLost: wild ? pick(GARBAGE) : Math.floor(random() * 256),
            cumulativeLost: wild ? pick(GARBAGE) : Math.floor(random() * 2 ** 24) - 2 ** 23,
            highestSequence: Math.floor(random() * 2 ** 32),
            jitter: wild ? pick(GARBAGE) : Math.floor(random() * 2 ** 32),
            lastSr: wild ? pick(GARBAGE) : Math.floor(random() * 2 ** 32),
            delaySinceLastSr: wild ? pick(GARBAGE) : Math.floor(random() * 2 ** 32),
          },
          wild ? pick(GARBAGE) : Math.floor(random() * 2 ** 32),
          wild ? pick(GARBAGE) : s.arrival,
        );
      } else if (rtcp < 0.006) {
        checkBlock(s.quality.reportBlock(s.arrival));
      }
      if (i % 997 === 0) checkSnapshot(s.quality.snapshot(s.arrival), s.kind);
    }
    for (const s of state) {
      checkSnapshot(s.quality.snapshot(s.arrival), s.kind);
      checkBlock(s.quality.reportBlock(s.arrival));
      assert.ok(s.quality.snapshot(s.arrival).packets > 30_000);
    }
  });
});
