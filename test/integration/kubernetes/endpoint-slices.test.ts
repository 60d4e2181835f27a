/**
 * HTTP traffic follows a Service's EndpointSlices: a control plane with
 * controlPlane.registry: kubernetes against a real API server, a real
 * rtp-proxy node whose cluster "api" names the Service "api" (port "http"),
 * and real node:http backends on loopback that answer who they are.
 *
 * There is no controller-manager here, so the test writes the
 * EndpointSlice itself, as the EndpointSlice controller would: labelled
 * kubernetes.io/service-name=api, one endpoint per backend "pod" with its
 * readiness in conditions, rewritten as pods come and go. The API server
 * refuses loopback addresses in EndpointSlices, so each backend listens on
 * an address of its own on a test bridge in this network namespace
 * (netns.ts), all on the same port, as pods of one Deployment do.
 *
 * Shown: a backend added starts receiving requests and one removed or
 * unready stops; an endpoint the proxy ejected (outlier detection) stays
 * ejected when a fourth endpoint is added, so the cluster was updated in
 * place and not rebuilt; a Service with no ready endpoint is answered 503,
 * the node acknowledging that config rather than refusing it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type KubeApiServer } from '../../helpers/kube/api-server.js';
import { clientAgent, send } from '../../helpers/l7-harness.js';
import { NetnsLab, netnsUnavailable } from '../../helpers/netns.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { startDiscoveryMesh, type DiscoveryMesh } from './discovery-mesh.js';

const NAMESPACE = 'web';
const PROXY_ID = 'streammesh-proxy-slices';
const BASE_EJECTION_MS = 60_000;

/** A backend "pod": a node:http server on its own address that answers its name. */
interface Backend {
  readonly name: string;
  readonly ip: string;
  /** host:port, as the proxy names the endpoint. */
  readonly address: string;
  /** Paths of the requests that reached it. */
  readonly seen: string[];
  /** Answers 500 while set. */
  failing: boolean;
  readonly server: Server;
}

async function startBackend(name: string, ip: string, port: number): Promise<Backend> {
  const server = createServer();
  const backend: Backend = { name, ip, address: `${ip}:${port}`, seen: [], failing: false, server };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    backend.seen.push(req.url ?? '');
    req.resume();
    res.writeHead(backend.failing ? 500 : 200, { 'x-backend': name }).end(name);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, resolve);
  });
  return backend;
}

/** The EndpointSlice the controller would write for `service`'s pods `ready` and `unready`. */
function slice(
  service: string,
  port: number,
  ready: readonly Backend[],
  unready: readonly Backend[] = [],
): Record<string, unknown> {
  const endpoint = (backend: Backend, isReady: boolean) => ({
    addresses: [backend.ip],
    conditions: { ready: isReady, serving: isReady, terminating: false },
    targetRef: { kind: 'Pod', name: `${service}-${backend.name}`, namespace: NAMESPACE },
  });
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${service}-x7k2p`,
      namespace: NAMESPACE,
      labels: {
        'kubernetes.io/service-name': service,
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      },
    },
    addressType: 'IPv4',
    endpoints: [
      ...ready.map((backend) => endpoint(backend, true)),
      ...unready.map((backend) => endpoint(backend, false)),
    ],
    ports: [{ name: 'http', port, protocol: 'TCP' }],
  };
}

/** Requests (by path prefix) that reached `backend`. */
const served = (backend: Backend, prefix: string): number =>
  backend.seen.filter((path) => path.startsWith(prefix)).length;

const skip = netnsUnavailable();

/**
 * Resets every TCP connection this process holds to the API server (ss -K,
 * root): what a dropped watch looks like to the control plane.
 */
function cutApiServerConnections(url: string): () => number {
  const { hostname, port } = new URL(url);
  return () => {
    let cut = 0;
    const listed = spawnSync(
      'ss',
      ['-tnpH', 'state', 'established', 'dst', hostname, 'dport', '=', `:${port}`],
      { encoding: 'utf8' },
    ).stdout;
    for (const line of listed.split('\n')) {
      if (!line.includes(`pid=${process.pid},`)) continue;
      const local = line.trim().split(/\s+/)[2] ?? '';
      const localPort = local.slice(local.lastIndexOf(':') + 1);
      spawnSync('ss', [
        ...['-K', '-tn', 'dst', hostname, 'dport', '=', `:${port}`],
        ...['sport', '=', `:${localPort}`],
      ]);
      cut += 1;
    }
    return cut;
  };
}

describe('EndpointSlices: HTTP traffic follows the Service', { skip }, () => {
  let kube: KubeApiServer;
  let lab: NetnsLab;
  let mesh: DiscoveryMesh;
  let listenPort: number;
  let backendPort: number;
  const backends: Backend[] = [];
  /** What before() started, stopped in reverse order (also when before() failed half-way). */
  const cleanups: (() => Promise<void> | void)[] = [];

  const apply = async (ready: readonly Backend[], unready: readonly Backend[] = []) => {
    await kube.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(slice('api', backendPort, ready, unready)),
    );
  };
  const request = (path: string) => send(listenPort, { host: 'api', path });
  /** Sends requests under `prefix` until `done` holds (at most 400). */
  const sendUntil = async (prefix: string, done: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 400; i += 1) {
      await request(`${prefix}/${i}`);
      if (done()) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.fail(`after 400 requests: ${what}`);
  };
  /** Waits until the node runs the control plane's current config. */
  const nodeAcked = async () => {
    const version = await mesh.version();
    return waitFor(
      async () => (await mesh.nodes()).find((n) => n.id === PROXY_ID && n.ackedVersion === version),
      5_000,
      () => `node acknowledging ${version}`,
    );
  };
  const backend = (index: number): Backend => backends[index] ?? assert.fail(`no backend ${index}`);

  before(async () => {
    kube = await startKubeApiServer();
    cleanups.push(() => kube.close());
    await kube.kubectl(['create', 'namespace', NAMESPACE]);
    lab = NetnsLab.create([]);
    cleanups.push(() => lab.close());
    const subnet = lab.rootAddress.replace(/\.1$/, '');
    backendPort = await freePort();
    for (const [index, name] of ['b1', 'b2', 'b3', 'b4'].entries()) {
      const ip = `${subnet}.${2 + index}`;
      const added = spawnSync('ip', ['addr', 'add', `${ip}/24`, 'dev', lab.bridge], {
        encoding: 'utf8',
      });
      if (added.status !== 0) throw new Error(`ip addr add ${ip}: ${added.stderr}`);
      const started = await startBackend(name, ip, backendPort);
      backends.push(started);
      cleanups.push(async () => {
        started.server.closeAllConnections();
        await new Promise((resolve) => started.server.close(resolve));
      });
    }
    listenPort = await freePort();
    mesh = await startDiscoveryMesh({
      kubeconfig: kube.kubeconfig,
      namespace: NAMESPACE,
      proxyId: PROXY_ID,
      http: httpConfig(),
    });
    cleanups.push(() => mesh.close());
    await mesh.proxy.serving();
  });

  /** The proxy's http section: cluster "api", and whatever `extra` adds before it. */
  const httpConfig = (
    extra: { routes: unknown[]; clusters: unknown[] } = { routes: [], clusters: [] },
  ) => ({
    listeners: [{ name: 'edge', listen: `127.0.0.1:${listenPort}` }],
    routes: [
      ...extra.routes,
      { name: 'all', match: { path: { prefix: '/' } }, action: { cluster: 'api' } },
    ],
    clusters: [
      ...extra.clusters,
      {
        name: 'api',
        service: { name: 'api', port: 'http' },
        // Half the cluster may be ejected: one of three endpoints.
        outlier: {
          consecutive5xx: 3,
          baseEjectionMs: BASE_EJECTION_MS,
          maxEjectionPercent: 50,
        },
      },
    ],
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    clientAgent.destroy();
  });

  it('sends traffic to the endpoints the slice lists, following scale up and down', async () => {
    const [b1, b2, b3] = [backend(0), backend(1), backend(2)];
    await apply([b1, b2]);
    await sendUntil(
      '/two',
      () => served(b1, '/two') > 0 && served(b2, '/two') > 0,
      'b1 and b2 both served',
    );
    assert.equal(served(b3, '/two'), 0, 'b3 is not in the slice');

    // Scale up: a third pod, ready.
    await apply([b1, b2, b3]);
    await sendUntil('/three', () => served(b3, '/three') > 0, 'b3 served once listed');

    // Scale down: b1's pod gone from the slice, b2's unready.
    await apply([b3], [b2]);
    await nodeAcked();
    for (let i = 0; i < 20; i += 1) assert.equal((await request(`/one/${i}`)).status, 200);
    assert.equal(served(b1, '/one'), 0, 'the removed endpoint gets nothing');
    assert.equal(served(b2, '/one'), 0, 'the unready endpoint gets nothing');
    assert.equal(served(b3, '/one'), 20);
  });

  it('keeps an ejected endpoint ejected when a fourth endpoint is added (the cluster is updated in place)', async () => {
    const [b1, b2, b3, b4] = [backend(0), backend(1), backend(2), backend(3)];
    await apply([b1, b2, b3]);
    await sendUntil(
      '/all',
      () => served(b1, '/all') > 0 && served(b2, '/all') > 0 && served(b3, '/all') > 0,
      'b1, b2 and b3 served',
    );
    // b1 fails until the proxy ejects it.
    b1.failing = true;
    const available = (b: Backend): Promise<number> =>
      mesh.proxyMetric('streammesh_http_endpoint_available', {
        cluster: 'api',
        endpoint: b.address,
      });
    // The gauge is summed over the proxy's L7 threads (one series each): the
    // thread that ejects shares the ejection with the others.
    const threads = await mesh.proxyMetric('streammesh_l7_threads');
    assert.ok(threads >= 1);
    for (let i = 0; i < 60 && (await available(b1)) > 0; i += 1) await request(`/fail/${i}`);
    assert.equal(await available(b1), 0, 'b1 ejected after consecutive 5xx, on every L7 thread');
    const ejectedAt = Date.now();
    const b1Before = b1.seen.length;

    await apply([b1, b2, b3, b4]);
    await sendUntil('/four', () => served(b4, '/four') > 0, 'b4 served once listed');
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 1) statuses.push((await request(`/after/${i}`)).status);
    assert.ok(Date.now() - ejectedAt < BASE_EJECTION_MS, 'still within the ejection time');
    assert.equal(b1.seen.length, b1Before, 'the ejected endpoint received nothing');
    assert.deepEqual(
      statuses,
      statuses.map(() => 200),
    );
    for (const b of [b2, b3, b4]) assert.ok(served(b, '/after') > 0, `${b.name} served`);
    assert.equal(await available(b1), 0);
    assert.equal(await available(b4), threads, 'the added endpoint starts in service');
    b1.failing = false;
  });

  it('answers 503 when the Service has no ready endpoint, the node acknowledging the config', async () => {
    await apply([], backends);
    await waitFor(
      async () => ((await request('/none')).status === 503 ? true : undefined),
      5_000,
      () => 'a 503 with no ready endpoint',
    );
    const node = await nodeAcked();
    assert.equal(node.lastNack, undefined, 'the empty cluster was not refused');
    for (let i = 0; i < 5; i += 1) assert.equal((await request(`/none/${i}`)).status, 503);

    // And back: one ready endpoint serves again.
    await apply([backend(2)]);
    await waitFor(
      async () => ((await request('/back')).status === 200 ? true : undefined),
      5_000,
      () => 'served again once an endpoint is ready',
    );
  });
  it('follows the slices again after its connections to the API server are cut', async () => {
    const [, b2, b3] = [backend(0), backend(1), backend(2)];
    await apply([b3]);
    await sendUntil('/cut-before', () => served(b3, '/cut-before') > 0, 'b3 served');
    // Cut this process's connections to the API server (the watches among them)
    // for a second, while the slice changes: b3 leaves, b2 comes.
    const cut = cutApiServerConnections(kube.url);
    let connectionsCut = 0;
    const cutting = setInterval(() => (connectionsCut += cut()), 20);
    try {
      connectionsCut += cut();
      await apply([b2]);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } finally {
      clearInterval(cutting);
    }
    assert.ok(connectionsCut > 0, 'connections to the API server were cut');
    await sendUntil('/cut-after', () => served(b2, '/cut-after') > 0, 'b2 served after the cut');
    for (let i = 0; i < 10; i += 1) {
      assert.equal((await request(`/cut-settled/${i}`)).status, 200);
    }
    assert.equal(served(b3, '/cut-settled'), 0, 'b3, no longer listed, gets nothing');
  });

  it('watches the Service of a cluster the base config gains, and stops when it loses it', async () => {
    const b4 = backend(3);
    const withAdmin = {
      routes: [
        { name: 'admin', match: { path: { prefix: '/admin' } }, action: { cluster: 'admin' } },
      ],
      clusters: [{ name: 'admin', service: { name: 'admin-api', port: 'http' } }],
    };
    await mesh.putHttp(httpConfig(withAdmin));
    await nodeAcked();
    // Not listed yet (no slice): the file's endpoints, none, so 503.
    assert.equal((await request('/admin/none')).status, 503);
    await kube.kubectl(['apply', '-f', '-'], JSON.stringify(slice('admin-api', backendPort, [b4])));
    await sendUntil('/admin/', () => served(b4, '/admin/') > 0, 'b4 served for admin-api');

    // The cluster leaves the base: /admin goes to "api" again, whatever admin-api's slice says.
    await mesh.putHttp(httpConfig());
    await nodeAcked();
    const b4Before = b4.seen.length;
    for (let i = 0; i < 5; i += 1) assert.equal((await request(`/admin/gone/${i}`)).status, 200);
    assert.equal(b4.seen.length, b4Before, 'b4 (only in admin-api) gets nothing');
  });
});
