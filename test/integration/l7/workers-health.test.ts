/**
 * Active health checks with two L7 threads are the proxy's, not each
 * thread's (cluster-state-channel.ts): each endpoint is probed by one thread
 * only, about once per interval, not once per thread; when it fails its
 * health path every thread takes it out of rotation (the health gauge of
 * each says so, and no request of either reaches it) and when it passes
 * again every thread brings it back; a thread restarted after a crash
 * learns that an endpoint it does not own is unhealthy without waiting for
 * a transition, and while the owner itself is down nobody probes its
 * endpoint and the other thread keeps the last state.
 *
 * Real parts: the threads, their sockets and the kernel spreading
 * connections; node:http backends counting the probes (by their
 * User-Agent) and the requests they get; a node:http client with a
 * connection per request. The crash is asked of the thread (an uncaught
 * exception it throws, as a bug would).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { IsolatedHttpService } from '../../../rtp-proxy/l7/index.js';
import { HEALTH_CHECK_USER_AGENT } from '../../../rtp-proxy/l7/cluster/health-check.js';
import { healthOwner } from '../../../rtp-proxy/l7/cluster/health-owner.js';
import { loadTcpListenAddon } from '../../../rtp-proxy/l7/listener/shared-listen.js';
import { httpSchema } from '../../../src/config/http-schema.js';
import { startBackend, type Backend } from '../../helpers/l7-harness.js';
import { waitFor } from '../../helpers/process.js';
import { byWorker, getOnce } from '../../helpers/l7-workers.js';

const INTERVAL_MS = 100;
const HEALTH_PATH = '/healthz';
/** A restarted thread comes back after this (fixed): long enough to look at the gap. */
const RESTART_MS = 1500;

const isProbe = (entry: Backend['seen'][number]): boolean =>
  entry.headers['user-agent'] === HEALTH_CHECK_USER_AGENT;
const probes = (backend: Backend): number => backend.seen.filter(isProbe).length;
const proxied = (backend: Backend): number =>
  backend.seen.filter((entry) => !isProbe(entry)).length;

/** Answers 503 on the health path while `failing`, as the harness' backend otherwise. */
function healthSwitch(backend: Backend): { failing: boolean } {
  const control = { failing: false };
  backend.handler = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === HEALTH_PATH && control.failing) {
      res.writeHead(503).end('failing');
      return;
    }
    res.writeHead(200, { 'x-backend': backend.name }).end(backend.name);
  };
  return control;
}

describe('L7 health checks with two threads', { timeout: 120_000 }, () => {
  let first: Backend;
  let second: Backend;
  let service: IsolatedHttpService;
  const registry = new Registry();
  before(async () => {
    const addon = loadTcpListenAddon();
    assert.ok(
      !('error' in addon),
      `the tcp-listen addon must be built (node scripts/build-native.mjs): ${'error' in addon ? addon.error : ''}`,
    );
    first = await startBackend('first');
    second = await startBackend('second');
    service = new IsolatedHttpService({
      role: 'proxy',
      log: pino({ level: 'silent' }),
      metrics: registry,
      workers: 2,
      restartBackoff: { baseMs: RESTART_MS, maxMs: RESTART_MS, random: () => 0.999_999 },
    });
  });
  after(async () => {
    await service.close();
    await Promise.all([first.close(), second.close()]);
  });

  it('probes each endpoint from one thread; all threads follow its verdict, a restarted one at once', async () => {
    healthSwitch(first);
    const health = healthSwitch(second);
    (
      await service.prepareHttp(
        httpSchema.parse({
          listeners: [{ name: 'edge', listen: '127.0.0.1:0' }],
          routes: [{ name: 'main', match: { path: { prefix: '/' } }, action: { cluster: 'api' } }],
          clusters: [
            {
              name: 'api',
              endpoints: [first.address, second.address],
              healthCheck: {
                path: HEALTH_PATH,
                intervalMs: INTERVAL_MS,
                timeoutMs: 1000,
                unhealthy: 2,
                healthy: 2,
              },
            },
          ],
        }),
      )
    ).commit();
    const [edge] = await service.listeners(0);
    assert.ok(edge !== undefined);
    const port = edge.port;
    const available = (): Promise<Map<string, number>> =>
      byWorker(registry, service, 'streammesh_http_endpoint_available', {
        cluster: 'api',
        endpoint: second.address,
      });
    let last = new Map<string, number>();
    /** Whether every thread's gauge says `wanted` (both threads up). */
    const everyThread = (wanted: number) => async (): Promise<true | undefined> => {
      last = await available();
      return last.size === 2 && [...last.values()].every((value) => value === wanted)
        ? true
        : undefined;
    };
    const lastSeen = (what: string) => () =>
      `${what}: available by worker ${JSON.stringify([...last])}`;
    const served = (): Promise<Map<string, number>> =>
      byWorker(registry, service, 'streammesh_http_requests_total', { route: 'main' });

    // 1. One probe per interval per endpoint. The owner's next probe leaves
    // at least 0.9 x interval after its last one ended (jitter +-10%), so in
    // `elapsed` ms an endpoint gets at most elapsed / 90 + 1 probes from one
    // thread (+1 for a timer a hair early); two threads probing would give
    // about twice elapsed / 110.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const counted = [first, second].map(probes);
    const from = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const elapsed = performance.now() - from;
    const bound = Math.floor(elapsed / (0.9 * INTERVAL_MS)) + 2;
    for (const [index, backend] of [first, second].entries()) {
      const got = probes(backend) - (counted[index] ?? 0);
      assert.ok(
        got <= bound,
        `${backend.name}: ${got} probes in ${Math.round(elapsed)} ms, more than one thread's ${bound}`,
      );
      // It is probed at all, by someone (a loaded machine may slow the probes down).
      assert.ok(got >= 10, `${backend.name}: only ${got} probes in ${Math.round(elapsed)} ms`);
      console.log(
        `# ${backend.name}: ${got} probes in ${Math.round(elapsed)} ms (one thread's bound ${bound})`,
      );
    }

    // 2. The second backend fails its health path: every thread takes it out.
    health.failing = true;
    await waitFor(everyThread(0), 5000, lastSeen('every thread takes it out'));
    const proxiedBefore = proxied(second);
    const servedBefore = await served();
    const answers: (number | string)[] = [];
    for (let i = 0; i < 40; i += 1) answers.push(await getOnce(port, `/out/${i}`));
    assert.deepEqual(new Set(answers), new Set([200]), 'every request answered by the first');
    assert.equal(proxied(second), proxiedBefore, 'no thread sent the unhealthy endpoint a request');
    const servedOut = await served();
    for (const worker of ['0', '1']) {
      assert.ok(
        (servedOut.get(worker) ?? 0) > (servedBefore.get(worker) ?? 0),
        `worker ${worker} served some of them: ${JSON.stringify([...servedOut])}`,
      );
    }

    // 3. The thread that does not probe it crashes and restarts: it learns
    // the endpoint is unhealthy from the owner, with no transition to hear.
    const owner = healthOwner('api', second.address, 2);
    const other = 1 - owner;
    const restarts = async (worker: number): Promise<number> =>
      (
        await byWorker(registry, service, 'streammesh_l7_thread_restarts_total', {
          reason: 'crashed',
        })
      ).get(String(worker)) ?? 0;
    await service.crashWorker(other);
    await waitFor(
      async () => ((await restarts(other)) === 1 ? true : undefined),
      10_000,
      () => `worker ${other} ended by its crash`,
    );
    // Resolves once the restarted thread has the config in force again.
    await service.listeners(other);
    await waitFor(
      everyThread(0),
      2000,
      lastSeen(`the restarted worker ${other} learns it is unhealthy`),
    );
    const afterRestart = proxied(second);
    for (let i = 0; i < 20; i += 1) await getOnce(port, `/restarted/${i}`);
    assert.equal(proxied(second), afterRestart, 'the restarted thread sends it nothing');

    // 4. The owner crashes: nobody probes the endpoint while it is down, and
    // the other thread keeps it out; back, the owner knows it is unhealthy.
    await service.crashWorker(owner);
    await waitFor(
      async () => ((await restarts(owner)) === 1 ? true : undefined),
      10_000,
      () => `worker ${owner} ended by its crash`,
    );
    const probesWhileDown = probes(second);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(probes(second), probesWhileDown, 'the other thread does not probe it');
    const whileDown = await available();
    assert.deepEqual([...whileDown], [[String(other), 0]], 'the other thread keeps it out');
    await service.listeners(owner);
    await waitFor(everyThread(0), 2000, lastSeen('the restarted owner keeps it out'));

    // 5. It passes its health path again: every thread brings it back.
    health.failing = false;
    await waitFor(everyThread(1), 5000, lastSeen('every thread takes it again'));
    const proxiedBack = proxied(second);
    const back: (number | string)[] = [];
    for (let i = 0; i < 40; i += 1) back.push(await getOnce(port, `/back/${i}`));
    assert.deepEqual(new Set(back), new Set([200]));
    assert.ok(proxied(second) > proxiedBack, 'requests reach it again');
  });
});
