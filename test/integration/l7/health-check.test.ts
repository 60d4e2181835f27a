import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import {
  HEALTH_CHECK_USER_AGENT,
  HealthChecker,
  jitteredInterval,
  type HealthCheckOptions,
  type HealthTarget,
} from '../../../rtp-proxy/l7/cluster/health-check.js';
import { freePort } from '../../helpers/ports.js';

const silent = pino({ level: 'silent' });

/** Polls until `predicate` holds; fails naming `what` after `timeoutMs`. */
async function waitFor(predicate: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

interface SeenRequest {
  readonly path: string;
  readonly host: string | undefined;
  readonly userAgent: string | undefined;
  readonly httpVersion: string;
}

/**
 * A real upstream whose answer the test sets: a status, or `hang` (accept the
 * request, never answer). It records what each request looked like, how many
 * were open at once, and which connections are open.
 */
interface Upstream {
  readonly target: HealthTarget;
  readonly seen: SeenRequest[];
  readonly connections: Set<Socket>;
  status: number | 'hang';
  open: number;
  maxOpen: number;
  /**
   * Resolves once every connection is gone; rejects after 2 s when one is
   * still open (the checker left it behind), destroying it so the file ends.
   */
  close(): Promise<void>;
}

function answer(
  upstream: Upstream,
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
): void {
  upstream.seen.push({
    path: request.url ?? '',
    // HTTP/2 requests carry :authority; node's compat layer does not copy it into host.
    host: String(request.headers[':authority'] ?? request.headers.host),
    userAgent: request.headers['user-agent'],
    httpVersion: request.httpVersion,
  });
  upstream.open += 1;
  upstream.maxOpen = Math.max(upstream.maxOpen, upstream.open);
  response.on('close', () => (upstream.open -= 1));
  if (upstream.status === 'hang') return;
  response.writeHead(upstream.status, { 'content-type': 'text/plain' });
  response.end(upstream.status < 300 ? 'ok' : 'not ok');
}

async function startUpstream(kind: 'http1' | 'http2', status: number | 'hang'): Promise<Upstream> {
  const handler = (
    request: http.IncomingMessage | http2.Http2ServerRequest,
    response: http.ServerResponse | http2.Http2ServerResponse,
  ): void => answer(upstream, request, response);
  const server = kind === 'http1' ? http.createServer(handler) : http2.createServer(handler);
  const port = await freePort();
  const upstream: Upstream = {
    target: { id: `127.0.0.1:${port}`, host: '127.0.0.1', port },
    seen: [],
    connections: new Set(),
    status,
    open: 0,
    maxOpen: 0,
    close: () =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          const left = upstream.connections.size;
          for (const socket of upstream.connections) socket.destroy();
          reject(new Error(`server did not close: ${left} connection(s) left open`));
        }, 2_000);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
  server.on('connection', (socket: Socket) => {
    upstream.connections.add(socket);
    socket.on('close', () => upstream.connections.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return upstream;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A checker with test defaults. `changes` lists each onChange call; with a
 * `watched` upstream, `seenAtChange` holds how many requests it had received
 * at each call (exact, since onChange runs before the next check is sent).
 */
function checker(
  targets: readonly HealthTarget[],
  overrides: Partial<HealthCheckOptions> = {},
  watched?: Upstream,
): { checker: HealthChecker; changes: [string, boolean][]; seenAtChange: number[] } {
  const changes: [string, boolean][] = [];
  const seenAtChange: number[] = [];
  const created = new HealthChecker(
    targets,
    {
      path: '/healthz',
      intervalMs: 50,
      timeoutMs: 200,
      unhealthy: 3,
      healthy: 2,
      http2: false,
      onChange: (id, healthy) => {
        changes.push([id, healthy]);
        if (watched !== undefined) seenAtChange.push(watched.seen.length);
      },
      ...overrides,
    },
    silent,
  );
  cleanups.push(() => created.close());
  return { checker: created, changes, seenAtChange };
}

function countsOf(
  health: HealthChecker,
  id: string,
): { failures: number; successes: number; healthy: boolean } {
  const entry = health.snapshot().find((item) => item.id === id);
  assert.ok(entry !== undefined, `${id} is in the snapshot`);
  return {
    failures: entry.consecutiveFailures,
    successes: entry.consecutiveSuccesses,
    healthy: entry.healthy,
  };
}

describe('HealthChecker', () => {
  it('starts healthy, counts 2xx as success and sends path, host and user-agent', async () => {
    const upstream = await startUpstream('http1', 200);
    cleanups.push(() => upstream.close());
    const { checker: health, changes } = checker([upstream.target]);
    assert.equal(health.isHealthy(upstream.target.id), true, 'healthy before any check');
    assert.equal(health.isHealthy('10.9.9.9:1'), true, 'unknown ids are healthy');
    assert.deepEqual(health.snapshot(), [
      {
        id: upstream.target.id,
        healthy: true,
        consecutiveFailures: 0,
        consecutiveSuccesses: 0,
      },
    ]);
    health.start();
    await waitFor(() => countsOf(health, upstream.target.id).successes >= 2, 'two successes');
    assert.equal(health.isHealthy(upstream.target.id), true);
    assert.deepEqual(changes, [], 'no transition for an endpoint that stays healthy');
    assert.deepEqual(upstream.seen[0], {
      path: '/healthz',
      host: upstream.target.id,
      userAgent: HEALTH_CHECK_USER_AGENT,
      httpVersion: '1.1',
    });
  });

  it('marks a 503 endpoint unhealthy after `unhealthy` checks, once, and healthy after `healthy` 2xx', async () => {
    const upstream = await startUpstream('http1', 503);
    cleanups.push(() => upstream.close());
    const {
      checker: health,
      changes,
      seenAtChange,
    } = checker([upstream.target], { unhealthy: 3, healthy: 2 }, upstream);
    health.start();
    await waitFor(() => changes.length > 0, 'the endpoint to be marked unhealthy');
    assert.deepEqual(changes, [[upstream.target.id, false]]);
    assert.equal(health.isHealthy(upstream.target.id), false);
    assert.equal(seenAtChange[0], 3, 'exactly the third failure took it out');
    // More failures change nothing further.
    await waitFor(() => upstream.seen.length >= 6, 'three more checks');
    assert.deepEqual(changes, [[upstream.target.id, false]], 'onChange fired once');
    assert.ok(countsOf(health, upstream.target.id).failures >= 5);

    // The server answers as soon as a request arrives, so every request from here on gets 204.
    upstream.status = 204;
    const before = upstream.seen.length;
    await waitFor(() => changes.length > 1, 'the endpoint to return');
    assert.deepEqual(changes, [
      [upstream.target.id, false],
      [upstream.target.id, true],
    ]);
    assert.equal(health.isHealthy(upstream.target.id), true);
    assert.equal(seenAtChange[1], before + 2, 'exactly the second 2xx brought it back');
  });

  it('a single 2xx between failures resets the count (4xx fails too)', async () => {
    const upstream = await startUpstream('http1', 404);
    cleanups.push(() => upstream.close());
    const { checker: health, changes } = checker([upstream.target], { unhealthy: 3 });
    health.start();
    await waitFor(() => countsOf(health, upstream.target.id).failures === 2, 'two failures');
    upstream.status = 200;
    await waitFor(() => countsOf(health, upstream.target.id).successes >= 1, 'a success');
    assert.equal(countsOf(health, upstream.target.id).failures, 0);
    upstream.status = 404;
    await waitFor(() => changes.length > 0, 'three fresh failures');
    assert.deepEqual(changes, [[upstream.target.id, false]]);
  });

  it('an endpoint with nothing listening goes unhealthy', async () => {
    const port = await freePort();
    const target = { id: `127.0.0.1:${port}`, host: '127.0.0.1', port };
    const { checker: health, changes } = checker([target], { unhealthy: 2 });
    health.start();
    await waitFor(() => changes.length > 0, 'refused connects to mark it unhealthy');
    assert.deepEqual(changes, [[target.id, false]]);
    assert.equal(health.isHealthy(target.id), false);
  });

  it('an endpoint that never answers goes unhealthy by timeout, one check in flight at a time', async () => {
    const upstream = await startUpstream('http1', 'hang');
    cleanups.push(() => upstream.close());
    // The timeout is longer than the interval: overlapping checks would show as maxOpen > 1.
    const {
      checker: health,
      changes,
      seenAtChange,
    } = checker([upstream.target], { intervalMs: 20, timeoutMs: 120, unhealthy: 2 }, upstream);
    const started = Date.now();
    health.start();
    await waitFor(() => changes.length > 0, 'timeouts to mark it unhealthy');
    const elapsed = Date.now() - started;
    assert.deepEqual(changes, [[upstream.target.id, false]]);
    assert.ok(elapsed >= 2 * 120, `two timeouts take at least 240 ms, took ${elapsed}`);
    assert.deepEqual(seenAtChange, [2], 'the second timeout took it out');
    assert.equal(upstream.maxOpen, 1, 'never two checks in flight against one endpoint');
    // The timed-out checks closed their connections.
    await waitFor(() => upstream.open <= 1, 'timed-out requests to be closed');
  });

  it('checks an HTTP/2 (h2c, prior knowledge) endpoint over HTTP/2', async () => {
    const upstream = await startUpstream('http2', 200);
    cleanups.push(() => upstream.close());
    const { checker: health, changes } = checker([upstream.target], {
      http2: true,
      authority: 'media.internal',
      unhealthy: 2,
      healthy: 1,
    });
    health.start();
    await waitFor(() => countsOf(health, upstream.target.id).successes >= 2, 'two h2 successes');
    assert.deepEqual(upstream.seen[0], {
      path: '/healthz',
      host: 'media.internal',
      userAgent: HEALTH_CHECK_USER_AGENT,
      httpVersion: '2.0',
    });
    upstream.status = 500;
    await waitFor(() => changes.length > 0, 'h2 500s to mark it unhealthy');
    upstream.status = 200;
    await waitFor(() => changes.length > 1, 'one h2 success to bring it back');
    assert.deepEqual(changes, [
      [upstream.target.id, false],
      [upstream.target.id, true],
    ]);
  });

  it('an HTTP/2 endpoint that is down or never answers goes unhealthy', async () => {
    const port = await freePort();
    const down = { id: `127.0.0.1:${port}`, host: '127.0.0.1', port };
    const hanging = await startUpstream('http2', 'hang');
    cleanups.push(() => hanging.close());
    const { checker: health, changes } = checker([down, hanging.target], {
      http2: true,
      timeoutMs: 100,
      unhealthy: 2,
    });
    health.start();
    await waitFor(() => changes.length === 2, 'both to be marked unhealthy');
    assert.deepEqual(
      [...changes].sort(([a], [b]) => a.localeCompare(b)),
      [
        [down.id, false],
        [hanging.target.id, false],
      ].sort(([a], [b]) => String(a).localeCompare(String(b))),
    );
  });

  for (const kind of ['http1', 'http2'] as const) {
    it(`close() stops checks and leaves no connection open (${kind})`, async () => {
      const answering = await startUpstream(kind, 200);
      const hanging = await startUpstream(kind, 'hang');
      const { checker: health } = checker([answering.target, hanging.target], {
        http2: kind === 'http2',
        intervalMs: 30,
        timeoutMs: 5_000,
      });
      health.start();
      await waitFor(
        () => answering.seen.length >= 3 && hanging.seen.length === 1,
        'checks on both endpoints',
      );
      health.close();
      const seenAtClose = answering.seen.length + hanging.seen.length;
      // The check in flight against the hanging endpoint was aborted: its connection closes.
      await waitFor(
        () => hanging.connections.size === 0 && answering.connections.size === 0,
        'the checker connections to close',
        1_000,
      );
      await sleep(200);
      assert.equal(
        answering.seen.length + hanging.seen.length,
        seenAtClose,
        'no check after close',
      );
      // server.close() resolves only once every connection is gone: none is left to the checker.
      await Promise.all([answering.close(), hanging.close()]);
      // Nor is a socket or timer of the checker's holding this process open.
      await waitFor(
        () =>
          !process
            .getActiveResourcesInfo()
            .some((kind) => kind.startsWith('TCP') || kind === 'Timeout'),
        "no TCP handle or ref'd timer left in the process",
        1_000,
      );
      assert.equal(health.isHealthy(hanging.target.id), true, 'an aborted check counts nothing');
      health.close();
    });
  }

  it('jitters the interval by +-10%', () => {
    assert.equal(
      jitteredInterval(1_000, () => 0),
      900,
    );
    assert.equal(
      jitteredInterval(1_000, () => 0.5),
      1_000,
    );
    assert.ok(jitteredInterval(1_000, () => 0.999_999) < 1_100);
    const samples = Array.from({ length: 1_000 }, () => jitteredInterval(50));
    assert.ok(samples.every((ms) => ms >= 45 && ms < 55));
    assert.ok(new Set(samples).size > 900, 'checks of many proxies do not line up');
  });
});
