import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allocatorEnvironment } from '../../../src/cli/up/allocator.js';

const jemalloc = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';

describe('allocatorEnvironment', () => {
  it('preloads jemalloc when the machine has it, before any preload already set', () => {
    const has = (path: string): boolean => path === jemalloc;
    assert.deepEqual(allocatorEnvironment({}, has), { LD_PRELOAD: jemalloc });
    assert.deepEqual(allocatorEnvironment({ LD_PRELOAD: '/x.so' }, has), {
      LD_PRELOAD: `${jemalloc}:/x.so`,
    });
  });

  it('leaves the allocator alone without the library, or when asked to', () => {
    assert.deepEqual(
      allocatorEnvironment({}, () => false),
      {},
    );
    assert.deepEqual(
      allocatorEnvironment({ STREAMMESH_ALLOCATOR: 'system' }, () => true),
      {},
    );
  });
});
