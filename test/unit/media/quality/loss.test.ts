/**
 * RFC 3550 A.3 loss: expected = extended max - base + 1, lost = expected -
 * received, and the fraction lost over each report interval. A.1 starts
 * counting at the packet that ends probation (the second of two in sequence),
 * so the first packet of a stream is in `packets` but not in `expected`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, feed, newQuality, range } from '../../../helpers/quality.js';

describe('StreamQuality A.3 loss', () => {
  it('counts nothing before probation ends', () => {
    const clock = new ManualClock(1_000);
    const quality = newQuality(clock);
    feed(quality, clock, [100]);
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.packets, 1);
    assert.equal(snapshot.expected, 0);
    assert.equal(snapshot.lost, 0);
    assert.equal(snapshot.lossFraction, 0);
    assert.equal(quality.reportBlock(clock.now()).cumulativeLost, 0);
  });

  it('gives exact expected and lost for gaps', () => {
    const clock = new ManualClock(1_000);
    const quality = newQuality(clock);
    // 100 ends no probation yet, 101 ends it: base_seq = 101, received = 1.
    // Then 102, 104, 105, 107, 108, 109: received = 7.
    feed(quality, clock, range(100, 109, [103, 106]));
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.packets, 8);
    assert.equal(snapshot.expected, 9); // 109 - 101 + 1
    assert.equal(snapshot.lost, 2); // 9 - 7
    assert.equal(snapshot.lossFraction, 2 / 9);
  });

  it('extends the sequence across the wrap at 65535', () => {
    const clock = new ManualClock(0);
    const quality = newQuality(clock);
    // 65533 (probation), 65534 (base), 65535, 0 (cycles = 65536), 1, 3.
    feed(quality, clock, [65533, 65534, 65535, 0, 1, 3]);
    const snapshot = quality.snapshot(clock.now());
    // extended max = 65536 + 3 = 65539; expected = 65539 - 65534 + 1 = 6.
    assert.equal(snapshot.expected, 6);
    assert.equal(snapshot.lost, 1); // 6 - 5 (65534, 65535, 0, 1, 3)
    const block = quality.reportBlock(clock.now());
    assert.equal(block.highestSequence, 0x0001_0003);
    assert.equal(block.cumulativeLost, 1);
  });

  it('lets duplicates make lost negative, as the RFC does, with a fraction of 0', () => {
    const clock = new ManualClock(0);
    const quality = newQuality(clock);
    // 10 (probation), 11 (base, 1), 12 (2), 12 again (3), 11 again (4), 13 (5).
    assert.deepEqual(feed(quality, clock, [10, 11, 12, 12, 11, 13]), [
      'ok',
      'ok',
      'ok',
      'duplicate',
      'duplicate',
      'ok',
    ]);
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.expected, 3); // 13 - 11 + 1
    assert.equal(snapshot.lost, -2); // 3 - 5
    assert.equal(snapshot.lossFraction, 0);
    assert.equal(snapshot.duplicates, 2);
    const block = quality.reportBlock(clock.now());
    assert.equal(block.cumulativeLost, -2);
    assert.equal(block.fractionLost, 0);
  });

  it('computes the fraction lost per interval from interval expected and received', () => {
    const clock = new ManualClock(0);
    const quality = newQuality(clock);

    // Interval 1: base 1001 .. 1010 without 1005, 1006.
    // expected 10, received 8, lost 2: floor(2 * 256 / 10) = floor(51.2) = 51.
    feed(quality, clock, range(1000, 1010, [1005, 1006]));
    let block = quality.reportBlock(clock.now());
    assert.equal(block.fractionLost, 51);
    assert.equal(block.cumulativeLost, 2);

    // Interval 2: 1011 .. 1030 without 1015, 1020, 1025.
    // expected 20, received 17, lost 3: floor(3 * 256 / 20) = floor(38.4) = 38.
    feed(quality, clock, range(1011, 1030, [1015, 1020, 1025]));
    block = quality.reportBlock(clock.now());
    assert.equal(block.fractionLost, 38);
    assert.equal(block.cumulativeLost, 5);

    // Interval 3: 1031 .. 1040 and 1040 twice more: expected 10, received 12,
    // lost -2 -> fraction 0; cumulative 5 - 2 = 3.
    feed(quality, clock, [...range(1031, 1040), 1040, 1040]);
    block = quality.reportBlock(clock.now());
    assert.equal(block.fractionLost, 0);
    assert.equal(block.cumulativeLost, 3);

    // Interval 4: nothing arrived: expected 0 -> fraction 0.
    block = quality.reportBlock(clock.now());
    assert.equal(block.fractionLost, 0);
    assert.equal(block.cumulativeLost, 3);

    // Interval 5: 1050 only: expected 10, received 1, lost 9:
    // floor(9 * 256 / 10) = floor(230.4) = 230; cumulative 3 + 9 = 12.
    feed(quality, clock, [1050]);
    block = quality.reportBlock(clock.now());
    assert.equal(block.fractionLost, 230);
    assert.equal(block.cumulativeLost, 12);

    // The snapshot is cumulative and is not reset by report blocks.
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.expected, 50); // 1050 - 1001 + 1
    assert.equal(snapshot.lost, 12);
    assert.equal(snapshot.lossFraction, 12 / 50);
  });

  it('clamps the cumulative lost of a report block to 24-bit signed', () => {
    const clock = new ManualClock(0);
    const lossy = newQuality(clock);
    // 3000 jumps of 2999 (just under MAX_DROPOUT): each loses 2998.
    const seqs = [0, 1];
    for (let i = 0; i < 3_000; i++) seqs.push((1 + (i + 1) * 2_999) & 0xffff);
    feed(lossy, clock, seqs, { spacingMs: 1 });
    assert.equal(lossy.snapshot(clock.now()).lost, 3_000 * 2_998);
    assert.equal(lossy.reportBlock(clock.now()).cumulativeLost, 0x7f_ffff);

    const duplicated = newQuality(clock);
    feed(duplicated, clock, [0, 1]);
    for (let i = 0; i < 0x80_0001; i++) duplicated.onRtp(1, 160, 0, 172, clock.now());
    assert.equal(duplicated.snapshot(clock.now()).lost, -0x80_0001);
    assert.equal(duplicated.reportBlock(clock.now()).cumulativeLost, -0x80_0000);
  });

  it('keeps counting over many wraps of a stream that never ends', () => {
    const quality = newQuality(new ManualClock(0));
    // 5 wraps and a bit, one packet lost per 1000; constant spacing.
    const total = 5 * 65_536 + 123;
    let lost = 0;
    for (let i = 0; i < total; i++) {
      if (i % 1_000 === 999) {
        lost++;
        continue;
      }
      quality.onRtp(i & 0xffff, (i * 160) >>> 0, 0, 172, i * 20);
    }
    const snapshot = quality.snapshot((total - 1) * 20);
    assert.equal(snapshot.expected, total - 1); // base is packet 1
    assert.equal(snapshot.lost, lost);
    assert.equal(snapshot.jitterMs, 0);
    // Cycles in the high 16 bits: 5 wraps, then seq 122.
    assert.equal(quality.reportBlock((total - 1) * 20).highestSequence, 5 * 0x1_0000 + 122);
  });

  it('restarts the A.3 counters on a re-sync', () => {
    const clock = new ManualClock(0);
    const quality = newQuality(clock);
    feed(quality, clock, range(0, 10, [5]));
    assert.equal(quality.snapshot(clock.now()).lost, 1);
    // A jump of 20000 and its successor: re-sync with base 20001.
    feed(quality, clock, [20_000, 20_001, 20_003]);
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.expected, 3); // 20003 - 20001 + 1
    assert.equal(snapshot.lost, 1);
    assert.equal(snapshot.restarts, 1);
    // The interval restarts too: expected 3, received 2 -> floor(256 / 3) = 85.
    assert.equal(quality.reportBlock(clock.now()).fractionLost, 85);
  });
});
