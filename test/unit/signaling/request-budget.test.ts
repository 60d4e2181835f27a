import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestBudget } from '../../../signaling/server/request-budget.js';

describe('RequestBudget', () => {
  it('serves the burst, then the steady rate, never more than the burst', () => {
    let now = 0;
    const budget = new RequestBudget({ burst: 3, perSecond: 2, now: () => now });
    assert.deepEqual(
      [budget.take(), budget.take(), budget.take(), budget.take()],
      [true, true, true, false],
    );
    now = 500;
    assert.deepEqual([budget.take(), budget.take()], [true, false], 'one token per 500 ms');
    now = 60_000;
    const taken = Array.from({ length: 5 }, () => budget.take()).filter(Boolean).length;
    assert.equal(taken, 3, 'a long quiet refills only up to the burst');
  });
});
