import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseClusterStateMessage,
  type ClusterStateMessage,
} from '../../../rtp-proxy/l7/thread/cluster-state-messages.js';

const ejection = { kind: 'ejection', cluster: 'api', endpoint: 'a:1', until: 5000, ejections: 2 };
const health = {
  kind: 'health',
  cluster: 'api',
  settings: 'digest',
  states: [
    { id: 'a:1', healthy: false, since: 1000 },
    { id: 'b:2', healthy: true, since: 1001.5 },
  ],
};
const sync = { kind: 'sync', cluster: 'api', settings: 'digest' };

describe('parseClusterStateMessage', () => {
  it('takes each kind of message as posted', () => {
    for (const message of [ejection, health, sync, { ...health, states: [] }]) {
      assert.deepEqual(parseClusterStateMessage(structuredClone(message)), message);
    }
  });

  it('keeps only the fields it knows', () => {
    const parsed = parseClusterStateMessage({
      ...health,
      extra: 1,
      states: [{ id: 'a:1', healthy: true, since: 7, stray: 'x' }],
    });
    assert.deepEqual(parsed, { ...health, states: [{ id: 'a:1', healthy: true, since: 7 }] });
  });

  it('drops anything else whole', () => {
    const malformed: unknown[] = [
      undefined,
      null,
      42,
      'sync',
      [sync],
      {},
      { ...sync, kind: 'other' },
      { ...sync, kind: undefined },
      { ...sync, cluster: 3 },
      { ...sync, settings: undefined },
      { ...ejection, endpoint: null },
      { ...ejection, until: Number.NaN },
      { ...ejection, until: Number.POSITIVE_INFINITY },
      { ...ejection, until: '5000' },
      { ...ejection, ejections: 0 },
      { ...ejection, ejections: 1.5 },
      { ...health, settings: 1 },
      { ...health, states: undefined },
      { ...health, states: { id: 'a:1', healthy: true, since: 1 } },
      // One bad state drops the message: a sender that gets one wrong is not to be believed.
      { ...health, states: [...health.states, { id: 'c:3', healthy: 'no', since: 1 }] },
      { ...health, states: [{ id: 'a:1', healthy: true, since: 0 }] },
      { ...health, states: [{ id: 'a:1', healthy: true, since: -1 }] },
      { ...health, states: [{ id: 'a:1', healthy: true, since: Number.NaN }] },
      { ...health, states: [{ id: 1, healthy: true, since: 1 }] },
      { ...health, states: [null] },
    ];
    for (const data of malformed) {
      assert.equal(parseClusterStateMessage(data), undefined, JSON.stringify(data));
    }
  });

  it('never throws, whatever arrives (random values and mutations of valid messages)', () => {
    let seed = 7;
    const random = (): number => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed / 2 ** 32;
    };
    const junk = [
      undefined,
      null,
      true,
      0,
      -1,
      1.5,
      Number.NaN,
      '',
      'x',
      [],
      {},
      { id: 'a', healthy: true, since: 1 },
    ];
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
    for (let round = 0; round < 5000; round += 1) {
      const base = structuredClone(pick([ejection, health, sync])) as Record<string, unknown>;
      const key = pick([...Object.keys(base), 'kind', 'states', 'other']);
      base[key] = pick(junk);
      const parsed: ClusterStateMessage | undefined = parseClusterStateMessage(base);
      if (parsed !== undefined) assert.ok(['ejection', 'health', 'sync'].includes(parsed.kind));
    }
  });
});
