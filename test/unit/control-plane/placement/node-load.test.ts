import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fillOf, hash32, weightOf } from '../../../../src/control-plane/placement/index.js';

const capacity = { packetsPerSecond: 1_000, bitrateBps: 1_000_000, sessions: 100 };

describe('placement inputs', () => {
  it('weight is the declared sessions', () => {
    assert.equal(weightOf(capacity), 100);
  });

  it('fill is the most used of the declared measures', () => {
    const load = {
      packetsPerSecond: 500,
      bitrateBps: 800_000,
      cpuCores: 3,
      sessions: 10,
      capacity,
    };
    assert.equal(fillOf(load), 0.8);
    assert.equal(fillOf(load, 2), 1.5, 'CPU counts once the cores are known');
    assert.equal(fillOf({ ...load, packetsPerSecond: Number.NaN, bitrateBps: 0 }), 0.1);
  });

  it('hash32 is a fixed, well-spread function', () => {
    assert.equal(hash32(''), hash32(''));
    assert.notEqual(hash32('cam1'), hash32('cam2'));
    // Keys differing in their last character land all over the ring: count
    // the top 4 bits (16 ring sectors) of 1600 such keys.
    const sectors = new Array<number>(16).fill(0);
    for (let i = 0; i < 1_600; i++) {
      const sector = hash32(`cam${i}`) >>> 28;
      sectors[sector] = (sectors[sector] ?? 0) + 1;
    }
    assert.ok(Math.min(...sectors) > 60 && Math.max(...sectors) < 140, sectors.join(','));
  });
});
