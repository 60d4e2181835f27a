/**
 * Packet classes: the window is the last 128 extended sequence numbers up to
 * the highest received; MAX_DROPOUT 3000 and the A.1 two-packet re-sync.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_DROPOUT, SEQ_WINDOW } from '../../../../src/media/quality/index.js';
import { ManualClock, feed, newQuality, range } from '../../../helpers/quality.js';

function fresh() {
  const clock = new ManualClock(0);
  return { clock, quality: newQuality(clock) };
}

describe('StreamQuality packet classes', () => {
  it('passes a probation duplicate as duplicate and validates on the next in sequence', () => {
    const { clock, quality } = fresh();
    assert.deepEqual(feed(quality, clock, [5, 5, 6, 7]), ['ok', 'duplicate', 'ok', 'ok']);
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.expected, 2); // base 6 (ends probation), max 7
    assert.equal(snapshot.lost, 0);
    assert.equal(snapshot.duplicates, 1);
  });

  it('classifies duplicates inside the window, at the highest seq and behind it', () => {
    const { clock, quality } = fresh();
    feed(quality, clock, range(0, 200));
    assert.deepEqual(feed(quality, clock, [200, 150, 73]), ['duplicate', 'duplicate', 'duplicate']);
    assert.equal(quality.snapshot(clock.now()).duplicates, 3);
  });

  it('classifies reordered packets up to 127 behind and late ones from 128 behind', () => {
    const { clock, quality } = fresh();
    // 300 - 127 = 173 is the oldest seq in the window; 172 is just outside.
    feed(quality, clock, range(0, 300, [172, 173, 250]));
    assert.equal(SEQ_WINDOW, 128);
    assert.deepEqual(feed(quality, clock, [250, 173, 172, 250, 173]), [
      'reordered',
      'reordered',
      'late',
      'duplicate',
      'duplicate',
    ]);
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.reordered, 2);
    assert.equal(snapshot.late, 1);
    assert.equal(snapshot.duplicates, 2);
    // Reordered and in-window duplicates count as received (A.1), late ones do not:
    // expected 300 (1..300), received 300 - 3 + 2 + 2 = 301.
    assert.equal(snapshot.expected, 300);
    assert.equal(snapshot.lost, -1);
  });

  it('forgets seqs a forward gap pushes out of the window', () => {
    const { clock, quality } = fresh();
    feed(quality, clock, range(0, 100));
    // A gap of 200 (< MAX_DROPOUT) clears the window: 450..499 are in it, unseen.
    assert.deepEqual(feed(quality, clock, [300, 250, 250]), ['ok', 'reordered', 'duplicate']);
    // And a seq from before the gap is now late (300 - 90 = 210 behind).
    assert.deepEqual(feed(quality, clock, [90]), ['late']);
  });

  it('treats a jump of MAX_DROPOUT or more as a restart candidate, not counted', () => {
    const { clock, quality } = fresh();
    feed(quality, clock, range(0, 10));
    assert.deepEqual(feed(quality, clock, [10 + MAX_DROPOUT - 1]), ['ok']);
    const before = quality.snapshot(clock.now());
    assert.deepEqual(feed(quality, clock, [10 + 2 * MAX_DROPOUT - 1]), ['restart']);
    const after = quality.snapshot(clock.now());
    assert.equal(after.expected, before.expected);
    assert.equal(after.lost, before.lost);
    assert.equal(after.restarts, 0);
  });

  it('re-syncs after a huge jump once two sequential packets arrive (A.1 bad_seq)', () => {
    const { clock, quality } = fresh();
    feed(quality, clock, range(1_000, 1_010));
    assert.deepEqual(feed(quality, clock, [20_000, 20_001, 20_002, 20_001, 20_000]), [
      'restart',
      'restart',
      'ok',
      'duplicate',
      'duplicate',
    ]);
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.restarts, 1);
    // base 20001, max 20002, received 20001, 20002 and both duplicates.
    assert.equal(snapshot.expected, 2);
    assert.equal(snapshot.lost, -2);
    const block = quality.reportBlock(clock.now());
    assert.equal(block.highestSequence, 20_002);
  });

  it('does not re-sync on a lone stray packet', () => {
    const { clock, quality } = fresh();
    feed(quality, clock, range(1_000, 1_010));
    assert.deepEqual(feed(quality, clock, [20_000, 1_011, 1_012]), ['restart', 'ok', 'ok']);
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.restarts, 0);
    assert.equal(snapshot.expected, 12); // 1012 - 1001 + 1
    assert.equal(snapshot.lost, 0);
  });

  it('re-syncs backwards too: late, then restart', () => {
    const { clock, quality } = fresh();
    feed(quality, clock, range(30_000, 30_010));
    assert.deepEqual(feed(quality, clock, [100, 101, 102]), ['late', 'restart', 'ok']);
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.late, 1);
    assert.equal(snapshot.restarts, 1);
    assert.equal(snapshot.expected, 2);
  });

  it('keeps classifying across the seq wrap', () => {
    const { clock, quality } = fresh();
    feed(quality, clock, range(65_500, 65_535 + 20, [65_530, 65_536 + 3]));
    assert.deepEqual(feed(quality, clock, [65_530, 3, 65_530, 3]), [
      'reordered',
      'reordered',
      'duplicate',
      'duplicate',
    ]);
    const block = quality.reportBlock(clock.now());
    assert.equal(block.highestSequence, 0x0001_0013); // 65536 + 19
  });
});
