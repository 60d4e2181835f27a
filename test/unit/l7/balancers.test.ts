import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConsistentHash,
  hashKeyFrom,
  LeastRequest,
  PeakEwma,
  RoundRobin,
  WeightedSplit,
  type Endpoint,
} from '../../../rtp-proxy/l7/cluster/balancers.js';
import { mulberry32 } from '../../helpers/peers/impaired-sender.js';

function endpoints(count: number, prefix = 'ep'): Endpoint[] {
  return Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, activeRequests: 0 }));
}

function manualClock(start = 0): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

function countPicks(pick: () => Endpoint | undefined, rounds: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < rounds; i += 1) {
    const id = pick()?.id ?? 'none';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('RoundRobin', () => {
  it('rotates through the endpoints in order', () => {
    const balancer = new RoundRobin();
    const list = endpoints(3);
    assert.deepEqual(
      Array.from({ length: 6 }, () => balancer.pick(list)?.id),
      ['ep0', 'ep1', 'ep2', 'ep0', 'ep1', 'ep2'],
    );
  });

  it('skips filtered endpoints and returns undefined when none is left', () => {
    const balancer = new RoundRobin();
    const list = endpoints(3);
    const picks = countPicks(() => balancer.pick(list, { available: (e) => e.id !== 'ep1' }), 10);
    assert.equal(picks.get('ep1'), undefined);
    assert.equal(picks.get('ep0'), 5);
    assert.equal(picks.get('ep2'), 5);
    assert.equal(balancer.pick(list, { available: () => false }), undefined);
  });
});

describe('PeakEwma', () => {
  it('jumps to a slower sample, averages a faster one by elapsed time, and decays when idle', () => {
    const clock = manualClock();
    const ewma = new PeakEwma({ decayMs: 1_000, defaultLatencyMs: 50, clock });
    assert.equal(ewma.latencyMs('a'), 50, 'no sample yet: the default');
    ewma.observe('a', 10);
    assert.equal(ewma.latencyMs('a'), 10);
    ewma.observe('a', 200);
    assert.equal(ewma.latencyMs('a'), 200, 'a slow answer counts at once (peak)');
    clock.advance(1_000);
    ewma.observe('a', 10);
    // weight e^-1 on the old value: 200/e + 10 (1 - 1/e)
    assert.ok(Math.abs(ewma.latencyMs('a') - (200 / Math.E + 10 * (1 - 1 / Math.E))) < 1e-9);
    const before = ewma.latencyMs('a');
    clock.advance(5_000);
    assert.ok(
      ewma.latencyMs('a') < before * 0.01,
      'idle time decays the cost so the endpoint is probed again',
    );
  });
});

describe('LeastRequest (power of two choices, EWMA)', () => {
  it('of the two drawn endpoints, takes the one with lower latency x (active + 1)', () => {
    const clock = manualClock();
    const ewma = new PeakEwma({ decayMs: 10_000, defaultLatencyMs: 10, clock });
    // Draws: first index 0, second index 0 of the remaining -> endpoints 0 and 1.
    const balancer = new LeastRequest(ewma, () => 0);
    const list: Endpoint[] = [
      { id: 'busy', activeRequests: 4 },
      { id: 'idle', activeRequests: 0 },
      { id: 'never-drawn', activeRequests: 0 },
    ];
    assert.equal(balancer.pick(list)?.id, 'idle', 'same latency: fewer active requests wins');
    ewma.observe('idle', 100);
    ewma.observe('busy', 10);
    // busy: 10 x 5 = 50 < idle: 100 x 1
    assert.equal(balancer.pick(list)?.id, 'busy', 'a slow endpoint loses even when idle');
  });

  it('sends a slow endpoint far less traffic, and never a filtered one', () => {
    const clock = manualClock();
    const ewma = new PeakEwma({ decayMs: 10_000, defaultLatencyMs: 10, clock });
    const balancer = new LeastRequest(ewma, mulberry32(7));
    const list = endpoints(4);
    ewma.observe('ep0', 500);
    for (const id of ['ep1', 'ep2', 'ep3']) ewma.observe(id, 10);
    const picks = countPicks(
      () => balancer.pick(list, { available: (e) => e.id !== 'ep3' }),
      3_000,
    );
    assert.equal(picks.get('ep3'), undefined);
    assert.equal(picks.get('none'), undefined);
    // ep0 only wins when drawn twice, which P2C never does: it gets nothing.
    assert.equal(picks.get('ep0') ?? 0, 0);
    assert.ok((picks.get('ep1') ?? 0) > 900 && (picks.get('ep2') ?? 0) > 900);
  });

  it('with a single available endpoint returns it, with none returns undefined', () => {
    const ewma = new PeakEwma({ decayMs: 1_000, defaultLatencyMs: 10, clock: manualClock() });
    const balancer = new LeastRequest(ewma, mulberry32(1));
    const list = endpoints(3);
    assert.equal(balancer.pick(list, { available: (e) => e.id === 'ep2' })?.id, 'ep2');
    assert.equal(balancer.pick(list, { available: () => false }), undefined);
  });
});

describe('ConsistentHash', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `session-${i}`);

  function assignments(balancer: ConsistentHash, list: readonly Endpoint[]): Map<string, string> {
    return new Map(keys.map((key) => [key, balancer.pick(list, { hashKey: key })?.id ?? 'none']));
  }

  function moved(before: Map<string, string>, after: Map<string, string>): number {
    let count = 0;
    for (const [key, id] of before) if (after.get(key) !== id) count += 1;
    return count / before.size;
  }

  it('sends the same key to the same endpoint and spreads keys evenly', () => {
    const balancer = new ConsistentHash();
    const list = endpoints(5);
    const first = assignments(balancer, list);
    assert.deepEqual(
      assignments(new ConsistentHash(), list),
      first,
      'another proxy builds the same ring',
    );
    const perEndpoint = new Map<string, number>();
    for (const id of first.values()) perEndpoint.set(id, (perEndpoint.get(id) ?? 0) + 1);
    assert.equal(perEndpoint.size, 5);
    for (const count of perEndpoint.values())
      assert.ok(count > 1_400 && count < 2_600, `share ${count}`);
  });

  it('moves only about 1/N of the keys when an endpoint joins or is ejected', () => {
    const balancer = new ConsistentHash();
    const five = endpoints(5);
    const six = endpoints(6);
    const before = assignments(balancer, five);
    const grown = moved(before, assignments(balancer, six));
    assert.ok(grown > 0.05 && grown < 1 / 6 + 0.05, `adding one of 6 moved ${grown}`);
    const ejected = assignments(
      balancer,
      five.filter((e) => e.id !== 'ep2'),
    );
    const shrunk = moved(before, ejected);
    assert.ok(shrunk < 1 / 5 + 0.05, `removing one of 5 moved ${shrunk}`);
    // Only ep2's keys moved: everyone else's sessions stay put.
    for (const [key, id] of before) if (id !== 'ep2') assert.equal(ejected.get(key), id);
    const filtered = new Map(
      keys.map((key) => [
        key,
        balancer.pick(five, { hashKey: key, available: (e) => e.id !== 'ep2' })?.id,
      ]),
    );
    assert.deepEqual(
      filtered,
      ejected,
      'the filter gives the same result as removing the endpoint',
    );
  });

  it('without a key falls back to round robin', () => {
    const balancer = new ConsistentHash();
    const list = endpoints(3);
    assert.deepEqual(
      Array.from({ length: 3 }, () => balancer.pick(list)?.id),
      ['ep0', 'ep1', 'ep2'],
    );
  });
});

describe('hashKeyFrom', () => {
  it('reads a header (case-insensitive name, repeated values joined) or one cookie', () => {
    const headers = {
      'x-user': 'alice',
      'x-multi': ['a', 'b'],
      cookie: 'theme=dark; sid = abc123 ;x=1',
    };
    assert.equal(hashKeyFrom(headers, { header: 'X-User' }), 'alice');
    assert.equal(hashKeyFrom(headers, { header: 'x-multi' }), 'a,b');
    assert.equal(hashKeyFrom(headers, { header: 'x-absent' }), undefined);
    assert.equal(hashKeyFrom(headers, { cookie: 'sid' }), 'abc123');
    assert.equal(hashKeyFrom(headers, { cookie: 'absent' }), undefined);
    assert.equal(hashKeyFrom({}, { cookie: 'sid' }), undefined);
    assert.equal(hashKeyFrom({ cookie: ['a=1', 'sid=z'] }, { cookie: 'sid' }), 'z');
    assert.equal(
      hashKeyFrom({ cookie: ';;=;sid' }, { cookie: 'sid' }),
      undefined,
      'malformed cookies do not throw',
    );
  });
});

describe('WeightedSplit', () => {
  it('lands 10,000 picks within ±3% of 90/10 and of 50/30/20', () => {
    for (const weights of [
      [90, 10],
      [50, 30, 20],
    ]) {
      const split = new WeightedSplit(
        weights.map((weight, i) => ({ cluster: `c${i}`, weight })),
        mulberry32(42),
      );
      const counts = new Map<string, number>();
      for (let i = 0; i < 10_000; i += 1) {
        const cluster = split.pick() ?? 'none';
        counts.set(cluster, (counts.get(cluster) ?? 0) + 1);
      }
      weights.forEach((weight, i) => {
        const share = ((counts.get(`c${i}`) ?? 0) / 10_000) * 100;
        assert.ok(Math.abs(share - weight) <= 3, `c${i}: ${share}% for weight ${weight}`);
      });
    }
  });

  it('never picks a weight-0 or unavailable cluster; none left is undefined', () => {
    const split = new WeightedSplit(
      [
        { cluster: 'stable', weight: 90 },
        { cluster: 'canary', weight: 10 },
        { cluster: 'off', weight: 0 },
      ],
      mulberry32(3),
    );
    for (let i = 0; i < 1_000; i += 1) {
      assert.equal(
        split.pick((cluster) => cluster !== 'stable'),
        'canary',
      );
      assert.notEqual(split.pick(), 'off');
    }
    assert.equal(
      split.pick((cluster) => cluster === 'off'),
      undefined,
    );
    assert.equal(
      split.pick(() => false),
      undefined,
    );
  });

  it('refuses weights that are not non-negative integers', () => {
    assert.throws(() => new WeightedSplit([{ cluster: 'a', weight: 0.5 }]), RangeError);
    assert.throws(() => new WeightedSplit([{ cluster: 'a', weight: -1 }]), RangeError);
  });
});
