import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryBackoff, RetryBudget } from '../../../rtp-proxy/l7/cluster/retry-budget.js';
import type { Release } from '../../../rtp-proxy/l7/cluster/circuit-breaker.js';

describe('RetryBudget', () => {
  it('caps a retry storm at budgetPercent of active requests', () => {
    const budget = new RetryBudget({ budgetPercent: 20, minRetryConcurrency: 3 });
    const requests = Array.from({ length: 100 }, () => budget.startRequest());
    // Every one of the 100 requests failed and wants a retry at once.
    const granted = Array.from({ length: 100 }, () => budget.tryRetry()).filter(
      (release): release is Release => release !== undefined,
    );
    assert.equal(granted.length, 20);
    assert.equal(budget.activeRetries, 20);
    assert.equal(budget.denied, 80);
    for (const release of granted) release();
    for (const release of requests) release();
    assert.equal(budget.activeRequests, 0);
    assert.equal(budget.activeRetries, 0);
  });

  it('allows minRetryConcurrency retries on a quiet cluster', () => {
    const budget = new RetryBudget({ budgetPercent: 20, minRetryConcurrency: 3 });
    const request = budget.startRequest();
    assert.equal(budget.limit, 3);
    const retries = [budget.tryRetry(), budget.tryRetry(), budget.tryRetry()];
    assert.ok(retries.every((release) => release !== undefined));
    assert.equal(budget.tryRetry(), undefined);
    request();
  });

  it('recovers: a finished retry frees room for the next, and a double release does not over-free', () => {
    const budget = new RetryBudget({ budgetPercent: 10, minRetryConcurrency: 1 });
    const requests = Array.from({ length: 10 }, () => budget.startRequest());
    const first = budget.tryRetry();
    assert.ok(first !== undefined);
    assert.equal(budget.tryRetry(), undefined, 'budget spent');
    first();
    first();
    assert.equal(budget.activeRetries, 0);
    const second = budget.tryRetry();
    assert.ok(second !== undefined, 'budget recovered after the retry ended');
    assert.equal(budget.tryRetry(), undefined, 'still one at a time after the double release');
    second();
    for (const release of requests) release();
  });

  it('shrinks with the load: fewer active requests, fewer retries allowed', () => {
    const budget = new RetryBudget({ budgetPercent: 50, minRetryConcurrency: 0 });
    const requests = Array.from({ length: 10 }, () => budget.startRequest());
    assert.equal(budget.limit, 5);
    for (const release of requests.slice(0, 8)) release();
    assert.equal(budget.limit, 1);
    assert.ok(budget.tryRetry() !== undefined);
    assert.equal(budget.tryRetry(), undefined);
  });

  it('refuses negative settings', () => {
    assert.throws(() => new RetryBudget({ budgetPercent: -1, minRetryConcurrency: 3 }), RangeError);
    assert.throws(
      () => new RetryBudget({ budgetPercent: Number.NaN, minRetryConcurrency: 3 }),
      RangeError,
    );
  });
});

describe('retryBackoff', () => {
  it('waits up to base x 2^attempt, capped at max (default 10 x base), with full jitter', () => {
    const highest = retryBackoff({ baseMs: 25, random: () => 0.999999 });
    assert.deepEqual(
      Array.from({ length: 6 }, () => highest.next()),
      [25, 50, 100, 200, 250, 250],
    );
    const lowest = retryBackoff({ baseMs: 25, maxMs: 100, random: () => 0 });
    assert.deepEqual(
      Array.from({ length: 3 }, () => lowest.next()),
      [1, 1, 1],
      'full jitter reaches down to (almost) zero',
    );
  });
});
