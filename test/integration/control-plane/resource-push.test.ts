/**
 * Incremental config push to a real rtp-proxy node in this process: a change
 * of one media route reaches the node as that one resource, a removal as one
 * removal; a node that reconnects receives only what differs from what its
 * Hello says it holds; a refused resource is NACKed by name and the node
 * keeps its previous versions until a later push, after the cause is gone,
 * is ACKed. Counts are what the node received (its own metrics).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { getJson } from '../../helpers/http.js';
import { InProcessMesh, receivedSince, type NodeView } from '../../helpers/in-process-mesh.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { UdpPeer } from '../../helpers/udp.js';

interface Route {
  name: string;
  listen: number;
  clockRate?: number;
}

const routesYaml = (routes: readonly Route[]): string =>
  [
    'routes:',
    ...routes.map(
      (route) =>
        `  - { name: ${route.name}, listen: 127.0.0.1:${route.listen}, rtcpMux: true, clockRate: ${route.clockRate ?? 90000}, destinations: [{ address: 127.0.0.1:9, rtcpMux: true }] }`,
    ),
  ].join('\n');

interface ConfigDump {
  version: string;
  config: { proxy: { routes: { name: string; clockRate: number }[] } };
  resources: { type: string; name: string; version: string }[];
}

describe('incremental resource push to a proxy node', () => {
  let mesh: InProcessMesh;
  let routes: Route[];

  const dump = async (): Promise<ConfigDump> =>
    (await getJson<ConfigDump>(`${mesh.proxyUrl}/config_dump`)).body;
  const stateOf = (node: NodeView, name: string) =>
    node.resources.find((state) => state.type === 'MEDIA_ROUTE' && state.name === name);

  before(async () => {
    routes = [
      { name: 'alpha', listen: await freePort() },
      { name: 'beta', listen: await freePort() },
    ];
    mesh = await InProcessMesh.start(routesYaml(routes));
  });

  after(async () => {
    await mesh.close();
  });

  it('a new node receives every resource once and acknowledges them', async () => {
    const received = await mesh.received();
    assert.equal(received.update['MEDIA_ROUTE'], 2);
    assert.equal(received.update['MESH_SETTINGS'], 1);
    const node = await mesh.waitAcked();
    const held = (await dump()).resources;
    assert.deepEqual(
      node.resources
        // The trust bundle and placements are not config: the node holds them
        // apart from its config resources.
        .filter((state) => state.type !== 'TRUST_BUNDLE' && state.type !== 'PLACEMENT')
        .map((state) => `${state.type}/${state.name}@${String(state.acked)}`)
        .sort(),
      held.map((ref) => `${ref.type}/${ref.name}@${ref.version}`).sort(),
      'the control plane knows exactly the versions the node holds',
    );
  });

  it('changing one media route sends exactly that resource', async () => {
    const before = await mesh.received();
    const beta = routes[1];
    assert.ok(beta);
    beta.clockRate = 48000;
    const version = await mesh.put(routesYaml(routes));
    await mesh.waitAcked(version);
    assert.deepEqual(receivedSince(before, await mesh.received()), {
      update: { MEDIA_ROUTE: 1 },
      remove: {},
    });
    const config = (await dump()).config;
    assert.equal(config.proxy.routes.find((route) => route.name === 'beta')?.clockRate, 48000);
  });

  it('removing one media route sends exactly one removal', async () => {
    const before = await mesh.received();
    routes = routes.filter((route) => route.name !== 'alpha');
    const version = await mesh.put(routesYaml(routes));
    await mesh.waitAcked(version);
    assert.deepEqual(receivedSince(before, await mesh.received()), {
      update: {},
      remove: { MEDIA_ROUTE: 1 },
    });
    assert.deepEqual(
      (await dump()).config.proxy.routes.map((route) => route.name),
      ['beta'],
    );
    assert.equal(stateOf(await mesh.waitAcked(version), 'alpha'), undefined);
  });

  it('a node that reconnects receives only what differs from its Hello', async () => {
    // Same config on a restarted control plane: nothing to send but its version.
    const before = await mesh.received();
    const heldBefore = (await dump()).resources;
    await mesh.plane?.close();
    await mesh.startControlPlane(routesYaml(routes));
    await mesh.waitAcked();
    assert.deepEqual(receivedSince(before, await mesh.received()), { update: {}, remove: {} });
    assert.deepEqual((await dump()).resources, heldBefore);

    // A restarted control plane with one route changed: that route only.
    const beta = routes[0];
    assert.ok(beta);
    beta.clockRate = 8000;
    await mesh.plane?.close();
    await mesh.startControlPlane(routesYaml(routes));
    await mesh.waitAcked();
    assert.deepEqual(receivedSince(before, await mesh.received()), {
      update: { MEDIA_ROUTE: 1 },
      remove: {},
    });
  });

  it('a route whose port is taken is NACKed by name; the node keeps its versions until fixed', async () => {
    const taken = await UdpPeer.bind(await freePort());
    const heldBefore = (await dump()).resources;
    const ackedBefore = (await mesh.waitAcked()).ackedVersion;
    try {
      routes = [...routes, { name: 'gamma', listen: taken.port }];
      const refused = await mesh.put(routesYaml(routes));
      const node = await waitFor(
        async () => {
          const found = await mesh.node();
          return found?.lastNack?.version === refused ? found : undefined;
        },
        5_000,
        () => 'the NACK',
      );
      const gamma = stateOf(node, 'gamma');
      assert.equal(gamma?.acked, null);
      assert.match(gamma.nacked?.reason ?? '', new RegExp(`gamma.*${taken.port}`));
      assert.equal(
        node.resources.filter((state) => state.nacked !== null).length,
        1,
        'only the refused resource carries a NACK',
      );
      assert.match(node.lastNack?.reason ?? '', /^relay: proxy\.routes gamma: /);
      assert.equal(node.ackedVersion, ackedBefore);
      assert.deepEqual((await dump()).resources, heldBefore, 'the node kept its resources');
    } finally {
      taken.close();
    }
    // The port is free now; the next push (any change) brings gamma again and is ACKed.
    const before = await mesh.received();
    const fixed = await mesh.put(routesYaml(routes), 'fatal');
    const node = await mesh.waitAcked(fixed);
    assert.deepEqual(receivedSince(before, await mesh.received()), {
      update: { MEDIA_ROUTE: 1, MESH_SETTINGS: 1 },
      remove: {},
    });
    const gamma = stateOf(node, 'gamma');
    assert.ok(gamma?.acked);
    assert.equal(gamma.nacked, null);
    assert.ok((await dump()).resources.some((ref) => ref.name === 'gamma'));
  });

  it('an HTTP listener whose address is taken is NACKed as that HTTP_LISTENER', async () => {
    const port = await freePort();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    const heldBefore = (await dump()).resources;
    try {
      const refused = await mesh.put(
        [
          routesYaml(routes),
          'http:',
          '  listeners:',
          `    - { name: edge, listen: 127.0.0.1:${port} }`,
          '  clusters:',
          '    - { name: users, endpoints: [127.0.0.1:9] }',
        ].join('\n'),
      );
      const node = await waitFor(
        async () => {
          const found = await mesh.node();
          return found?.lastNack?.version === refused ? found : undefined;
        },
        5_000,
        () => 'the NACK',
      );
      assert.deepEqual(
        node.resources
          .filter((state) => state.nacked !== null)
          .map((state) => `${state.type}/${state.name}`),
        ['HTTP_LISTENER/edge'],
        'the listener is named; the cluster that came with it was only not applied',
      );
      assert.match(node.lastNack?.reason ?? '', new RegExp(`^l7: .*127\\.0\\.0\\.1:${port}`));
      assert.deepEqual((await dump()).resources, heldBefore);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
