import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CircuitBreaker,
  circuitResources,
  defaultCircuitLimits,
} from '../../../rtp-proxy/l7/cluster/circuit-breaker.js';

describe('CircuitBreaker', () => {
  it('grants up to each limit, then refuses and counts the overflow', () => {
    const breaker = new CircuitBreaker({ connections: 2, pending: 1, requests: 3, retries: 0 });
    const connections = [breaker.tryAcquire('connections'), breaker.tryAcquire('connections')];
    assert.ok(connections.every((release) => release !== undefined));
    assert.equal(breaker.tryAcquire('connections'), undefined);
    assert.equal(breaker.tryAcquire('connections'), undefined);
    assert.equal(breaker.overflows('connections'), 2);
    assert.equal(breaker.active('connections'), 2);
    assert.equal(breaker.tryAcquire('retries'), undefined, 'a limit of 0 refuses all');
    assert.equal(breaker.overflows('retries'), 1);
    // Limits are independent: connections being full does not block requests.
    assert.ok(breaker.tryAcquire('requests') !== undefined);
    assert.ok(breaker.tryAcquire('pending') !== undefined);
    assert.equal(breaker.tryAcquire('pending'), undefined);
    assert.equal(breaker.overflows('requests'), 0);
  });

  it('release frees exactly one slot, once', () => {
    const breaker = new CircuitBreaker({ requests: 1 });
    const first = breaker.tryAcquire('requests');
    assert.ok(first !== undefined);
    assert.equal(breaker.tryAcquire('requests'), undefined);
    first();
    first();
    assert.equal(breaker.active('requests'), 0);
    const second = breaker.tryAcquire('requests');
    assert.ok(second !== undefined);
    assert.equal(
      breaker.tryAcquire('requests'),
      undefined,
      'the double release did not make room for two',
    );
    second();
    assert.equal(breaker.active('requests'), 0);
  });

  it("has Envoy's defaults and refuses bad limits", () => {
    const breaker = new CircuitBreaker();
    for (const kind of circuitResources)
      assert.equal(breaker.limit(kind), defaultCircuitLimits[kind]);
    assert.equal(breaker.limit('retries'), 3);
    assert.throws(() => new CircuitBreaker({ requests: -1 }), RangeError);
    assert.throws(() => new CircuitBreaker({ pending: 1.5 }), RangeError);
  });
});
