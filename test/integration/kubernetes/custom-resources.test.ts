/**
 * Camera and MediaRoute against a real API server (etcd + kube-apiserver,
 * test/helpers/kube/api-server.ts): the generated CRDs applied and
 * Established, a control plane in this process with
 * controlPlane.registry: kubernetes (leader election off, mTLS off) and a
 * real rtp-proxy node, objects written with `kubectl apply -f -` as people
 * write them. What is checked is what each side really holds: the statuses
 * the API server stores, the control plane's GET /config, the proxy's
 * GET /streams (the paths and routes it runs), an RTSP DESCRIBE through the
 * proxy and RTP relayed by a MediaRoute.
 *
 * The Camera's camera is the proxy's own built-in demo path (a looped H.264
 * clip served over RTSP): a real RTSP source at no cost. No kubelet runs:
 * the mesh's processes run here, outside any pod.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validateConfig, type MeshConfig } from '../../../src/config/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { httpUrl } from '../../../src/shared/address.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { startProxy, type RunningProxy } from '../../../rtp-proxy/index.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, getText } from '../../helpers/http.js';
import { startKubeApiServer, type KubeApiServer } from '../../helpers/kube/api-server.js';
import { freePort } from '../../helpers/ports.js';
import { repoRoot, waitFor } from '../../helpers/process.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { rtp, UdpPeer } from '../../helpers/udp.js';
import { kubernetesControlPlane } from '../../helpers/kube/control-plane-config.js';

const NAMESPACE = 'mesh';
const PROXY_ID = 'proxy-crd';

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}

interface Streams {
  routes: { name: string }[];
  rtsp: { paths: { name: string }[] };
}

describe('custom resources Camera and MediaRoute', { timeout: 240_000 }, () => {
  let api: KubeApiServer;
  /** What before() started, stopped in reverse order by after() (also when before() failed midway). */
  const started: { close(): Promise<void> }[] = [];
  let rtspPort: number;
  let adminUrl: string;
  let proxyUrl: string;
  let config: MeshConfig;
  /** The control plane serving now (a test restarts it). */
  let plane: RunningControlPlane;

  /** `kubeconfig`: another way to the API server than the config's (a slow one). */
  const startPlane = async (kubeconfig?: string): Promise<RunningControlPlane> =>
    startControlPlane({
      config:
        kubeconfig === undefined
          ? config
          : {
              ...config,
              controlPlane: {
                ...config.controlPlane,
                kubernetes: { ...config.controlPlane.kubernetes, kubeconfig },
              },
            },
      log: createLogger('control-plane', config.logLevel),
      credentials: AdminCredentials.ofToken(newAdminToken()),
      env: {},
    });

  before(async () => {
    api = await startKubeApiServer();
    started.push(api);
    await api.kubectl(['apply', '--server-side', '-f', `${repoRoot}/helm/streammesh/crds/`]);
    await api.kubectl([
      'wait',
      '--for=condition=Established',
      'crd/cameras.streammesh.io',
      'crd/mediaroutes.streammesh.io',
      '--timeout=60s',
    ]);
    await api.kubectl(['create', 'namespace', NAMESPACE]);
    rtspPort = await freePort();
    const grpcPort = await freePort((port) => port !== rtspPort);
    config = validateConfig(
      {
        logLevel: process.env['STREAMMESH_TEST_LOG'] ?? 'silent',
        controlPlane: kubernetesControlPlane({
          kubeconfig: api.kubeconfig,
          namespace: NAMESPACE,
          grpcPort,
        }),
        proxy: {
          id: PROXY_ID,
          admin: '127.0.0.1:0',
          rtsp: { listen: `127.0.0.1:${rtspPort}`, demo: true },
        },
        signaling: { admin: '127.0.0.1:0', listen: '127.0.0.1:0' },
      },
      'custom resources test',
    );
    plane = await startPlane();
    started.push({ close: async () => plane.close() });
    const proxy: RunningProxy = await startProxy(config, createLogger('proxy', config.logLevel));
    started.push(proxy);
    adminUrl = httpUrl(plane.admin);
    proxyUrl = httpUrl(proxy.admin);
    await proxy.serving();
  });

  after(async () => {
    for (const part of started.reverse()) await part.close();
  });

  const apply = (yaml: string): Promise<string> =>
    api.kubectl(['apply', '-n', NAMESPACE, '-f', '-'], yaml);

  async function conditions(resource: string): Promise<Condition[]> {
    const json = await api.kubectl(['get', '-n', NAMESPACE, resource, '-o', 'json']);
    const object = JSON.parse(json) as { status?: { conditions?: Condition[] } };
    return object.status?.conditions ?? [];
  }

  /** Waits until `resource` has a condition of `type` with `status` and `reason`; returns it. */
  async function waitCondition(
    resource: string,
    type: string,
    status: string,
    reason: string,
  ): Promise<Condition> {
    let last: Condition[] = [];
    return waitFor(
      async () => {
        last = await conditions(resource);
        const found = last.find((condition) => condition.type === type);
        return found?.status === status && found.reason === reason ? found : undefined;
      },
      20_000,
      () => `${resource} ${type}=${status}/${reason}; it has ${JSON.stringify(last)}`,
    );
  }

  async function served(): Promise<MeshConfig> {
    return (await getJson<{ config: MeshConfig }>(`${adminUrl}/config`)).body.config;
  }

  async function streams(): Promise<Streams> {
    return (await getJson<Streams>(`${proxyUrl}/streams`)).body;
  }

  async function describePath(path: string): Promise<number | undefined> {
    const client = await RtspTestClient.connect(rtspPort);
    try {
      const response = await client.request('DESCRIBE', `rtsp://127.0.0.1:${rtspPort}/${path}`, {
        Accept: 'application/sdp',
      });
      return response?.status;
    } finally {
      client.close();
    }
  }

  async function gauge(kind: string, state: string): Promise<number> {
    const { text } = await getText(`${adminUrl}/metrics`);
    const line = text
      .split('\n')
      .find(
        (item) =>
          item.startsWith('streammesh_custom_resources{') &&
          item.includes(`kind="${kind}"`) &&
          item.includes(`state="${state}"`),
      );
    return Number(line?.split(' ').at(-1) ?? Number.NaN);
  }

  it('a valid Camera is Accepted and Programmed, served by the proxy; an invalid one never reaches it', async () => {
    await apply(
      [
        'apiVersion: streammesh.io/v1alpha1',
        'kind: Camera',
        'metadata: { name: door }',
        `spec: { source: "rtsp://127.0.0.1:${rtspPort}/demo" }`,
        '---',
        'apiVersion: streammesh.io/v1alpha1',
        'kind: Camera',
        'metadata: { name: bad }',
        'spec: { source: "http://x", lingerMs: "soon" }',
      ].join('\n'),
    );
    const accepted = await waitCondition('camera/door', 'Accepted', 'True', 'Accepted');
    assert.equal(accepted.observedGeneration, 1);
    await waitCondition('camera/door', 'Programmed', 'True', 'Programmed');
    assert.equal(
      (await served()).proxy.rtsp.paths['door']?.source,
      `rtsp://127.0.0.1:${rtspPort}/demo`,
    );
    assert.ok(
      (await streams()).rtsp.paths.some((path) => path.name === 'door'),
      'the proxy runs the path',
    );
    assert.equal(
      await describePath('door'),
      200,
      'DESCRIBE through the proxy, pulled from the camera',
    );

    const invalid = await waitCondition('camera/bad', 'Accepted', 'False', 'Invalid');
    assert.match(invalid.message, /spec\.source: must be an rtsp:\/\/ URL, not http:\/\//);
    assert.match(invalid.message, /spec\.lingerMs: expected a number/);
    await waitCondition('camera/bad', 'Programmed', 'False', 'Invalid');
    assert.equal((await served()).proxy.rtsp.paths['bad'], undefined, 'in no pushed config');
    assert.ok(
      !(await streams()).rtsp.paths.some((path) => path.name === 'bad'),
      'not on the proxy',
    );
    assert.equal(await describePath('bad'), 404);
    assert.equal(await gauge('Camera', 'accepted'), 1);
    assert.equal(await gauge('Camera', 'refused'), 1);
  });

  it('a valid MediaRoute relays RTP; a second one on its listen address is Conflicted', async () => {
    const receiver = await UdpPeer.bind();
    const sender = await UdpPeer.bind();
    try {
      const listen = await freePort();
      await apply(
        [
          'apiVersion: streammesh.io/v1alpha1',
          'kind: MediaRoute',
          'metadata: { name: relay }',
          `spec: { listen: "127.0.0.1:${listen}", rtcpMux: true, destinations: [{ address: "127.0.0.1:${receiver.port}", rtcpMux: true }] }`,
        ].join('\n'),
      );
      await waitCondition('mediaroute/relay', 'Programmed', 'True', 'Programmed');
      // Applied after the first is programmed: the older of the two keeps the address.
      await apply(
        [
          'apiVersion: streammesh.io/v1alpha1',
          'kind: MediaRoute',
          'metadata: { name: relay-copy }',
          `spec: { listen: "127.0.0.1:${listen}", destinations: [{ address: "127.0.0.1:${receiver.port}" }] }`,
        ].join('\n'),
      );
      const conflicted = await waitCondition(
        'mediaroute/relay-copy',
        'Accepted',
        'False',
        'Conflicted',
      );
      assert.match(
        conflicted.message,
        new RegExp(`listen 127\\.0\\.0\\.1:${listen} is also MediaRoute relay's`),
      );
      assert.deepEqual(
        (await served()).proxy.routes.map((route) => route.name),
        ['relay'],
      );
      assert.deepEqual(
        (await streams()).routes.map((route) => route.name),
        ['relay'],
      );
      let sequence = 0;
      await waitFor(
        async () => {
          sequence += 1;
          await sender.send(
            rtp({ ssrc: 0x1234, sequence, timestamp: sequence * 3000, payloadType: 96 }),
            listen,
          );
          return receiver.received.length > 0 ? true : undefined;
        },
        5_000,
        () => 'RTP relayed by the MediaRoute',
      );
    } finally {
      sender.close();
      receiver.close();
    }
  });

  it('edited to be invalid, a Camera is withdrawn; deleted, its path is closed', async () => {
    await apply(
      [
        'apiVersion: streammesh.io/v1alpha1',
        'kind: Camera',
        'metadata: { name: door }',
        'spec: { source: "ftp://127.0.0.1/door" }',
      ].join('\n'),
    );
    const refused = await waitCondition('camera/door', 'Accepted', 'False', 'Invalid');
    assert.equal(refused.observedGeneration, 2);
    assert.match(refused.message, /spec\.source: must be an rtsp:\/\/ URL, not ftp:\/\//);
    assert.match(refused.message, /withdrawn/);
    await waitFor(
      async () =>
        (await streams()).rtsp.paths.some((path) => path.name === 'door') ? undefined : true,
      10_000,
      () => 'the proxy to close the withdrawn path',
    );
    assert.equal((await served()).proxy.rtsp.paths['door'], undefined);

    await apply(
      [
        'apiVersion: streammesh.io/v1alpha1',
        'kind: Camera',
        'metadata: { name: door }',
        `spec: { source: "rtsp://127.0.0.1:${rtspPort}/demo" }`,
      ].join('\n'),
    );
    await waitCondition('camera/door', 'Programmed', 'True', 'Programmed');
    assert.equal(await describePath('door'), 200);
    await api.kubectl(['delete', '-n', NAMESPACE, 'camera/door', '--wait=true']);
    await waitFor(
      async () =>
        (await streams()).rtsp.paths.some((path) => path.name === 'door') ? undefined : true,
      10_000,
      () => 'the proxy to close the deleted Camera path',
    );
    assert.equal((await served()).proxy.rtsp.paths['door'], undefined);
    assert.equal(await describePath('door'), 404);
  });

  it('a restarted control plane never serves the proxy a config without its Cameras', async () => {
    // As after every failover: the proxy reconnects within 200 ms of the new control plane
    // binding its gRPC port. A config without the Camera would tear its path down, and with it
    // the viewer's session; a config with it changes nothing, and the viewer keeps receiving RTP.
    // The new control plane reaches the API server through a forwarder that holds each
    // connection back a while, as a busy API server would: a control plane serving before its
    // lists are in would serve the proxy the file's config alone for that long.
    const slow = await slowForwarder(api.url, API_DELAY_MS);
    const slowKubeconfig = join(api.dir, 'kubeconfig-slow');
    await writeFile(
      slowKubeconfig,
      (await readFile(api.kubeconfig, 'utf8')).replaceAll(api.url, slow.url),
    );
    await apply(
      [
        'apiVersion: streammesh.io/v1alpha1',
        'kind: Camera',
        'metadata: { name: gate }',
        `spec: { source: "rtsp://127.0.0.1:${rtspPort}/demo" }`,
      ].join('\n'),
    );
    await waitCondition('camera/gate', 'Programmed', 'True', 'Programmed');
    const viewer = await RtspTestClient.connect(rtspPort);
    try {
      const url = `rtsp://127.0.0.1:${rtspPort}/gate`;
      assert.equal((await viewer.request('DESCRIBE', url))?.status, 200);
      const setup = await viewer.request('SETUP', `${url}/trackID=0`, {
        Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
      });
      assert.equal(setup?.status, 200);
      const session = setup.headers.get('Session')?.split(';')[0] ?? '';
      assert.equal((await viewer.request('PLAY', url, { Session: session }))?.status, 200);
      const rtpFrames = (): number => viewer.frames.filter((frame) => frame.channel === 0).length;
      await waitFor(
        () => (rtpFrames() > 0 ? true : undefined),
        10_000,
        () => 'RTP to the viewer',
      );

      for (let restart = 1; restart <= 2; restart += 1) {
        await plane.close();
        plane = await startPlane(slowKubeconfig);
        adminUrl = httpUrl(plane.admin);
        const version = (await getJson<{ version: string }>(`${adminUrl}/config`)).body.version;
        // The proxy reconnected and acknowledged the new control plane's config.
        await waitFor(
          async () => {
            const { body } = await getJson<{ nodes: { id: string; ackedVersion: string }[] }>(
              `${adminUrl}/nodes`,
            );
            return body.nodes.some((node) => node.id === PROXY_ID && node.ackedVersion === version)
              ? true
              : undefined;
          },
          15_000,
          () => `the proxy acknowledging version ${version} of restart ${restart}`,
        );
        const before = rtpFrames();
        await waitFor(
          () => (rtpFrames() > before ? true : undefined),
          5_000,
          () => `RTP to the viewer after restart ${restart} (its session kept)`,
        );
        assert.ok(
          (await streams()).rtsp.paths.some((path) => path.name === 'gate'),
          'the proxy still runs the path',
        );
      }
      assert.equal(
        (await viewer.request('GET_PARAMETER', url, { Session: session }))?.status,
        200,
        'the session lived through both restarts',
      );
    } finally {
      viewer.close();
      await slow.close();
    }
  });
});

/** How long the slow forwarder holds each connection to the API server back. */
const API_DELAY_MS = 1_500;

/** A TCP forwarder to `target` (https://host:port) that connects each client `delayMs` late. */
async function slowForwarder(
  target: string,
  delayMs: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.pause();
    const timer = setTimeout(() => {
      const upstream = connect({ host: hostname, port: Number(port) });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.pipe(upstream).pipe(client);
      client.resume();
    }, delayMs);
    client.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, hostname, resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `https://${hostname}:${address.port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
