/**
 * What nodes send is checked before it lands in the registry: resource refs
 * of a Hello, a NACK's per-resource errors, the figures of a load report.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkHelloResources,
  checkLoad,
  checkNackErrors,
} from '../../../src/control-plane/config-push/node-messages.js';
import { MAX_REASON_LENGTH } from '../../../src/protocol/mesh/index.js';

const load = {
  sentAtMs: 1_000,
  packetsPerSecond: 10,
  bitrateBps: 1_000,
  cpuCores: 0.25,
  sessions: 2,
  capacity: { packetsPerSecond: 100, bitrateBps: 10_000, sessions: 10 },
};

describe('node message checks', () => {
  it('accepts a plausible load report and names what is wrong with others', () => {
    assert.deepEqual(checkLoad(load), load);
    assert.equal(checkLoad({ ...load, packetsPerSecond: -1 }), 'negative');
    assert.equal(checkLoad({ ...load, cpuCores: Number.NaN }), 'not_finite');
    assert.equal(checkLoad({ ...load, bitrateBps: Number.POSITIVE_INFINITY }), 'not_finite');
    assert.equal(checkLoad({ ...load, sessions: 1e300 }), 'too_large');
    assert.equal(checkLoad({ ...load, capacity: null }), 'no_capacity');
    assert.equal(checkLoad({ ...load, capacity: { ...load.capacity, sessions: -3 } }), 'negative');
  });

  it('refuses hello refs of no config type, or with empty or overlong names', () => {
    const ref = { type: 'MEDIA_ROUTE' as const, name: 'a', version: 'v1' };
    assert.deepEqual(checkHelloResources([ref]), [ref]);
    const reserved = checkHelloResources([{ ...ref, type: 'PLACEMENT' }]);
    assert.ok(typeof reserved === 'string' && reserved.includes('not a config resource'));
    assert.equal(typeof checkHelloResources([{ ...ref, name: '' }]), 'string');
    assert.equal(typeof checkHelloResources([{ ...ref, name: 'x'.repeat(254) }]), 'string');
    assert.equal(typeof checkHelloResources([{ ...ref, version: 'x'.repeat(65) }]), 'string');
  });

  it('keeps the NACK errors that name a config resource, reasons cut to length', () => {
    const refused = checkNackErrors({
      nonce: '1',
      systemVersion: 'v',
      reason: 'r',
      errors: [
        { resource: null, reason: 'no resource' },
        { resource: { type: 'MEDIA_KEY', name: 'k', version: '' }, reason: 'reserved type' },
        {
          resource: { type: 'HTTP_LISTENER', name: 'edge', version: 'v2' },
          reason: 'x'.repeat(5_000),
        },
      ],
    });
    assert.deepEqual(refused, [
      { type: 'HTTP_LISTENER', name: 'edge', reason: 'x'.repeat(MAX_REASON_LENGTH) },
    ]);
  });
});
