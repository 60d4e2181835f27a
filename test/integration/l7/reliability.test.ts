/**
 * What keeps a failing upstream from hurting callers, with real node:http
 * backends: retries only where safe, per-try timeouts, the retry budget
 * against a storm, outlier ejection and return, and circuit breaking.
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { freePort } from '../../helpers/ports.js';
import {
  clientAgent,
  delay,
  send,
  sendRaw,
  startBackend,
  startProxy,
  startProxyTo,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';

describe('HTTP proxy: reliability', () => {
  const running: { close(): Promise<void> }[] = [];
  const track = <T extends { close(): Promise<void> }>(item: T): T => {
    running.push(item);
    return item;
  };

  afterEach(async () => {
    for (const item of running.splice(0).reverse()) await item.close();
  });
  after(() => clientAgent.destroy());

  async function proxyTo(
    backends: readonly Backend[],
    action: Record<string, unknown>,
    cluster: Record<string, unknown> = {},
    http: Record<string, unknown> = {},
  ): Promise<RunningProxy> {
    return track(
      await startProxyTo(
        backends.map((backend) => backend.address),
        { action, cluster, http },
      ),
    );
  }

  it('retries a GET on 503 and answers from the next endpoint', async () => {
    const failing = track(await startBackend('failing'));
    const healthy = track(await startBackend('healthy'));
    failing.handler = (_req, res) => res.writeHead(503).end('down');
    const proxy = await proxyTo([failing, healthy], {
      retries: { attempts: 2, on: ['gateway-error'], backoff: { baseMs: 1, maxMs: 5 } },
    });
    for (let i = 0; i < 10; i += 1) {
      const answer = await send(proxy.port, { host: 'svc', path: `/get${i}` });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), 'healthy');
    }
    assert.ok(
      failing.seen.length >= 5,
      'round robin sends about half the first tries to the failing one',
    );
    const retried = healthy.seen.filter(
      (seen) => seen.headers['x-streammesh-attempt-count'] === '2',
    );
    assert.equal(retried.length, failing.seen.length, 'each failure was retried once');
    assert.equal(
      await proxy.metric('streammesh_http_retries_total', { result: 'made' }),
      failing.seen.length,
    );
  });

  it('does not retry a POST on 503, but does on a refused connection', async () => {
    const failing = track(await startBackend('failing'));
    failing.handler = (_req, res) => res.writeHead(503).end('down');
    const proxy = await proxyTo([failing], {
      retries: {
        attempts: 3,
        on: ['5xx', 'gateway-error', 'reset', 'connect-failure'],
        backoff: { baseMs: 1, maxMs: 5 },
      },
    });
    const answer = await send(proxy.port, {
      host: 'svc',
      path: '/order',
      method: 'POST',
      body: 'pay once',
    });
    assert.equal(answer.status, 503);
    assert.equal(failing.seen.length, 1, 'a POST that reached the upstream must not be sent again');

    const deadPort = await freePort();
    const live = track(await startBackend('live'));
    const proxy2 = await proxyTo([{ ...live, address: `127.0.0.1:${deadPort}` }, live], {
      retries: { attempts: 2, on: ['connect-failure'], backoff: { baseMs: 1, maxMs: 5 } },
    });
    for (let i = 0; i < 4; i += 1) {
      const posted = await send(proxy2.port, {
        host: 'svc',
        path: '/p',
        method: 'POST',
        body: `b${i}`,
      });
      assert.equal(posted.status, 200, 'a POST that never connected is safe to retry');
      assert.equal(posted.body.toString(), `b${i}`, 'the retried body is the same bytes');
    }
  });

  it('gives up an attempt at its per-try timeout and retries elsewhere', async () => {
    const hanging = track(await startBackend('hanging'));
    const healthy = track(await startBackend('healthy'));
    hanging.handler = () => undefined;
    const proxy = await proxyTo([hanging, healthy], {
      timeoutMs: 3_000,
      retries: {
        attempts: 1,
        perTryTimeoutMs: 100,
        on: ['gateway-error'],
        backoff: { baseMs: 1, maxMs: 2 },
      },
    });
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 4 }, (_, i) => send(proxy.port, { host: 'svc', path: `/t${i}` })),
    );
    assert.ok(answers.every((answer) => answer.body.toString() === 'healthy'));
    assert.ok(
      Date.now() - started < 2_000,
      'per-try timeouts, not the route timeout, moved them on',
    );
  });

  it('answers 504 at the route timeout, retries included', async () => {
    const hanging = track(await startBackend('hanging'));
    hanging.handler = () => undefined;
    const proxy = await proxyTo([hanging], {
      timeoutMs: 250,
      retries: { attempts: 5, on: ['gateway-error'], backoff: { baseMs: 1, maxMs: 2 } },
    });
    const started = Date.now();
    const answer = await send(proxy.port, { host: 'svc', path: '/slow' });
    const elapsed = Date.now() - started;
    assert.equal(answer.status, 504);
    assert.ok(elapsed >= 240 && elapsed < 1_500, `answered after ${elapsed} ms`);
  });

  it('stops a retry storm at the retry budget', async () => {
    const failing = track(await startBackend('failing'));
    // Every answer fails slowly, so many requests and their retries are in flight together.
    failing.handler = (_req, res) => {
      setTimeout(() => res.writeHead(503).end('down'), 30);
    };
    const proxy = await proxyTo(
      [failing],
      { retries: { attempts: 3, on: ['gateway-error'], backoff: { baseMs: 1, maxMs: 2 } } },
      {},
      { retryBudget: { percent: 20, minConcurrency: 2 } },
    );
    const requests = 200;
    const answers = await Promise.all(
      Array.from({ length: requests }, (_, i) => send(proxy.port, { host: 'svc', path: `/s${i}` })),
    );
    assert.ok(answers.every((answer) => answer.status === 503));
    const attempts = failing.seen.length;
    const retries = attempts - requests;
    // Without a budget: 3 retries each, 800 attempts. The budget holds retries in
    // flight to a fifth of the requests in flight, so well under one retry per request.
    assert.ok(attempts < requests * 2, `${attempts} attempts for ${requests} requests`);
    assert.ok(retries > 0, 'some retries are still allowed');
    assert.ok(
      (await proxy.metric('streammesh_http_retries_total', { result: 'budget_exhausted' })) > 0,
      'refused retries are counted',
    );
  });

  it('ejects an endpoint after consecutive 5xx, sends it nothing, and takes it back after its time', async () => {
    const flaky = track(await startBackend('flaky'));
    const steady = track(await startBackend('steady'));
    let failing = true;
    flaky.handler = (_req, res) => {
      if (failing) res.writeHead(500).end('broken');
      else res.end('flaky');
    };
    const proxy = await proxyTo(
      [flaky, steady],
      {},
      {
        outlier: { consecutive5xx: 3, baseEjectionMs: 600, maxEjectionPercent: 50 },
      },
    );
    // Round robin: the flaky one gets every other request until its third 500.
    for (let i = 0; i < 6; i += 1) await send(proxy.port, { host: 'svc', path: '/' });
    assert.equal(flaky.seen.length, 3);
    assert.equal(
      await proxy.metric('streammesh_http_endpoint_available', { endpoint: flaky.address }),
      0,
    );
    const whileEjected = flaky.seen.length;
    for (let i = 0; i < 20; i += 1) {
      const answer = await send(proxy.port, { host: 'svc', path: '/' });
      assert.equal(answer.body.toString(), 'steady');
    }
    assert.equal(flaky.seen.length, whileEjected, 'an ejected endpoint got traffic');
    failing = false;
    await delay(700);
    const back = new Set<string>();
    for (let i = 0; i < 6; i += 1)
      back.add((await send(proxy.port, { host: 'svc', path: '/' })).body.toString());
    assert.ok(back.has('flaky'), 'the endpoint came back after its ejection time');
    assert.equal(
      await proxy.metric('streammesh_http_outlier_ejections_total', { cluster: 'main' }),
      1,
    );
  });

  it('refuses requests beyond the cluster circuit breaker with 503 at once', async () => {
    const slow = track(await startBackend('slow'));
    slow.handler = (_req, res) => {
      setTimeout(() => res.end('slow'), 300);
    };
    const proxy = await proxyTo([slow], {}, { circuitBreaker: { maxRequests: 5 } });
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => send(proxy.port, { host: 'svc', path: `/c${i}` })),
    );
    const refused = answers.filter((answer) => answer.status === 503);
    assert.equal(answers.filter((answer) => answer.status === 200).length, 5);
    assert.equal(refused.length, 7);
    assert.match(refused[0]?.body.toString() ?? '', /requests limit/);
    assert.equal(slow.seen.length, 5, 'refused requests never reached the upstream');
    assert.ok(Date.now() - started < 2_000);
    assert.equal(
      await proxy.metric('streammesh_http_cluster_overflow_total', { resource: 'requests' }),
      7,
    );
  });

  it('queues HTTP/1.1 requests beyond maxConnections up to maxPending, refuses the rest', async () => {
    const slow = track(await startBackend('slow'));
    slow.handler = (_req, res) => {
      setTimeout(() => res.end('slow'), 300);
    };
    const proxy = await proxyTo(
      [slow],
      {},
      { circuitBreaker: { maxConnections: 1, maxPending: 1 } },
    );
    const answers = await Promise.all(
      Array.from({ length: 4 }, (_, i) => send(proxy.port, { host: 'svc', path: `/q${i}` })),
    );
    const served = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status === 503);
    assert.equal(served.length, 2, 'one on the connection, one waiting for it');
    assert.equal(refused.length, 2);
    assert.match(refused[0]?.body.toString() ?? '', /pending limit/);
    assert.equal(slow.seen.length, 2);
    assert.equal(
      await proxy.metric('streammesh_http_cluster_overflow_total', { resource: 'pending' }),
      2,
    );
  });

  it('makes no retry beyond the cluster maxRetries', async () => {
    const failing = track(await startBackend('failing'));
    failing.handler = (_req, res) => res.writeHead(503).end('down');
    const proxy = await proxyTo(
      [failing],
      { retries: { attempts: 3, on: ['gateway-error'], backoff: { baseMs: 1, maxMs: 2 } } },
      { circuitBreaker: { maxRetries: 0 } },
    );
    assert.equal((await send(proxy.port, { host: 'svc', path: '/r' })).status, 503);
    assert.equal(failing.seen.length, 1);
    assert.equal(await proxy.metric('streammesh_http_retries_total', { result: 'overflow' }), 1);
  });

  it('resets a response that stalls past the route idle timeout', async () => {
    const stalling = track(await startBackend('stalling'));
    stalling.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk, then nothing');
    };
    const proxy = await proxyTo([stalling], { timeoutMs: 0, idleTimeoutMs: 200 });
    const started = Date.now();
    await assert.rejects(send(proxy.port, { host: 'svc', path: '/stall', timeoutMs: 3_000 }));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 180 && elapsed < 2_000, `reset after ${elapsed} ms`);
  });

  it('closes a keep-alive connection left idle past the listener idle timeout', async () => {
    const app = track(await startBackend('app'));
    const proxy = track(
      await startProxy({
        listeners: [{ name: 'edge', listen: '127.0.0.1:0', idleTimeoutMs: 200 }],
        routes: [{ name: 'main', match: { path: { prefix: '/' } }, action: { cluster: 'main' } }],
        clusters: [{ name: 'main', endpoints: [app.address] }],
      }),
    );
    const started = Date.now();
    const answer = await sendRaw(proxy.port, 'GET / HTTP/1.1\r\nHost: svc\r\n\r\n', 3_000);
    const elapsed = Date.now() - started;
    assert.match(answer.toString('latin1'), /^HTTP\/1\.1 200 /);
    assert.ok(elapsed >= 180 && elapsed < 2_500, `closed after ${elapsed} ms`);
  });

  it('marks an endpoint failing its active health checks unavailable, and back', async () => {
    const checked = track(await startBackend('checked'));
    const other = track(await startBackend('other'));
    let healthy = true;
    checked.handler = (req, res) => {
      if (req.url === '/healthz') res.writeHead(healthy ? 200 : 503).end();
      else res.end('checked');
    };
    const proxy = await proxyTo(
      [checked, other],
      {},
      {
        healthCheck: { path: '/healthz', intervalMs: 50, timeoutMs: 200, unhealthy: 2, healthy: 1 },
      },
    );
    healthy = false;
    const until = async (wanted: number): Promise<void> => {
      for (let waited = 0; waited < 3_000; waited += 25) {
        const now = await proxy.metric('streammesh_http_endpoint_available', {
          endpoint: checked.address,
        });
        if (now === wanted) return;
        await delay(25);
      }
      assert.fail(`endpoint availability never became ${wanted}`);
    };
    await until(0);
    for (let i = 0; i < 10; i += 1) {
      assert.equal((await send(proxy.port, { host: 'svc', path: '/' })).body.toString(), 'other');
    }
    healthy = true;
    await until(1);
  });
});
