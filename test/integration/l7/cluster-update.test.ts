/**
 * A config that changes only a cluster's endpoint list updates the running
 * cluster in place, against real node:http backends: an outlier-ejected
 * endpoint stays ejected when another is added (and the new one gets
 * traffic), a keep-alive connection to a kept endpoint is reused across the
 * change, an endpoint failing its health checks stays out, and a removed
 * endpoint loses its pooled connection and its health checks. Rebuilding the
 * cluster (the old behaviour) fails each of these.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { httpSchema } from '../../../src/config/http-schema.js';
import {
  clientAgent,
  countConnections,
  delay,
  send,
  startBackend,
  startProxy,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';
import { freePort } from '../../helpers/ports.js';

/** A one-route proxy config on `port` to cluster "app" with `endpoints` and `cluster` settings. */
function configTo(
  port: number,
  endpoints: readonly Backend[],
  cluster: Record<string, unknown> = {},
) {
  return {
    listeners: [{ name: 'edge', listen: `127.0.0.1:${port}` }],
    routes: [{ name: 'all', match: { path: { prefix: '/' } }, action: { cluster: 'app' } }],
    clusters: [{ name: 'app', endpoints: endpoints.map((backend) => backend.address), ...cluster }],
  };
}

/** Sends the config again with another endpoint list, on the listener already bound. */
async function pushEndpoints(
  proxy: RunningProxy,
  endpoints: readonly Backend[],
  cluster: Record<string, unknown> = {},
): Promise<void> {
  // The same listener config: only the endpoint list differs.
  await proxy.service.apply(httpSchema.parse(configTo(proxy.port, endpoints, cluster)));
}

/** Requests (not health checks) that reached `backend`. */
function served(backend: Backend): number {
  return backend.seen.filter((request) => request.path !== '/health').length;
}

function healthChecks(backend: Backend): number {
  return backend.seen.filter((request) => request.path === '/health').length;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 250; i += 1) {
    if (await check()) return;
    await delay(20);
  }
  assert.fail(`timed out waiting: ${what}`);
}

/** Counts connections the backend accepted, and tracks the open ones. */
describe('cluster endpoint update in place', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    clientAgent.destroy();
  });
  async function backends(...names: string[]): Promise<Backend[]> {
    const started = await Promise.all(names.map((name) => startBackend(name)));
    for (const backend of started) cleanups.push(() => backend.close());
    return started;
  }
  async function proxyFor(
    endpoints: readonly Backend[],
    cluster: Record<string, unknown> = {},
  ): Promise<RunningProxy> {
    const proxy = await startProxy(configTo(await freePort(), endpoints, cluster));
    cleanups.push(() => proxy.close());
    return proxy;
  }

  it('keeps an ejected endpoint ejected when another is added, and sends the new one traffic', async () => {
    const [a, b, c] = await backends('a', 'b', 'c');
    if (a === undefined || b === undefined || c === undefined) throw new Error('backends');
    a.handler = (req, res) => {
      req.resume();
      res.writeHead(500).end('a fails');
    };
    const outlier = { consecutive5xx: 3, baseEjectionMs: 60_000, maxEjectionPercent: 100 };
    const proxy = await proxyFor([a, b], { outlier });
    const available = (backend: Backend): Promise<number> =>
      proxy.metric('streammesh_http_endpoint_available', { endpoint: backend.address });
    for (let i = 0; i < 12 && (await available(a)) === 1; i += 1) {
      await send(proxy.port, { host: 'app', path: `/warm/${i}` });
    }
    assert.equal(await available(a), 0, 'a ejected after consecutive 5xx');
    const aBefore = served(a);

    await pushEndpoints(proxy, [a, b, c], { outlier });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      statuses.push((await send(proxy.port, { host: 'app', path: `/after/${i}` })).status);
    }
    assert.equal(served(a), aBefore, 'no request reached the ejected endpoint');
    assert.deepEqual(
      statuses,
      Array.from({ length: 10 }, () => 200),
    );
    assert.ok(served(c) >= 4, `the added endpoint got traffic (${served(c)} of 10)`);
    assert.equal(await available(a), 0);
    assert.equal(await available(c), 1, 'the added endpoint starts in service');
  });

  it('reuses a keep-alive connection to a kept endpoint across the change', async () => {
    const [b, c] = await backends('b', 'c');
    if (b === undefined || c === undefined) throw new Error('backends');
    const connections = countConnections(b);
    const proxy = await proxyFor([b]);
    for (let i = 0; i < 3; i += 1) {
      assert.equal((await send(proxy.port, { host: 'app', path: `/before/${i}` })).status, 200);
    }
    assert.equal(connections.accepted(), 1, 'one pooled connection before the change');
    const bBefore = served(b);

    await pushEndpoints(proxy, [b, c]);
    for (let i = 0; i < 6; i += 1) {
      assert.equal((await send(proxy.port, { host: 'app', path: `/after/${i}` })).status, 200);
    }
    assert.ok(served(b) - bBefore >= 2, 'b still served after the change');
    assert.ok(served(c) >= 2, 'c served after the change');
    assert.equal(connections.accepted(), 1, 'the same upstream connection to b, not a new one');
  });

  it('keeps an endpoint that fails its health checks out after an unrelated endpoint is added', async () => {
    const [h, b, c] = await backends('h', 'b', 'c');
    if (h === undefined || b === undefined || c === undefined) throw new Error('backends');
    let checks = 0;
    h.handler = (req, res) => {
      req.resume();
      if (req.url !== '/health') {
        res.end('h');
        return;
      }
      checks += 1;
      // The first check fails at once; later ones hang until their timeout,
      // so a fresh checker would see h healthy for two seconds.
      if (checks === 1) res.writeHead(503).end();
    };
    const healthCheck = { path: '/health', intervalMs: 100, timeoutMs: 2_000, unhealthy: 1 };
    const proxy = await proxyFor([h, b], { healthCheck });
    await waitFor(
      'h marked unhealthy',
      async () =>
        (await proxy.metric('streammesh_http_endpoint_available', { endpoint: h.address })) === 0,
    );
    const hBefore = served(h);

    await pushEndpoints(proxy, [h, b, c], { healthCheck });
    for (let i = 0; i < 10; i += 1) {
      assert.equal((await send(proxy.port, { host: 'app', path: `/after/${i}` })).status, 200);
    }
    assert.equal(served(h), hBefore, 'no request reached the unhealthy endpoint');
    assert.ok(served(c) >= 4, `the added endpoint got traffic (${served(c)} of 10)`);
    await waitFor('the added endpoint is health-checked', () => healthChecks(c) > 0);
  });

  it("closes a removed endpoint's pooled connection and stops its health checks", async () => {
    const [b, c] = await backends('b', 'c');
    if (b === undefined || c === undefined) throw new Error('backends');
    const cConnections = countConnections(c);
    const healthCheck = { path: '/health', intervalMs: 50 };
    const proxy = await proxyFor([b, c], { healthCheck });
    for (let i = 0; i < 4; i += 1) {
      assert.equal((await send(proxy.port, { host: 'app', path: `/before/${i}` })).status, 200);
    }
    assert.ok(served(c) >= 1, 'c served before');
    await waitFor('c health-checked', () => healthChecks(c) >= 2);

    await pushEndpoints(proxy, [b], { healthCheck });
    await waitFor('c has no open connection from the proxy', () => cConnections.open.size === 0);
    await delay(100);
    const checksAfter = healthChecks(c);
    await delay(300);
    assert.equal(healthChecks(c), checksAfter, 'no health check of c after its removal');
    const cServed = served(c);
    for (let i = 0; i < 4; i += 1) {
      assert.equal((await send(proxy.port, { host: 'app', path: `/after/${i}` })).status, 200);
    }
    assert.equal(served(c), cServed, 'no request to the removed endpoint');
  });
});
