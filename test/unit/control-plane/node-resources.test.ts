/**
 * The control plane's per-node view of resources: what to send is what
 * differs from what the node holds or is about to hold; an ACK makes the
 * sent versions held, a NACK keeps the previous ones and records why.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_IN_FLIGHT,
  NodeResources,
} from '../../../src/control-plane/registry/node-resources.js';
import {
  parseConfigText,
  resourceKey,
  splitConfig,
  type MeshResource,
} from '../../../src/config/index.js';

const base = parseConfigText(
  `
proxy:
  routes:
    - { name: a, listen: 127.0.0.1:5004, destinations: [{ address: 127.0.0.1:5006 }] }
    - { name: b, listen: 127.0.0.1:5008, destinations: [{ address: 127.0.0.1:5010 }] }
`,
  'base',
);
const resources = splitConfig(base);
const keys = (items: readonly { type: string; name: string }[]): string[] =>
  items.map(resourceKey).sort();

function withRouteA(clockRate: number): MeshResource[] {
  const config = structuredClone(base);
  const route = config.proxy.routes[0];
  assert.ok(route);
  route.clockRate = clockRate;
  return splitConfig(config);
}

describe('NodeResources', () => {
  it('sends everything to a new node, nothing once it acknowledged', () => {
    const node = new NodeResources();
    node.hello([]);
    const first = node.delta(resources);
    assert.deepEqual(keys(first.changed), keys(resources));
    node.sent('1', 'v1', first);
    assert.deepEqual(node.delta(resources).changed, [], 'in flight: not sent twice');
    assert.equal(node.acked('1'), 'v1');
    assert.deepEqual(node.delta(resources), { changed: [], removed: [] });
    assert.equal(node.acked('1'), undefined, 'a second ACK of one nonce is stale');
  });

  it('sends a reconnecting node only what differs from its Hello', () => {
    const node = new NodeResources();
    node.hello(resources.map(({ type, name, version }) => ({ type, name, version })));
    assert.deepEqual(node.delta(resources), { changed: [], removed: [] });
    const changed = withRouteA(48_000);
    assert.deepEqual(keys(node.delta(changed).changed), ['MEDIA_ROUTE/a']);
  });

  it('removes what the config no longer has, once', () => {
    const node = new NodeResources();
    node.hello(resources.map(({ type, name, version }) => ({ type, name, version })));
    const withoutB = resources.filter((item) => resourceKey(item) !== 'MEDIA_ROUTE/b');
    const delta = node.delta(withoutB);
    assert.deepEqual(delta.changed, []);
    assert.deepEqual(keys(delta.removed), ['MEDIA_ROUTE/b']);
    node.sent('1', 'v2', delta);
    assert.deepEqual(node.delta(withoutB).removed, [], 'removal in flight');
    node.acked('1');
    assert.equal(
      node.view().some((state) => state.name === 'b'),
      false,
    );
  });

  it('after a NACK keeps the held version, records the reason and resends on the next push', () => {
    const node = new NodeResources();
    node.hello(resources.map(({ type, name, version }) => ({ type, name, version })));
    const changed = withRouteA(48_000);
    const delta = node.delta(changed);
    node.sent('7', 'v2', delta);
    const refusedVersion = delta.changed[0]?.version;
    assert.equal(
      node.nacked('7', [{ type: 'MEDIA_ROUTE', name: 'a', reason: 'port taken' }], 'now'),
      'v2',
    );
    const state = node.view().find((item) => item.name === 'a');
    assert.ok(state);
    assert.equal(state.acked, resources.find((item) => item.name === 'a')?.version);
    assert.deepEqual(state.nacked, { version: refusedVersion, reason: 'port taken', at: 'now' });
    assert.equal(state.pending, null);
    assert.deepEqual(keys(node.delta(changed).changed), ['MEDIA_ROUTE/a']);
  });

  /** Route a's resource in a set of resources. */
  const routeA = (items: readonly MeshResource[]): MeshResource => {
    const found = items.find((item) => resourceKey(item) === 'MEDIA_ROUTE/a');
    assert.ok(found);
    return found;
  };
  const heldAll = () => resources.map(({ type, name, version }) => ({ type, name, version }));
  const stateOfA = (node: NodeResources) => node.view().find((item) => item.name === 'a');

  it('a refusal is in force until the node holds the wanted version, or the config drops or reverts it', () => {
    const node = new NodeResources();
    node.hello(heldAll());
    const changed = withRouteA(48_000);
    node.sent('1', 'v2', node.delta(changed));
    node.nacked('1', [{ type: 'MEDIA_ROUTE', name: 'a', reason: 'port taken' }], 'now');
    assert.deepEqual(keys(node.refusals()), ['MEDIA_ROUTE/a']);
    // An update without route a (what the config push sends apart: placements) changes nothing.
    node.sent('2', 'v2', { changed: [], removed: [] });
    node.acked('2');
    assert.deepEqual(
      keys(node.refusals()),
      ['MEDIA_ROUTE/a'],
      'still refused after an unrelated ACK',
    );
    // Sent again and ACKed (the cause is gone): no refusal.
    node.sent('3', 'v2', node.delta(changed));
    node.acked('3');
    assert.deepEqual(node.refusals(), []);

    // Refused again, then the config goes back to the version the node holds.
    const other = withRouteA(16_000);
    node.sent('4', 'v3', node.delta(other));
    node.nacked('4', [{ type: 'MEDIA_ROUTE', name: 'a', reason: 'port taken' }], 'now');
    assert.equal(node.refusals().length, 1);
    node.delta(changed);
    assert.deepEqual(node.refusals(), [], 'the wanted version is the one held');

    // Refused again, then the config drops route a altogether.
    node.sent('5', 'v4', node.delta(other));
    node.nacked('5', [{ type: 'MEDIA_ROUTE', name: 'a', reason: 'port taken' }], 'now');
    const withoutA = resources.filter((item) => resourceKey(item) !== 'MEDIA_ROUTE/a');
    const removal = node.delta(withoutA);
    assert.deepEqual(
      node.refusals(),
      [],
      'a refusal of a resource the config no longer has is not in force',
    );
    // A refused removal is in force while the node still holds the resource.
    node.sent('6', 'v5', removal);
    node.nacked('6', [{ type: 'MEDIA_ROUTE', name: 'a', reason: 'busy' }], 'now');
    assert.deepEqual(
      node.refusals().map((ref) => [resourceKey(ref), ref.version]),
      [['MEDIA_ROUTE/a', '(removal)']],
    );
  });

  it('two updates in flight: each ACK makes its own versions held, in order', () => {
    const node = new NodeResources();
    node.hello(heldAll());
    const second = withRouteA(48_000);
    node.sent('1', 'v2', node.delta(second));
    const third = withRouteA(8_000);
    const delta = node.delta(third);
    assert.deepEqual(keys(delta.changed), ['MEDIA_ROUTE/a'], 'differs from the version on its way');
    node.sent('2', 'v3', delta);
    assert.equal(stateOfA(node)?.pending, routeA(third).version);
    assert.equal(node.acked('1'), 'v2');
    assert.equal(stateOfA(node)?.acked, routeA(second).version);
    assert.equal(
      stateOfA(node)?.pending,
      routeA(third).version,
      'the newer one is still on its way',
    );
    assert.equal(node.acked('2'), 'v3');
    assert.equal(stateOfA(node)?.acked, routeA(third).version);
    assert.deepEqual(node.delta(third), { changed: [], removed: [] });
  });

  it('a config that goes back to the held version while another is in flight is sent again', () => {
    const node = new NodeResources();
    node.hello(heldAll());
    node.sent('1', 'v2', node.delta(withRouteA(48_000)));
    const back = node.delta(resources);
    assert.deepEqual(keys(back.changed), ['MEDIA_ROUTE/a'], 'the node would otherwise keep v2');
    node.sent('2', 'v3', back);
    node.acked('1');
    node.acked('2');
    assert.equal(stateOfA(node)?.acked, routeA(resources).version);
    assert.deepEqual(node.delta(resources), { changed: [], removed: [] });
  });

  it('a resource removed and put back while the removal is in flight is sent again', () => {
    const node = new NodeResources();
    node.hello(heldAll());
    const withoutA = resources.filter((item) => resourceKey(item) !== 'MEDIA_ROUTE/a');
    const removal = node.delta(withoutA);
    assert.deepEqual(keys(removal.removed), ['MEDIA_ROUTE/a']);
    node.sent('1', 'v2', removal);
    assert.deepEqual(keys(node.delta(resources).changed), ['MEDIA_ROUTE/a']);
    // And the other way round: added, then removed before the ACK.
    const fresh = new NodeResources();
    fresh.hello(withoutA.map(({ type, name, version }) => ({ type, name, version })));
    fresh.sent('1', 'v2', fresh.delta(resources));
    assert.deepEqual(keys(fresh.delta(withoutA).removed), ['MEDIA_ROUTE/a']);
  });

  it('the ACK of an older update counts though a newer one carries the same resource', () => {
    const node = new NodeResources();
    node.hello(heldAll());
    const second = withRouteA(48_000);
    node.sent('1', 'v2', node.delta(second));
    node.sent('2', 'v3', node.delta(withRouteA(8_000)));
    node.acked('1');
    assert.equal(stateOfA(node)?.acked, routeA(second).version);
    node.nacked('2', [{ type: 'MEDIA_ROUTE', name: 'a', reason: 'refused' }], 'now');
    const state = stateOfA(node);
    assert.ok(state);
    assert.equal(state.acked, routeA(second).version, 'the node runs the older update');
    assert.equal(state.pending, null);
    assert.deepEqual(node.delta(second), { changed: [], removed: [] });
    assert.deepEqual(keys(node.delta(resources).changed), ['MEDIA_ROUTE/a']);
  });

  it('a late ACK of an older update does not undo a newer one', () => {
    const node = new NodeResources();
    node.hello(heldAll());
    node.sent('1', 'v2', node.delta(withRouteA(48_000)));
    const third = withRouteA(8_000);
    node.sent('2', 'v3', node.delta(third));
    node.acked('2');
    node.acked('1');
    assert.equal(stateOfA(node)?.acked, routeA(third).version);
  });

  it('past the in-flight limit the oldest update is forgotten and its resources are resent', () => {
    const node = new NodeResources();
    node.hello(heldAll());
    node.sent('first', 'v1', node.delta(withRouteA(48_000)));
    // Updates that keep route a as sent and change only b, until the first is forgotten.
    const other = (rate: number): MeshResource[] => {
      const config = structuredClone(base);
      const [a, b] = config.proxy.routes;
      assert.ok(a && b);
      a.clockRate = 48_000;
      b.clockRate = rate;
      return splitConfig(config);
    };
    for (let index = 0; index < MAX_IN_FLIGHT; index += 1) {
      node.sent(String(index), 'v', node.delta(other(8_000 + index)));
    }
    assert.equal(node.acked('first'), undefined, 'forgotten: its ACK is stale');
    // The node may run either version of a: whatever the config says is sent.
    assert.deepEqual(keys(node.delta(resources).changed), ['MEDIA_ROUTE/a', 'MEDIA_ROUTE/b']);
    assert.equal(node.acked(String(MAX_IN_FLIGHT - 1)), 'v');
    assert.deepEqual(keys(node.delta(other(8_000 + MAX_IN_FLIGHT - 1)).changed), ['MEDIA_ROUTE/a']);
  });
});
