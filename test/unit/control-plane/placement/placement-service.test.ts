/**
 * PlacementService: session keys from the config, nodes from the registry
 * (a real Registry on a manual clock), assignments as PLACEMENT resources.
 * Reconcile passes are driven by the test (reconcile(), endRestore()), so
 * every outcome is exact.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { parseConfigText, type PlacementBody } from '../../../../src/config/index.js';
import { ConfigStore } from '../../../../src/control-plane/config-push/index.js';
import {
  FIRST_START_SETTLE_MS,
  PlacementService,
  sessionKeys,
} from '../../../../src/control-plane/placement/index.js';
import { Registry } from '../../../../src/control-plane/registry/index.js';

const HEARTBEAT_MS = 200;

function configText(cameras: number, routes: readonly string[] = []): string {
  return [
    'proxy:',
    '  rtsp:',
    '    paths:',
    '      live: { source: publisher }',
    ...Array.from(
      { length: cameras },
      (_, index) => `      cam${index}: { source: "rtsp://10.0.0.1/cam${index}" }`,
    ),
    ...(routes.length === 0 ? [] : ['  routes:']),
    ...routes.map(
      (name, index) =>
        `    - { name: ${name}, listen: 127.0.0.1:${6000 + 2 * index}, destinations: [{ address: 127.0.0.1:9 }] }`,
    ),
  ].join('\n');
}

function harness(cameras: number) {
  let now = Date.parse('2026-12-04T10:00:00.000Z');
  const clock = { now: () => now };
  const store = new ConfigStore(parseConfigText(configText(cameras), 'test'), 'test');
  const registry = new Registry({
    clock,
    heartbeatIntervalMs: HEARTBEAT_MS,
    staleAfterMissedHeartbeats: 3,
    maxNodes: 100,
    forgetAfterMs: 60_000,
  });
  const service = new PlacementService({
    store,
    registry,
    clock,
    log: pino({ level: 'silent' }),
    graceMs: 60_000,
  });
  let changes = 0;
  service.on('change', () => {
    changes += 1;
  });
  const join = (id: string, role: 'ROLE_PROXY' | 'ROLE_SIGNALING' = 'ROLE_PROXY') => {
    registry.register({
      identity: { id, node: 'test', role },
      capabilities: [],
      listenAddresses: {},
      currentVersion: '',
    });
    registry.streamOpened(id);
  };
  const owners = (): Map<string, string> =>
    new Map(service.view().placements.map(({ key, node }) => [key, node]));
  return {
    store,
    registry,
    service,
    join,
    owners,
    changes: () => changes,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('sessionKeys', () => {
  it('names camera paths and relay routes, not publisher paths, sorted', () => {
    const config = parseConfigText(configText(2, ['b-route', 'a-route']), 'test');
    assert.deepEqual(sessionKeys(config), [
      'camera/cam0',
      'camera/cam1',
      'route/a-route',
      'route/b-route',
    ]);
  });
});

describe('PlacementService', () => {
  let close: () => void = () => undefined;
  afterEach(() => close());

  it('places nothing during the grace period; then every key, within the bound', () => {
    const h = harness(30);
    close = () => h.service.close();
    for (const id of ['proxy-a', 'proxy-b', 'proxy-c']) h.join(id);
    h.join('signaling-a', 'ROLE_SIGNALING');
    h.service.reconcile();
    assert.equal(h.service.resources().length, 0);
    assert.equal(h.service.view().restoring, true);

    h.service.endRestore();
    const view = h.service.view();
    assert.equal(view.restoring, false);
    assert.equal(view.placements.length, 30);
    assert.deepEqual(
      view.nodes.map(({ id }) => id),
      ['proxy-a', 'proxy-b', 'proxy-c'],
      'only proxies carry sessions',
    );
    for (const node of view.nodes) {
      assert.ok(node.keys <= Math.ceil((1.25 * 30) / 3), `${node.id}: ${node.keys} keys`);
      assert.ok(node.keys > 0);
    }
    const resources = h.service.resources();
    assert.equal(resources.length, 30);
    const body = resources[0]?.body as PlacementBody;
    assert.equal(body.reason, 'placed');
    assert.equal(body.since, '2026-12-04T10:00:00.000Z');
  });

  it('a first start places once no proxy registered for FIRST_START_SETTLE_MS; a restart keeps the grace', async () => {
    const first = harness(3);
    const restart = harness(3);
    close = () => {
      first.service.close();
      restart.service.close();
    };
    first.service.start();
    restart.service.start();
    first.join('proxy-a');
    restart.join('proxy-a');
    // The restarted control plane hears the placements the proxy holds.
    const since = new Date(Date.parse('2026-12-04T09:00:00.000Z')).toISOString();
    restart.service.reported('proxy-a', [
      { key: 'camera/cam0', body: { node: 'proxy-a', since, reason: 'placed' } },
    ]);
    await new Promise((resolve) => setTimeout(resolve, FIRST_START_SETTLE_MS / 2));
    first.join('proxy-b'); // a later registration restarts the wait
    await new Promise((resolve) => setTimeout(resolve, FIRST_START_SETTLE_MS * 0.7));
    assert.equal(first.service.restoring, true, 'proxy-b registered less than the settle time ago');
    await new Promise((resolve) => setTimeout(resolve, FIRST_START_SETTLE_MS * 0.5));
    assert.equal(first.service.restoring, false);
    assert.equal(first.service.view().placements.length, 3);
    assert.equal(restart.service.restoring, true, 'a restart waits for the whole grace');
  });

  it('a joining proxy moves nothing; a stale one loses exactly its keys, in one change', () => {
    const h = harness(30);
    close = () => h.service.close();
    for (const id of ['proxy-a', 'proxy-b', 'proxy-c']) h.join(id);
    h.service.endRestore();
    const before = h.owners();

    h.join('proxy-d');
    h.service.reconcile();
    assert.deepEqual(h.owners(), before);
    const changesBefore = h.changes();

    // proxy-b falls silent: the others keep their heartbeats.
    h.advance(3 * HEARTBEAT_MS + 1);
    for (const id of ['proxy-a', 'proxy-c', 'proxy-d']) h.registry.seen(id);
    h.service.reconcile();
    assert.equal(h.changes(), changesBefore + 1);
    const after = h.owners();
    const moved = [...before].filter(([key, node]) => after.get(key) !== node);
    assert.ok(moved.length > 0);
    for (const [key, node] of moved) {
      assert.equal(node, 'proxy-b', `${key} moved, though its node did not fail`);
      assert.notEqual(after.get(key), 'proxy-b');
    }
    assert.ok(
      h.service
        .view()
        .placements.filter(({ key }) => moved.some(([movedKey]) => movedKey === key))
        .every(({ reason }) => reason === 'node_failed'),
    );
    // Nothing more to do: the next pass changes nothing.
    h.service.reconcile();
    assert.equal(h.changes(), changesBefore + 1);
  });

  it('a config change is taken at once by resources(), with no change event', () => {
    const h = harness(3);
    close = () => h.service.close();
    h.join('proxy-a');
    h.service.endRestore();
    const changesBefore = h.changes();
    h.store.set(parseConfigText(configText(2, ['r1']), 'test'), 'test');
    assert.deepEqual(
      h.service
        .resources()
        .map(({ name }) => name)
        .sort(),
      ['camera/cam0', 'camera/cam1', 'route/r1'],
    );
    assert.equal(h.changes(), changesBefore);
  });

  it('rebuilds from what nodes report: newest since wins; absent nodes lose their keys after the grace', () => {
    const h = harness(3);
    close = () => h.service.close();
    const body = (node: string, since: string, reason: PlacementBody['reason']) => ({
      node,
      since,
      reason,
    });
    h.join('proxy-a');
    h.service.reported('proxy-a', [
      { key: 'camera/cam0', body: body('proxy-a', '2026-12-04T09:00:00.000Z', 'placed') },
      { key: 'camera/cam1', body: body('proxy-a', '2026-12-04T09:00:00.000Z', 'placed') },
      { key: 'camera/cam2', body: body('proxy-gone', '2026-12-04T09:00:00.000Z', 'placed') },
      { key: 'camera/old', body: body('proxy-a', '2026-12-04T09:00:00.000Z', 'placed') },
    ]);
    // An older report of cam1 loses; a newer one of cam0 wins.
    h.service.reported('proxy-b', [
      { key: 'camera/cam1', body: body('proxy-b', '2026-12-04T08:00:00.000Z', 'placed') },
      { key: 'camera/cam0', body: body('proxy-a', '2026-12-04T09:30:00.000Z', 'node_failed') },
    ]);
    assert.deepEqual(h.service.view().placements, [
      {
        key: 'camera/cam0',
        node: 'proxy-a',
        since: '2026-12-04T09:30:00.000Z',
        reason: 'node_failed',
      },
      { key: 'camera/cam1', node: 'proxy-a', since: '2026-12-04T09:00:00.000Z', reason: 'placed' },
      {
        key: 'camera/cam2',
        node: 'proxy-gone',
        since: '2026-12-04T09:00:00.000Z',
        reason: 'placed',
      },
      { key: 'camera/old', node: 'proxy-a', since: '2026-12-04T09:00:00.000Z', reason: 'placed' },
    ]);

    h.service.endRestore();
    const after = h.service.view().placements;
    assert.deepEqual(
      after.map(({ key, node, reason }) => `${key} ${node} ${reason}`),
      [
        'camera/cam0 proxy-a node_failed',
        'camera/cam1 proxy-a placed',
        'camera/cam2 proxy-a node_failed',
      ],
    );
    // A report after the grace period changes nothing.
    h.service.reported('proxy-a', [
      { key: 'camera/cam1', body: body('proxy-x', '2026-12-04T11:00:00.000Z', 'placed') },
    ]);
    assert.equal(h.owners().get('camera/cam1'), 'proxy-a');
  });

  it('a draining proxy loses its keys at once (node_drained), gets no new one, and stays drained past its deadline', () => {
    const h = harness(30);
    close = () => h.service.close();
    for (const id of ['proxy-a', 'proxy-b', 'proxy-c']) h.join(id);
    h.service.start();
    h.service.endRestore();
    const before = h.owners();
    const drained = [...before].filter(([, node]) => node === 'proxy-a').map(([key]) => key);
    assert.ok(drained.length > 0);
    const changesBefore = h.changes();

    // The registry's 'drain' moves them without waiting for a reconcile pass.
    h.registry.drain('proxy-a', Date.parse('2026-12-04T10:01:00.000Z'));
    assert.equal(h.changes(), changesBefore + 1);
    const after = h.owners();
    for (const [key, node] of before) {
      if (node === 'proxy-a') assert.notEqual(after.get(key), 'proxy-a', key);
      else assert.equal(after.get(key), node, `${key} moved, though its node is not draining`);
    }
    const reasons = h.service
      .view()
      .placements.filter(({ key }) => drained.includes(key))
      .map(({ reason }) => reason);
    assert.deepEqual(new Set(reasons), new Set(['node_drained']));
    const shown = h.service.view().nodes.find(({ id }) => id === 'proxy-a');
    assert.deepEqual([shown?.draining, shown?.keys, shown?.bound], [true, 0, 0]);
    assert.equal(h.service.view().nodes.find(({ id }) => id === 'proxy-b')?.draining, false);

    // Past the deadline it is still draining: a new camera goes elsewhere.
    h.advance(120_000);
    for (const id of ['proxy-a', 'proxy-b', 'proxy-c']) h.registry.seen(id);
    h.store.set(parseConfigText(configText(40), 'test'), 'test');
    h.service.reconcile();
    assert.ok(![...h.owners().values()].includes('proxy-a'));

    // Registered again as a new process (its stream closed first): it takes keys again.
    h.registry.streamClosed('proxy-a');
    h.join('proxy-a');
    assert.equal(h.registry.drainDeadlineOf('proxy-a'), 0);
    h.store.set(parseConfigText(configText(80), 'test'), 'test');
    h.service.reconcile();
    assert.ok([...h.owners().values()].includes('proxy-a'));
  });
});
