/**
 * What nodes send is checked before it lands in the registry: resource refs
 * of a Hello, a NACK's per-resource errors, the figures of a load report.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkDrain,
  checkHelloPlacements,
  checkHelloResources,
  checkLoad,
  checkNackErrors,
} from '../../../src/control-plane/config-push/node-messages.js';
import { hopResourceName } from '../../../src/config/index.js';
import { MAX_REASON_LENGTH } from '../../../src/protocol/mesh/index.js';
import { generateHopKey } from '../../../src/protocol/srtp/index.js';

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

  it('keeps the NACK errors that name a pushed resource (config or MEDIA_KEY), reasons cut to length', () => {
    const refused = checkNackErrors({
      nonce: '1',
      systemVersion: 'v',
      reason: 'r',
      errors: [
        { resource: null, reason: 'no resource' },
        {
          resource: { type: 'RESOURCE_TYPE_UNSPECIFIED', name: 'k', version: '' },
          reason: 'no pushed type',
        },
        { resource: { type: 'MEDIA_KEY', name: 'camera/c:a->b', version: 'v1' }, reason: 'bad' },
        {
          resource: { type: 'HTTP_LISTENER', name: 'edge', version: 'v2' },
          reason: 'x'.repeat(5_000),
        },
      ],
    });
    assert.deepEqual(refused, [
      { type: 'MEDIA_KEY', name: 'camera/c:a->b', reason: 'bad' },
      { type: 'HTTP_LISTENER', name: 'edge', reason: 'x'.repeat(MAX_REASON_LENGTH) },
    ]);
  });
});

describe('placements a hello returns', () => {
  const body = { node: 'proxy-a', since: '2026-12-04T10:00:00.000Z', reason: 'placed' };
  const placement = (key: string, bodyJson: string) => ({
    type: 'PLACEMENT' as const,
    name: key,
    version: 'v1',
    order: 0,
    bodyJson,
  });

  it('reads each body back; drops and counts one that does not parse', () => {
    const checked = checkHelloPlacements([
      placement('camera/cam1', JSON.stringify(body)),
      placement('camera/cam2', '{not json'),
      placement('camera/cam3', JSON.stringify({ ...body, reason: 'whim' })),
    ]);
    assert.deepEqual(checked, {
      held: [{ ref: { type: 'PLACEMENT', name: 'camera/cam1', version: 'v1' }, body }],
      hops: [],
      dropped: 2,
    });
  });

  it('reads MEDIA_KEY bodies back too; drops and counts a bad one or one named other than its hopId', () => {
    const hopId = hopResourceName('camera/cam1', 'proxy-a', 'proxy-b');
    const hop = {
      hopId,
      session: 'camera/cam1',
      sender: 'proxy-a',
      receiver: 'proxy-b',
      senderAddress: '127.0.0.1:7000',
      receiverAddress: '127.0.0.1:7002',
      keys: [generateHopKey({ hopId, epoch: 1, notAfter: 1e13 })],
      sendEpoch: 1,
    };
    const mediaKey = (name: string, bodyJson: string) => ({
      ...placement(name, bodyJson),
      type: 'MEDIA_KEY' as const,
    });
    const checked = checkHelloPlacements([
      placement('camera/cam1', JSON.stringify(body)),
      mediaKey(hopId, JSON.stringify(hop)),
      mediaKey(hopId, JSON.stringify({ ...hop, sendEpoch: 2 })),
      mediaKey('camera/cam1:proxy-a->proxy-c', JSON.stringify(hop)),
      mediaKey(hopId, '{'),
    ]);
    assert.ok(typeof checked !== 'string');
    assert.deepEqual(
      checked.hops.map(({ ref, body: held }) => ({ ref, held })),
      [{ ref: { type: 'MEDIA_KEY', name: hopId, version: 'v1' }, held: hop }],
    );
    assert.equal(checked.held.length, 1);
    assert.equal(checked.dropped, 3);
  });

  it('refuses a hello whose placements hold another type, or a bad name', () => {
    const config = { ...placement('mesh', '{}'), type: 'MESH_SETTINGS' as const };
    assert.equal(typeof checkHelloPlacements([config]), 'string');
    assert.equal(typeof checkHelloPlacements([placement('', JSON.stringify(body))]), 'string');
  });

  it('keeps NACK errors that name a PLACEMENT', () => {
    const refused = checkNackErrors({
      nonce: '1',
      systemVersion: 'v',
      reason: 'r',
      errors: [
        { resource: { type: 'PLACEMENT', name: 'camera/cam1', version: 'v' }, reason: 'bad' },
      ],
    });
    assert.deepEqual(refused, [{ type: 'PLACEMENT', name: 'camera/cam1', reason: 'bad' }]);
  });
});

describe('checkDrain', () => {
  const now = 1_000_000;
  const hour = 60 * 60_000;
  it('takes a deadline after now and at most the limit ahead', () => {
    assert.equal(checkDrain({ deadlineMs: now + 1 }, now, hour), now + 1);
    assert.equal(checkDrain({ deadlineMs: now + hour }, now, hour), now + hour);
  });
  it('refuses one in the past, too far ahead, or not a number', () => {
    assert.equal(checkDrain({ deadlineMs: now }, now, hour), 'past');
    assert.equal(checkDrain({ deadlineMs: 0 }, now, hour), 'past');
    assert.equal(checkDrain({ deadlineMs: now + hour + 1 }, now, hour), 'too_far');
    assert.equal(checkDrain({ deadlineMs: Number.NaN }, now, hour), 'not_finite');
    assert.equal(checkDrain({ deadlineMs: Infinity }, now, hour), 'not_finite');
  });
});
