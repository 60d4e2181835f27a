/** proxy.workers as the proxy starts with it: set, or one per usable core up to the schema's bound. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meshConfigSchema, proxyWorkersOf } from '../../../src/config/index.js';

describe('proxyWorkersOf', () => {
  it('takes the value set, whatever the cores', () => {
    assert.equal(proxyWorkersOf({ workers: 3 }, 128), 3);
    assert.equal(proxyWorkersOf({ workers: 64 }, 2), 64);
  });

  it('defaults to one per usable core', () => {
    assert.equal(proxyWorkersOf({}, 2), 2);
    assert.equal(proxyWorkersOf({ workers: undefined }, 1), 1);
  });

  it('never defaults above what the schema lets a value be', () => {
    assert.equal(proxyWorkersOf({}, 128), 64);
    const largest = meshConfigSchema.safeParse({ proxy: { workers: proxyWorkersOf({}, 128) } });
    assert.equal(largest.success, true);
    assert.equal(meshConfigSchema.safeParse({ proxy: { workers: 65 } }).success, false);
  });
});
