import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { healthOwner, ownsEndpoint } from '../../../rtp-proxy/l7/cluster/health-owner.js';

const endpoints = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}:8080`);

describe('healthOwner', () => {
  it('names one thread in range, the same every time, for a cluster and endpoint', () => {
    for (const threads of [1, 2, 3, 8]) {
      for (const endpoint of endpoints.slice(0, 50)) {
        const owner = healthOwner('api', endpoint, threads);
        assert.ok(Number.isInteger(owner) && owner >= 0 && owner < threads);
        assert.equal(healthOwner('api', endpoint, threads), owner);
      }
    }
  });

  it('gives every endpoint to thread 0 when there is one thread', () => {
    assert.ok(endpoints.every((endpoint) => healthOwner('api', endpoint, 1) === 0));
  });

  it('spreads endpoints over the threads', () => {
    for (const threads of [2, 4]) {
      const counts = new Array<number>(threads).fill(0);
      for (const endpoint of endpoints) {
        const owner = healthOwner('api', endpoint, threads);
        counts[owner] = (counts[owner] ?? 0) + 1;
      }
      const fair = endpoints.length / threads;
      for (const count of counts) {
        assert.ok(count > fair * 0.8 && count < fair * 1.2, `by thread: ${counts.join(', ')}`);
      }
    }
  });

  it('depends on the cluster too, and keeps the name and the endpoint apart', () => {
    const differs = endpoints.filter(
      (endpoint) => healthOwner('api', endpoint, 2) !== healthOwner('web', endpoint, 2),
    );
    assert.ok(differs.length > 300, `${differs.length} of 1000 change owner with the cluster`);
    // Same concatenation, other split: not the same key.
    const split = Array.from({ length: 64 }, (_, i) => [
      healthOwner(`a${i}`, 'b:1', 1 << 30),
      healthOwner('a', `${i}b:1`, 1 << 30),
    ]);
    assert.ok(split.some(([left, right]) => left !== right));
  });

  it('ownsEndpoint: exactly one of the threads owns each endpoint', () => {
    for (const threads of [1, 2, 3]) {
      for (const endpoint of endpoints.slice(0, 100)) {
        const owners = Array.from({ length: threads }, (_, index) => index).filter((index) =>
          ownsEndpoint({ index, threads }, 'api', endpoint),
        );
        assert.deepEqual(owners, [healthOwner('api', endpoint, threads)]);
      }
    }
  });

  it('refuses a thread count that is not a positive integer', () => {
    for (const threads of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => healthOwner('api', 'a:1', threads), RangeError);
    }
  });
});
