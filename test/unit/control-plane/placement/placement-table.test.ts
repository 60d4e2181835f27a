import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PlacementError,
  PlacementTable,
  type Assignment,
  type PlacementOptions,
} from '../../../../src/control-plane/placement/index.js';

const up = { healthy: true, draining: false } as const;

function tableWith(
  weights: Record<string, number>,
  options: PlacementOptions = {},
  clock = { now: 0 },
): PlacementTable {
  const table = new PlacementTable({ clock: { now: () => clock.now }, ...options });
  for (const [id, weight] of Object.entries(weights)) table.setNode(id, { weight, ...up });
  return table;
}

function equalWeights(count: number, weight: number): Record<string, number> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`node-${i}`, weight]));
}

function place(table: PlacementTable, keys: readonly string[]): void {
  for (const key of keys) assert.ok(table.assign(key), `${key} was placed`);
}

function keys(count: number, prefix = 'cam'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}/${i}`);
}

const nodeOf = (assignments: readonly Assignment[]): Map<string, string> =>
  new Map(assignments.map((a) => [a.key, a.node]));

describe('PlacementTable: bounded loads', () => {
  // One ring point per node: plain consistent hashing would put several
  // times the mean on some node, so only the bound keeps these in line.
  for (const loadFactor of [1.1, 1.25, 2]) {
    it(`no node exceeds ceil(${loadFactor} * mean) with equal weights`, () => {
      const table = tableWith(equalWeights(10, 100_000), { loadFactor, virtualNodes: 1 });
      place(table, keys(5_000));
      const bound = Math.ceil(loadFactor * (5_000 / 10));
      const max = Math.max(...table.loads().values());
      assert.ok(max <= bound, `max ${max} > bound ${bound}`);
    });
  }

  it('no node exceeds ceil(c * m * w / W) with unequal weights', () => {
    const weights = new Map([
      ['a', 1_000],
      ['b', 2_000],
      ['c', 3_000],
      ['d', 5_000],
      ['e', 9_000],
    ]);
    const table = tableWith(Object.fromEntries(weights), { virtualNodes: 2 });
    const total = 6_000;
    place(table, keys(total));
    const sum = [...weights.values()].reduce((s, w) => s + w, 0);
    for (const [id, load] of table.loads()) {
      const bound = Math.ceil((1.25 * total * (weights.get(id) ?? 0)) / sum);
      assert.ok(load <= bound, `${id}: ${load} > ${bound}`);
    }
  });

  it('places no node beyond its declared capacity, and refuses when all are full', () => {
    const table = tableWith({ a: 3, b: 2 });
    place(table, keys(5));
    assert.deepEqual(Object.fromEntries(table.loads()), { a: 3, b: 2 });
    assert.equal(table.assign('one-more'), undefined);
    assert.equal(table.size, 5);
  });

  it('counts a node as full as its load report says', () => {
    const table = tableWith({ a: 100, b: 100 });
    // a's few sessions carry 90% of its packets/s: it gets no new key until b is as full.
    table.setNode('a', { weight: 100, ...up, fill: 0.9 });
    place(table, keys(80));
    const loads = table.loads();
    assert.ok((loads.get('a') ?? 0) <= 12, `a took ${loads.get('a')} keys`);
    assert.ok((loads.get('b') ?? 0) >= 68);
  });
});

describe('PlacementTable: stickiness', () => {
  it('a joining node moves no live session; it only gets new ones', () => {
    // The case: 100 sessions over 3 proxies, a 4th joins.
    const table = tableWith(equalWeights(3, 10_000));
    place(table, keys(100));
    const before = table.list();
    table.setNode('node-3', { weight: 10_000, ...up });
    assert.deepEqual(table.rebalance(), []);
    for (const assignment of before) assert.equal(table.assign(assignment.key), assignment);
    assert.deepEqual(table.list(), before);
    place(table, keys(400, 'new'));
    assert.ok((table.loads().get('node-3') ?? 0) > 0, 'the new node takes new sessions');
  });

  it('a session keeps its node while that node is healthy, whatever the others do', () => {
    const table = tableWith(equalWeights(5, 1_000));
    place(table, keys(500));
    const before = nodeOf(table.list());
    table.setNode('node-9', { weight: 5_000, ...up });
    table.setNode('node-0', { weight: 1_000, ...up, fill: 0.8 });
    place(table, keys(500, 'more'));
    for (const [key, node] of before) assert.equal(table.assign(key)?.node, node);
  });

  it('a removed node: its sessions move, only those, about its share', () => {
    const clock = { now: 1_000 };
    const table = tableWith(equalWeights(10, 10_000), {}, clock);
    place(table, keys(10_000));
    const before = nodeOf(table.list());
    const victims = [...before].filter(([, node]) => node === 'node-3').map(([key]) => key);
    clock.now = 5_000;
    table.removeNode('node-3');
    const moved = table.rebalance();
    assert.deepEqual(moved.map((a) => a.key).sort(), [...victims].sort());
    assert.ok(moved.every((a) => a.reason === 'node_failed' && a.sinceMs === 5_000));
    assert.ok(moved.every((a) => a.node !== 'node-3'));
    const share = moved.length / before.size;
    assert.ok(share > 0.07 && share < 0.13, `moved share ${share}, ideal 0.1`);
    for (const assignment of table.list()) {
      if (!victims.includes(assignment.key)) {
        assert.equal(assignment.node, before.get(assignment.key));
        assert.equal(assignment.reason, 'placed');
      }
    }
    assert.equal(table.loads().has('node-3'), false);
  });

  it('an unhealthy node loses its sessions through assign() as through rebalance()', () => {
    const clock = { now: 10 };
    const table = tableWith(equalWeights(3, 1_000), {}, clock);
    place(table, keys(90));
    const onNode1 = table.list().find((a) => a.node === 'node-1');
    assert.ok(onNode1);
    table.setNode('node-1', { weight: 1_000, healthy: false, draining: false });
    clock.now = 20;
    const moved = table.assign(onNode1.key);
    assert.ok(moved);
    assert.equal(moved.reason, 'node_failed');
    assert.notEqual(moved.node, 'node-1');
    assert.equal(moved.sinceMs, 20);
    assert.ok(table.rebalance().every((a) => a.reason === 'node_failed'));
    assert.equal(table.loads().get('node-1'), 0);
  });

  it('drain moves its sessions and places no new ones there', () => {
    const table = tableWith(equalWeights(4, 10_000));
    place(table, keys(1_000));
    const onDrained = table.list().filter((a) => a.node === 'node-2').length;
    assert.ok(onDrained > 0);
    table.setNode('node-2', { weight: 10_000, healthy: true, draining: true });
    place(table, keys(1_000, 'during-drain'));
    assert.equal(table.loads().get('node-2'), onDrained, 'no new key on the draining node');
    const moved = table.rebalance();
    assert.equal(moved.length, onDrained);
    assert.ok(moved.every((a) => a.reason === 'node_drained' && a.node !== 'node-2'));
    assert.equal(table.loads().get('node-2'), 0);
  });

  it('an overloaded node sheds its youngest sessions, as many as the excess', () => {
    const clock = { now: 0 };
    const table = tableWith({ a: 100, b: 100, c: 100 }, {}, clock);
    for (const key of keys(150)) {
      clock.now += 1;
      assert.ok(table.assign(key));
    }
    const onA = table.list().filter((x) => x.node === 'a');
    assert.equal(table.rebalance().length, 0, 'under capacity: nothing moves');
    // a reports 110% of its declared capacity: 10 sessions too many.
    table.setNode('a', { weight: 100, ...up, fill: 1.1 });
    const moved = table.rebalance();
    assert.equal(moved.length, 10);
    assert.ok(moved.every((x) => x.reason === 'overloaded' && x.node !== 'a'));
    const youngest = onA
      .sort((x, y) => y.sinceMs - x.sinceMs)
      .slice(0, 10)
      .map((x) => x.key);
    assert.deepEqual(moved.map((x) => x.key).sort(), youngest.sort());
    assert.deepEqual(table.rebalance(), [], 'until the next report, the excess is gone');
  });

  it('a key whose node failed waits when no node has room, and moves once one has', () => {
    const table = tableWith({ a: 2, b: 2 });
    place(table, keys(4));
    table.removeNode('a');
    assert.deepEqual(table.rebalance(), []);
    const stranded = table.list().find((x) => x.node === 'a');
    assert.ok(stranded);
    assert.equal(table.assign(stranded.key), undefined);
    table.setNode('c', { weight: 10, ...up });
    assert.deepEqual(
      table.rebalance().map((x) => x.node),
      ['c', 'c'],
    );
    assert.equal(table.assign(stranded.key)?.node, 'c');
  });

  it('a session on a draining node with nowhere to go stays; one on a failed node is unplaced', () => {
    const table = tableWith({ a: 1, b: 1 });
    place(table, ['x', 'y']);
    const onA = table.list().find((x) => x.node === 'a');
    assert.ok(onA);
    table.setNode('a', { weight: 1, healthy: true, draining: true });
    assert.equal(table.assign(onA.key), onA, 'b is full: the session keeps running on a');
    table.setNode('a', { weight: 1, healthy: false, draining: false });
    assert.equal(table.assign(onA.key), undefined);
    assert.equal(table.get(onA.key)?.node, 'a', 'recorded until a node has room');
  });
});

describe('PlacementTable: weights, determinism, restore', () => {
  it('places new sessions in proportion to weight', () => {
    const weights = { small: 10_000, medium: 20_000, large: 40_000 };
    const table = tableWith(weights);
    const total = 7_000;
    place(table, keys(total));
    for (const [id, weight] of Object.entries(weights)) {
      const expected = (total * weight) / 70_000;
      const load = table.loads().get(id) ?? 0;
      assert.ok(Math.abs(load - expected) / expected < 0.15, `${id}: ${load} vs ${expected}`);
    }
  });

  it('same inputs give the same map, whatever order the nodes were set in', () => {
    const ids = Object.keys(equalWeights(20, 500));
    const build = (order: readonly string[]): PlacementTable => {
      const table = new PlacementTable({ clock: { now: () => 0 } });
      for (const id of order) table.setNode(id, { weight: 500, ...up });
      place(table, keys(3_000));
      table.removeNode('node-7');
      table.rebalance();
      return table;
    };
    const forward = build(ids);
    const backward = build([...ids].reverse());
    assert.deepEqual(forward.list(), backward.list());
  });

  it('restore() rebuilds a table equal to the one before', () => {
    const clock = { now: 0 };
    const weights = equalWeights(8, 1_000);
    const before = tableWith(weights, {}, clock);
    place(before, keys(2_000));
    for (const key of keys(300)) before.release(key);
    clock.now = 100;
    before.setNode('node-5', { weight: 1_000, healthy: true, draining: true });
    before.rebalance();
    before.setNode('node-5', { weight: 1_000, ...up });
    place(before, keys(500, 'later'));

    // After a restart: the nodes come back, then report what they carry.
    const after = tableWith(weights, {}, clock);
    for (const a of before.list()) after.restore(a.key, a.node, a.sinceMs);
    assert.deepEqual(nodeOf(after.list()), nodeOf(before.list()));
    assert.deepEqual(after.loads(), before.loads());
    assert.ok(after.list().every((a) => a.reason === 'restored'));
    assert.deepEqual(after.rebalance(), []);
    // ...and decides as the old one would have.
    for (const key of keys(200, 'after-restart')) {
      assert.equal(after.assign(key)?.node, before.assign(key)?.node);
    }
  });

  it('restore() to a node not yet set keeps the key there until the node is set', () => {
    const table = tableWith({ a: 10 });
    table.restore('cam1', 'b', 5);
    assert.deepEqual(table.get('cam1'), { key: 'cam1', node: 'b', sinceMs: 5, reason: 'restored' });
    table.setNode('b', { weight: 10, ...up });
    assert.deepEqual(table.rebalance(), []);
    assert.equal(table.assign('cam1')?.node, 'b');
  });

  it('release() forgets a key and frees its room', () => {
    const table = tableWith({ a: 1 });
    assert.equal(table.assign('x')?.node, 'a');
    assert.equal(table.assign('y'), undefined);
    assert.equal(table.release('x'), true);
    assert.equal(table.release('x'), false);
    assert.equal(table.assign('y')?.node, 'a');
  });

  it('refuses options and node states out of range, with a code', () => {
    assert.throws(() => new PlacementTable({ loadFactor: 1 }), PlacementError);
    assert.throws(() => new PlacementTable({ virtualNodes: 0 }), { code: 'ERR_PLACEMENT_INVALID' });
    const table = new PlacementTable();
    assert.throws(() => table.setNode('a', { weight: 0.5, ...up }), /weight must be a number >= 1/);
    assert.throws(() => table.setNode('a', { weight: 1, ...up, fill: Number.NaN }), /fill/);
    assert.throws(() => table.setNode('', { weight: 1, ...up }), PlacementError);
    assert.equal(table.assign('x'), undefined, 'no node: nowhere to place');
  });
});
