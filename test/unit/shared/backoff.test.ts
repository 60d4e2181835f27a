import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from '../../../src/shared/backoff.js';

describe('Backoff', () => {
  it('doubles its ceiling per failure up to the maximum', () => {
    const backoff = new Backoff({ baseMs: 100, maxMs: 1_000, random: () => 0.999999 });
    assert.deepEqual(
      Array.from({ length: 6 }, () => backoff.next()),
      [100, 200, 400, 800, 1_000, 1_000],
    );
  });

  it('spreads delays over [1, ceiling] (full jitter) and restarts after reset', () => {
    const draws = [0, 0.5, 0.25];
    const backoff = new Backoff({ baseMs: 100, maxMs: 1_000, random: () => draws.shift() ?? 0 });
    assert.equal(backoff.next(), 1);
    assert.equal(backoff.next(), 100);
    backoff.reset();
    assert.equal(backoff.attempt, 0);
    assert.equal(backoff.next(), 25);
  });
});
