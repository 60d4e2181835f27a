/**
 * End to end through the node agent: a control plane and a proxy in this
 * process, a config pushed with PUT /config whose L7 listener address is
 * taken. The proxy NACKs it naming the L7 service, and its relay still
 * forwards on the old route only (the new route, prepared before the L7
 * refused, never carries a packet and leaves no socket behind).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startProxy, type RunningProxy } from '../../../rtp-proxy/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { validateConfig, type MeshConfigInput } from '../../../src/config/index.js';
import { formatHostPort, httpUrl } from '../../../src/shared/address.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, putText } from '../../helpers/http.js';
import { canBindUdp, freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';

interface NodesBody {
  nodes: {
    role: string;
    ackedVersion: string;
    lastNack?: { version: string; reason: string };
    resources: { type: string; name: string; acked: string | null }[];
  }[];
}
interface StreamsBody {
  routes: { name: string; packetsIn: number; destinations: { address: string }[] }[];
}

const evenFreePort = (): Promise<number> => freePort((port) => port % 2 === 0);

describe('a pushed config whose L7 listener address is taken', () => {
  const log = createLogger('test', 'silent');
  let plane: RunningControlPlane;
  let proxy: RunningProxy;
  let squatter: Server;
  let sender: UdpPeer;
  let oldDestination: UdpPeer;
  let newDestination: UdpPeer;
  let steadyPort: number;
  let addedPort: number;
  let takenPort: number;
  const adminToken = newAdminToken();
  let meshInput: MeshConfigInput;
  let sequence = 0;

  const planeUrl = (): string => httpUrl(plane.admin);
  const proxyUrl = (): string => httpUrl(proxy.admin);
  const sendBurst = async (port: number, count: number): Promise<void> => {
    for (let i = 0; i < count; i += 1) await sender.send(rtp({ sequence: sequence++ }), port);
  };

  before(async () => {
    [sender, oldDestination, newDestination] = await Promise.all([
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
    ]);
    steadyPort = await evenFreePort();
    addedPort = await freePort((port) => port % 2 === 0 && port !== steadyPort);
    takenPort = await freePort((port) => port !== steadyPort && port !== addedPort);
    squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(takenPort, '127.0.0.1', resolve));
    meshInput = {
      controlPlane: { admin: '127.0.0.1:0', grpc: '127.0.0.1:0', heartbeatIntervalMs: 200 },
      proxy: {
        admin: '127.0.0.1:0',
        mediaAddress: '127.0.0.1',
        rtpPorts: { start: 43000, end: 43999 },
        rtsp: { listen: '127.0.0.1:0', demo: false },
        routes: [
          {
            name: 'steady',
            listen: `127.0.0.1:${steadyPort}`,
            rtcpMux: true,
            destinations: [{ address: `127.0.0.1:${oldDestination.port}` }],
          },
        ],
      },
      signaling: { admin: '127.0.0.1:0', listen: '127.0.0.1:0' },
    };
    plane = await startControlPlane({
      config: validateConfig(meshInput, 'test'),
      log,
      credentials: AdminCredentials.ofToken(adminToken),
    });
    const nodeConfig = validateConfig(
      {
        ...meshInput,
        controlPlane: { ...meshInput.controlPlane, grpc: formatHostPort(plane.grpc) },
      },
      'proxy',
    );
    proxy = await startProxy(nodeConfig, log);
    await waitFor(
      async () => {
        const streams = await getJson<StreamsBody>(`${proxyUrl()}/streams`);
        return streams.body.routes.some((route) => route.name === 'steady') ? true : undefined;
      },
      5_000,
      () => 'the first config on the proxy',
    );
  });

  after(async () => {
    await proxy.close();
    await plane.close();
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    for (const peer of [sender, oldDestination, newDestination]) peer.close();
  });

  it('is NACKed naming the L7 service, and the relay forwards on the old route and not the new', async () => {
    const before = await getJson<{ version: string }>(`${proxyUrl()}/config_dump`);
    await sendBurst(steadyPort, 5);
    await oldDestination.waitForCount(5);

    const candidate = structuredClone(meshInput);
    candidate.proxy = {
      ...candidate.proxy,
      routes: [
        ...(candidate.proxy?.routes ?? []),
        {
          name: 'added',
          listen: `127.0.0.1:${addedPort}`,
          rtcpMux: true,
          destinations: [{ address: `127.0.0.1:${newDestination.port}` }],
        },
      ],
      http: { listeners: [{ name: 'web', listen: `127.0.0.1:${takenPort}` }] },
    };
    const put = await putText<{ version: string }>(
      `${planeUrl()}/config`,
      JSON.stringify(candidate),
      adminToken,
    );
    assert.equal(put.status, 200);
    const nack = await waitFor(
      async () => {
        const nodes = await getJson<NodesBody>(`${planeUrl()}/nodes`);
        return nodes.body.nodes.find((node) => node.role === 'ROLE_PROXY')?.lastNack;
      },
      5_000,
      () => 'the proxy NACK',
    );
    assert.match(nack.reason, /^l7: .*EADDRINUSE/);
    const dump = await getJson<{ version: string }>(`${proxyUrl()}/config_dump`);
    assert.equal(dump.body.version, before.body.version, 'the old config stays in force');

    await sendBurst(steadyPort, 20);
    await sendBurst(addedPort, 20);
    await oldDestination.waitForCount(25);
    await sleep(100);
    assert.equal(oldDestination.received.length, 25);
    assert.equal(newDestination.received.length, 0, 'nothing reaches the new route');
    const streams = await getJson<StreamsBody>(`${proxyUrl()}/streams`);
    assert.deepEqual(
      streams.body.routes.map((route) => [route.name, route.packetsIn]),
      [['steady', 25]],
    );
    assert.ok(await canBindUdp(addedPort), 'the new route left no socket bound');

    // The push's non-config part (the new route's PLACEMENT) is sent apart
    // under the refused version and ACKed: the control plane still records
    // the old version as the one the proxy holds.
    const proxyNode = await waitFor(
      async () => {
        const node = (await getJson<NodesBody>(`${planeUrl()}/nodes`)).body.nodes.find(
          (found) => found.role === 'ROLE_PROXY',
        );
        const placement = node?.resources.find(
          (state) => state.type === 'PLACEMENT' && state.name === 'route/added',
        );
        return placement?.acked === null || placement === undefined ? undefined : node;
      },
      10_000,
      () => 'the PLACEMENT of route/added ACKed',
    );
    assert.equal(proxyNode.ackedVersion, before.body.version, 'the refused version is not ACKed');
    assert.equal(proxyNode.lastNack?.version, put.body.version);
  });
});
