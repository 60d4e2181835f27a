/**
 * MonotonicTotals: a counter set from a running total that steps back
 * (RFC 3550's cumulative loss) only ever rises, by the rises of that total;
 * a series not seen in a scrape is forgotten.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MonotonicTotals } from '../../../src/shared/monotonic-totals.js';

describe('MonotonicTotals', () => {
  it('starts at the first total and adds only its rises', () => {
    const totals = new MonotonicTotals();
    // Lost 5, a late packet arrives (4), two more lost (6), a re-sync (0), one lost (1).
    const seen = [5, 4, 6, 0, 1].map((lost) => totals.update('a', lost));
    assert.deepEqual(seen, [5, 5, 7, 7, 8]);
  });

  it('never goes below 0 (RFC 3550 loss is negative when duplicates outnumber losses)', () => {
    const totals = new MonotonicTotals();
    assert.equal(totals.update('a', -3), 0);
    assert.equal(totals.update('a', -1), 2);
  });

  it('keeps each series apart', () => {
    const totals = new MonotonicTotals();
    totals.update('a', 10);
    assert.equal(totals.update('b', 1), 1);
    assert.equal(totals.update('a', 12), 12);
  });

  it('forgets a series not updated since the previous sweep', () => {
    const totals = new MonotonicTotals();
    totals.update('a', 10);
    totals.update('b', 10);
    totals.sweep();
    totals.update('b', 11);
    totals.sweep();
    // 'a' ended: a new stream under its labels starts from its own total.
    assert.equal(totals.update('a', 3), 3);
    assert.equal(totals.update('b', 11), 11, 'b was kept');
  });
});
