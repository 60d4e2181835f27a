/**
 * RFC 3550 A.8 interarrival jitter: J += (|D(i-1, i)| - J) / 16 with
 * D(i-1, i) = (R_i - R_{i-1}) - (S_i - S_{i-1}), arrival R converted to
 * timestamp units (clock rate / 1000 per ms). Values below are worked by hand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, feed, newQuality, range } from '../../../helpers/quality.js';

describe('StreamQuality A.8 jitter', () => {
  it('is exactly 0 for constant spacing', () => {
    const clock = new ManualClock(1_000);
    const quality = newQuality(clock); // 8 kHz, 20 ms = 160 units per packet
    feed(quality, clock, range(0, 499));
    assert.equal(quality.snapshot(clock.now()).jitterMs, 0);
    assert.equal(quality.reportBlock(clock.now()).jitter, 0);
  });

  it('matches a hand-computed value for a crafted arrival pattern', () => {
    const clock = new ManualClock(0);
    const quality = newQuality(clock); // 8 kHz: 8 timestamp units per ms
    // seq, ts,  arrival  D = 8 * dArrival - dTs           J
    // 0    0    1000     (first: seeds the transit)       0
    // 1    160  1020     8 * 20 - 160 = 0                 0
    // 2    320  1050     8 * 30 - 160 = 80                0 + (80 - 0) / 16     = 5
    // 3    480  1060     8 * 10 - 160 = -80 -> 80         5 + (80 - 5) / 16     = 9.6875
    // 4    640  1080     8 * 20 - 160 = 0                 9.6875 - 9.6875 / 16  = 9.08203125
    const arrivals = [1_000, 1_020, 1_050, 1_060, 1_080];
    arrivals.forEach((arrival, seq) => quality.onRtp(seq, seq * 160, 0, 172, arrival));
    const snapshot = quality.snapshot(1_080);
    // 9.08203125 units / 8 units per ms = 1.13525390625 ms (exact in binary).
    assert.equal(snapshot.jitterMs, 1.135_253_906_25);
    // The report block carries J truncated to an integer, in timestamp units.
    assert.equal(quality.reportBlock(1_080).jitter, 9);
  });

  it('converts to ms with the clock rate (90 kHz video)', () => {
    const quality = newQuality(new ManualClock(0), { clockRate: 90_000, kind: 'video' });
    // D = 90 * 40 - 3000 = 600 -> J = 600 / 16 = 37.5 units = 37.5 / 90 ms.
    quality.onRtp(0, 0, 96, 1_200, 1_000);
    quality.onRtp(1, 3_000, 96, 1_200, 1_040);
    assert.equal(quality.reportBlock(1_040).jitter, 37);
    assert.ok(Math.abs(quality.snapshot(1_040).jitterMs - 37.5 / 90) < 1e-12);
  });

  it('uses reordered packets in arrival order and ignores duplicates', () => {
    const quality = newQuality(new ManualClock(0));
    // seq  ts   arrival  class       D                                  J
    // 0    0    1000     ok          seeds                              0
    // 1    160  1020     ok          160 - 160 = 0                      0
    // 3    480  1060     ok          8 * 40 - 320 = 0                   0
    // 2    320  1061     reordered   8 * 1 - (320 - 480) = 168          168 / 16 = 10.5
    // 2    320  1062     duplicate   (no sample)                        10.5
    // 4    640  1080     ok          8 * 19 - (640 - 320) = -168 -> 168 10.5 + 157.5 / 16 = 20.34375
    assert.equal(quality.onRtp(0, 0, 0, 172, 1_000), 'ok');
    assert.equal(quality.onRtp(1, 160, 0, 172, 1_020), 'ok');
    assert.equal(quality.onRtp(3, 480, 0, 172, 1_060), 'ok');
    assert.equal(quality.onRtp(2, 320, 0, 172, 1_061), 'reordered');
    assert.equal(quality.snapshot(1_061).jitterMs, 10.5 / 8);
    assert.equal(quality.onRtp(2, 320, 0, 172, 1_062), 'duplicate');
    assert.equal(quality.snapshot(1_062).jitterMs, 10.5 / 8);
    assert.equal(quality.onRtp(4, 640, 0, 172, 1_080), 'ok');
    assert.equal(quality.snapshot(1_080).jitterMs, 20.343_75 / 8);
  });

  it('takes timestamp differences modulo 2^32 across the timestamp wrap', () => {
    const quality = newQuality(new ManualClock(0));
    let ts = 2 ** 32 - 5 * 160;
    for (let seq = 0; seq < 10; seq++) {
      quality.onRtp(seq, ts, 0, 172, 1_000 + seq * 20);
      ts = (ts + 160) >>> 0;
    }
    assert.equal(quality.snapshot(1_200).jitterMs, 0);
  });

  it('re-seeds the transit on a restart instead of adding the new timestamp base', () => {
    const quality = newQuality(new ManualClock(0));
    for (let seq = 0; seq < 10; seq++) quality.onRtp(seq, seq * 160, 0, 172, 1_000 + seq * 20);
    // The sender restarts: new seq and a random new timestamp base, same pacing.
    const base = 3_000_000_000;
    for (let i = 0; i < 10; i++) {
      quality.onRtp(30_000 + i, base + i * 160, 0, 172, 1_200 + i * 20);
    }
    const snapshot = quality.snapshot(1_400);
    assert.equal(snapshot.restarts, 1);
    assert.equal(snapshot.jitterMs, 0);
  });
});
