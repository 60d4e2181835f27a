/**
 * The control plane's per-node view of resources: what to send is what
 * differs from what the node holds or is about to hold; an ACK makes the
 * sent versions held, a NACK keeps the previous ones and records why.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NodeResources } from '../../../src/control-plane/registry/node-resources.js';
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
});
