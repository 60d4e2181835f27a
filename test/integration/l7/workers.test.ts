/**
 * The L7 proxy served by several threads (issue 20, point 3): with
 * workers: 2 both threads listen on their own SO_REUSEPORT socket of every
 * port (native/tcp-listen), so connections land on both (h2load's 16
 * connections, counted per worker in the merged metrics); a config push is
 * all or none over the threads (a port another process holds, even with
 * SO_REUSEPORT under our uid, refuses the config naming its HTTP_LISTENER and
 * no thread changes; a refusal by the second thread after the first bound
 * makes the first release its socket); a crashed thread is restarted alone
 * with the config in force and joins the port, while the other keeps serving
 * (failed requests during the gap measured).
 *
 * Real parts: the threads, sockets and kernel; h2load and node:http clients;
 * a node:http backend; python3 as the other process holding a port. The
 * crash is asked of the thread (an uncaught exception it throws, as a bug
 * would): nothing on the network can crash it on purpose.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { IsolatedHttpService } from '../../../rtp-proxy/l7/index.js';
import { loadTcpListenAddon } from '../../../rtp-proxy/l7/listener/shared-listen.js';
import { httpSchema } from '../../../src/config/http-schema.js';
import { refusedResourcesOf } from '../../../src/config/index.js';
import { startBackend, type Backend } from '../../helpers/l7-harness.js';
import { startH2load } from '../../helpers/peers/h2load.js';
import { spawnPeer, stopAllPeers } from '../../helpers/peers/process.js';
import { canBindTcp, freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { byWorker, getOnce } from '../../helpers/l7-workers.js';

const log = pino({ level: 'silent' });

interface Parts {
  /** The edge listener's address (default 127.0.0.1:0). */
  readonly edge?: string;
  /** A second listener's address, if any. */
  readonly second?: string;
  /** true: every request goes to the backend; false: answered 418 by the proxy. */
  readonly proxied: boolean;
  /** The edge listener's connection budget (a setting change: a takeover on a fixed port). */
  readonly maxConnections?: number;
  /** A route whose regex backtracks for ages on /aaa...a: a stuck event loop. */
  readonly stuck?: boolean;
}

function config(backend: Backend, parts: Parts) {
  return httpSchema.parse({
    listeners: [
      {
        name: 'edge',
        listen: parts.edge ?? '127.0.0.1:0',
        ...(parts.maxConnections === undefined ? {} : { maxConnections: parts.maxConnections }),
      },
      ...(parts.second === undefined ? [] : [{ name: 'second', listen: parts.second }]),
    ],
    routes: [
      ...(parts.stuck === true
        ? [
            {
              name: 'stuck',
              match: { path: { regex: '/(a+)+b' } },
              action: { cluster: 'backend' },
            },
          ]
        : []),
      parts.proxied
        ? { name: 'main', match: { path: { prefix: '/' } }, action: { cluster: 'backend' } }
        : {
            name: 'teapot',
            match: { path: { prefix: '/' } },
            action: { cluster: 'backend', fault: { abort: { status: 418, percent: 100 } } },
          },
    ],
    clusters: [{ name: 'backend', endpoints: [backend.address] }],
  });
}

async function statuses(port: number, count: number): Promise<(number | string)[]> {
  const all: (number | string)[] = [];
  for (let i = 0; i < count; i += 1) all.push(await getOnce(port));
  return all;
}

async function edgePort(service: IsolatedHttpService, worker = 0): Promise<number> {
  const found = (await service.listeners(worker)).find((listener) => listener.name === 'edge');
  if (found === undefined) throw new Error(`worker ${worker}: no listener edge`);
  return found.port;
}

describe('L7 proxy served by two threads', { timeout: 180_000 }, () => {
  const services: IsolatedHttpService[] = [];
  let backend: Backend;
  before(async () => {
    const addon = loadTcpListenAddon();
    assert.ok(
      !('error' in addon),
      `the tcp-listen addon must be built (node scripts/build-native.mjs): ${'error' in addon ? addon.error : ''}`,
    );
    backend = await startBackend('backend');
  });
  after(async () => {
    await Promise.all(services.map((service) => service.close()));
    await backend.close();
    await stopAllPeers();
  });

  function start(
    options: {
      restartBackoffMs?: number;
      log?: Logger;
      unresponsiveMs?: number;
      pingIntervalMs?: number;
    } = {},
  ) {
    const registry = new Registry();
    const service = new IsolatedHttpService({
      role: 'proxy',
      log: options.log ?? log,
      metrics: registry,
      workers: 2,
      ...(options.unresponsiveMs === undefined ? {} : { unresponsiveMs: options.unresponsiveMs }),
      ...(options.pingIntervalMs === undefined ? {} : { pingIntervalMs: options.pingIntervalMs }),
      ...(options.restartBackoffMs === undefined
        ? {}
        : {
            restartBackoff: {
              baseMs: options.restartBackoffMs,
              maxMs: options.restartBackoffMs,
              random: () => 0.999_999,
            },
          }),
    });
    services.push(service);
    return { service, registry };
  }

  // First: no other socket of this process opens or closes meanwhile.
  it('a refusal by the second thread after the first bound: the first releases its socket, none changes', async () => {
    const lines: string[] = [];
    const { service } = start({
      log: pino({ level: 'warn' }, { write: (line) => lines.push(line) }),
    });
    (await service.prepareHttp(config(backend, { proxied: false }))).commit();
    const port = await edgePort(service);
    const fixed = await freePort();
    // Every fd of the process taken but one: the first thread's socket gets
    // it, the second thread's fails (EMFILE), a real per-thread failure. The
    // soft limit is lowered first so that few fds fill the table.
    const prlimit = (...args: string[]): string => {
      const run = spawnSync('prlimit', ['--pid', String(process.pid), ...args], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, `prlimit ${args.join(' ')}: ${run.stderr}`);
      return run.stdout.trim();
    };
    const original = prlimit('--nofile', '--output=SOFT', '--noheadings');
    const highest = Math.max(...readdirSync('/proc/self/fd').map(Number));
    prlimit(`--nofile=${highest + 64}:`);
    const fillers: number[] = [];
    let outcome: unknown;
    try {
      for (;;) {
        try {
          fillers.push(openSync('/dev/null', 'r'));
        } catch {
          break;
        }
      }
      closeSync(fillers.pop() ?? -1);
      outcome = await service
        .prepareHttp(config(backend, { second: `127.0.0.1:${fixed}`, proxied: true }))
        .then(
          (prepared) => prepared.abort().then(() => 'prepared'),
          (error: unknown) => error,
        );
    } finally {
      for (const fd of fillers) closeSync(fd);
      prlimit(`--nofile=${original}:`);
    }
    assert.notEqual(outcome, 'prepared', 'the second thread cannot open its socket');
    assert.deepEqual(refusedResourcesOf(outcome), [{ type: 'HTTP_LISTENER', name: 'second' }]);
    assert.match(String(outcome), /EMFILE/);
    const refusals = lines
      .map((line) => JSON.parse(line) as { msg?: string; worker?: number })
      .filter((entry) => entry.msg?.includes('refused the config the first one prepared'));
    assert.deepEqual(
      refusals.map((entry) => entry.worker),
      [1],
      'the second thread refused (the first had bound its socket)',
    );
    assert.ok(await canBindTcp(fixed), "the first thread's socket of the refused port was closed");
    for (const worker of [0, 1]) {
      assert.deepEqual(
        (await service.listeners(worker)).map((listener) => listener.name),
        ['edge'],
        `worker ${worker} keeps the config in force`,
      );
    }
    assert.deepEqual(new Set(await statuses(port, 20)), new Set([418]));
  });

  it('spreads connections over both threads, which serve the same port; metrics per worker', async () => {
    const { service, registry } = start();
    assert.equal(service.workers, 2);
    (await service.prepareHttp(config(backend, { proxied: true }))).commit();
    const port = await edgePort(service, 0);
    assert.equal(await edgePort(service, 1), port, 'both threads serve the port the first one got');

    const { result } = startH2load({
      url: `http://127.0.0.1:${port}/`,
      clients: 16,
      streams: 1,
      requests: 3200,
    });
    const { summary, exit } = await result;
    assert.ok(summary !== undefined, `h2load printed no summary: ${exit.stdout} ${exit.stderr}`);
    assert.equal(summary.status2xx, 3200, `h2load: ${exit.stdout}`);

    const requests = await byWorker(registry, service, 'streammesh_http_requests_total', {
      route: 'main',
      code: '200',
    });
    const first = requests.get('0') ?? 0;
    const second = requests.get('1') ?? 0;
    assert.ok(first > 0 && second > 0, `requests by worker: ${JSON.stringify([...requests])}`);
    assert.equal(first + second, 3200, 'every request counted once, by the thread that served it');

    const up = await byWorker(registry, service, 'streammesh_l7_thread_up');
    assert.deepEqual([...up].sort(), [
      ['0', 1],
      ['1', 1],
    ]);
    const heap = await byWorker(registry, service, 'streammesh_l7_thread_heap_used_bytes');
    assert.ok((heap.get('0') ?? 0) > 0 && (heap.get('1') ?? 0) > 0, 'each thread its own heap');
    const text = await registry.metrics();
    assert.match(text, /^streammesh_l7_threads 2$/m);
  });

  it('refuses a port another process holds with SO_REUSEPORT, naming its HTTP_LISTENER; no thread changes', async () => {
    const { service, registry } = start();
    const fixed = await freePort();
    const before = config(backend, { edge: `127.0.0.1:${fixed}`, proxied: false });
    (await service.prepareHttp(before)).commit();

    // Another process of our uid holding a port with SO_REUSEPORT, as another
    // streammesh proxy would: a plain SO_REUSEPORT socket could join it.
    const squatter = spawnPeer(
      '/usr/bin/python3',
      [
        '-c',
        [
          'import socket, time',
          's = socket.socket()',
          's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)',
          "s.bind(('127.0.0.1', 0))",
          's.listen(16)',
          'print(s.getsockname()[1], flush=True)',
          // Its stdin is /dev/null: it holds the port until stopped.
          'time.sleep(120)',
        ].join('\n'),
      ],
      { timeoutMs: 120_000 },
    );
    const taken = await waitFor(() => {
      const printed = Number.parseInt(squatter.stdout(), 10);
      return Number.isInteger(printed) ? printed : undefined;
    }, 10_000);
    const addon = loadTcpListenAddon();
    if ('error' in addon) throw new Error(addon.error);
    const joined = addon.addon.listen('127.0.0.1', taken, 16, false);
    addon.addon.close(joined.fd);

    // A changed edge (a takeover of its fixed port on each thread), another route, and the taken port.
    const refused = config(backend, {
      edge: `127.0.0.1:${fixed}`,
      maxConnections: 500,
      second: `127.0.0.1:${taken}`,
      proxied: true,
    });
    await assert.rejects(service.prepareHttp(refused), (error: unknown) => {
      assert.deepEqual(refusedResourcesOf(error), [{ type: 'HTTP_LISTENER', name: 'second' }]);
      assert.equal((error as { code?: string }).code, 'ERR_HTTP_LISTENER_BIND');
      assert.match(String(error), /EADDRINUSE/);
      return true;
    });
    for (const worker of [0, 1]) {
      assert.deepEqual(
        (await service.listeners(worker)).map((listener) => `${listener.name}:${listener.port}`),
        [`edge:${fixed}`],
        `worker ${worker} keeps the config in force`,
      );
    }
    const answers = await statuses(fixed, 40);
    assert.deepEqual(new Set(answers), new Set([418]), 'the old route answers, on every thread');
    const teapots = await byWorker(registry, service, 'streammesh_http_requests_total', {
      route: 'teapot',
    });
    assert.ok(
      (teapots.get('0') ?? 0) > 0 && (teapots.get('1') ?? 0) > 0,
      `both threads serve the old config: ${JSON.stringify([...teapots])}`,
    );

    // Without the taken port the same change goes in, on both threads.
    const accepted = config(backend, {
      edge: `127.0.0.1:${fixed}`,
      maxConnections: 500,
      proxied: true,
    });
    (await service.prepareHttp(accepted)).commit();
    assert.deepEqual(new Set(await statuses(fixed, 40)), new Set([200]));
    const proxied = await byWorker(registry, service, 'streammesh_http_requests_total', {
      route: 'main',
    });
    assert.ok(
      (proxied.get('0') ?? 0) > 0 && (proxied.get('1') ?? 0) > 0,
      `both threads took the new config: ${JSON.stringify([...proxied])}`,
    );
    await squatter.stop();
  });

  it('restarts a crashed thread alone with the config in force; the other serves meanwhile', async () => {
    const CLIENTS = 4;
    // A fixed 1 s before the restart: a gap long enough to measure.
    const lines: string[] = [];
    const { service, registry } = start({
      restartBackoffMs: 1000,
      log: pino({ level: 'error' }, { write: (line) => lines.push(line) }),
    });
    (await service.prepareHttp(config(backend, { proxied: true }))).commit();
    const port = await edgePort(service);

    const outcomes: { at: number; result: number | string }[] = [];
    let running = true;
    const clients = Array.from({ length: CLIENTS }, async () => {
      while (running) outcomes.push({ at: performance.now(), result: await getOnce(port) });
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const crashedAt = performance.now();
    await service.crashWorker(0);
    await waitFor(
      async () => {
        const restarts = await byWorker(registry, service, 'streammesh_l7_thread_restarts_total', {
          reason: 'crashed',
        });
        return restarts.get('0') === 1 ? true : undefined;
      },
      10_000,
      () => 'worker 0 ended by its crash',
    );
    // Resolves once the restarted thread has the config in force again.
    const [restartedEdge] = await service.listeners(0);
    const restarted = performance.now();
    // Requests after the restart: the restarted thread takes its share again.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    running = false;
    await Promise.all(clients);

    const gap = outcomes.filter(({ at }) => at >= crashedAt && at < restarted);
    const servedInGap = gap.filter(({ result }) => result === 200).length;
    const failed = outcomes.filter(({ result }) => result !== 200);
    const restartsOfOther = await byWorker(
      registry,
      service,
      'streammesh_l7_thread_restarts_total',
    );
    assert.equal(restartsOfOther.get('1') ?? 0, 0, 'the other thread was never restarted');
    assert.ok(
      restarted - crashedAt >= 900,
      `the gap lasted ${Math.round(restarted - crashedAt)} ms`,
    );
    assert.ok(servedInGap > 0, 'the other thread served while the crashed one was down');
    // What can fail: the requests in flight on the crashed thread (each
    // client has one at a time) and a retry that met its socket again in the
    // moment before the thread's end closed it. Not one per request of the gap.
    assert.ok(
      failed.length <= 2 * CLIENTS,
      `failed requests: ${failed.length} (${failed.map(({ result }) => result).join(', ')})`,
    );
    assert.equal(restartedEdge?.port, port, 'the restarted thread joined the same port');
    // Node tells only the Worker's owner what a thread threw: the log must say it.
    const ended = lines
      .map((line) => JSON.parse(line) as { msg?: string; err?: { message?: string } })
      .find((record) => record.msg?.startsWith('l7 thread ended') === true);
    assert.match(
      ended?.err?.message ?? '',
      /crash asked for/,
      `the end's log record: ${lines.join('')}`,
    );
    const served = await byWorker(registry, service, 'streammesh_http_requests_total', {
      route: 'main',
    });
    assert.ok((served.get('0') ?? 0) > 0, 'the restarted thread serves again');
    console.log(
      `# crash of one of two L7 threads: ${outcomes.length} requests, ${failed.length} failed, ` +
        `${servedInGap} served during the ${Math.round(restarted - crashedAt)} ms gap` +
        ` (failures: ${failed.map(({ result }) => result).join(', ') || 'none'})`,
    );
  });

  it('ends a stuck thread alone; the other serves meanwhile, connections queued on the stuck one fail', async () => {
    const { service, registry } = start({ unresponsiveMs: 1500, pingIntervalMs: 250 });
    (await service.prepareHttp(config(backend, { proxied: true, stuck: true }))).commit();
    const port = await edgePort(service);
    const stuck = getOnce(port, `/${'a'.repeat(40)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // New connections while one thread is stuck: the kernel still gives it its share.
    const during = await Promise.all(Array.from({ length: 20 }, () => getOnce(port)));
    const restarts = await waitFor(
      async () => {
        const found = await byWorker(registry, service, 'streammesh_l7_thread_restarts_total', {
          reason: 'unresponsive',
        });
        const total = [...found.values()].reduce((sum, count) => sum + count, 0);
        return total >= 1 ? found : undefined;
      },
      15_000,
      () => 'a thread ended as unresponsive',
    );
    assert.notEqual(await stuck, 200, 'the stuck request dies with its thread');
    const ended = [...restarts].filter(([, count]) => count > 0).map(([worker]) => worker);
    assert.equal(ended.length, 1, `one thread restarted: ${JSON.stringify([...restarts])}`);
    const served = during.filter((result) => result === 200).length;
    assert.ok(
      served > 0,
      `the healthy thread served while the other was stuck: ${during.join(', ')}`,
    );
    // With net.ipv4.tcp_migrate_req=1 (workers-migrate.test.ts sets it in a
    // namespace of its own) the connections queued on the stuck thread's
    // socket move to the other thread's when it is closed: none is lost.
    if (readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '1') {
      assert.equal(served, during.length, `every connection served: ${during.join(', ')}`);
    }
    const worker = Number(ended[0]);
    // Back with the config in force, on the same port, taking its share again.
    assert.equal((await service.listeners(worker))[0]?.port, port);
    assert.deepEqual(new Set(await statuses(port, 30)), new Set([200]));
    const after = await byWorker(registry, service, 'streammesh_http_requests_total', {
      route: 'main',
    });
    assert.ok((after.get(String(worker)) ?? 0) > 0, 'the restarted thread serves again');
    console.log(
      `# one of two L7 threads stuck 1500 ms+: ${served} of ${during.length} new connections served, ` +
        `the others failed (${during.filter((result) => result !== 200).join(', ') || 'none'})`,
    );
  });

  it('when every thread crashed, the first back binds the port and the other joins it', async () => {
    const { service, registry } = start({ restartBackoffMs: 300 });
    (await service.prepareHttp(config(backend, { proxied: true }))).commit();
    await Promise.all([service.crashWorker(0), service.crashWorker(1)]);
    await waitFor(
      async () => {
        const found = await byWorker(registry, service, 'streammesh_l7_thread_restarts_total', {
          reason: 'crashed',
        });
        return found.get('0') === 1 && found.get('1') === 1 ? true : undefined;
      },
      15_000,
      () => 'both threads ended by their crash',
    );
    const first = await edgePort(service, 0);
    assert.equal(await edgePort(service, 1), first, 'both threads serve one port');
    assert.deepEqual(new Set(await statuses(first, 40)), new Set([200]));
    const served = await byWorker(registry, service, 'streammesh_http_requests_total', {
      route: 'main',
    });
    assert.ok(
      (served.get('0') ?? 0) > 0 && (served.get('1') ?? 0) > 0,
      `both restarted threads serve: ${JSON.stringify([...served])}`,
    );
  });

  it('closing releases the port on every thread', async () => {
    const { service } = start();
    const fixed = await freePort();
    (
      await service.prepareHttp(config(backend, { edge: `127.0.0.1:${fixed}`, proxied: false }))
    ).commit();
    assert.equal(await canBindTcp(fixed), false, 'held while served');
    await service.close();
    assert.ok(await canBindTcp(fixed), 'both sockets of the port closed');
  });

  it('shares an IPv6 port too: curl over [::1], a new connection per request, reaches both threads', async () => {
    const { service, registry } = start();
    (await service.prepareHttp(config(backend, { edge: '[::1]:0', proxied: false }))).commit();
    const [first] = await service.listeners(0);
    const [second] = await service.listeners(1);
    assert.equal(first?.host, '::1');
    assert.equal(second?.port, first.port, 'both threads serve the port the first one got');
    const url = `http://[::1]:${first.port}/`;
    const curl = spawnSync(
      'curl',
      [
        '-g',
        '-s',
        '-w',
        '%{http_code}\\n',
        '-H',
        'Connection: close',
        '--max-time',
        '20',
        // -o applies to one URL: each has its own.
        ...Array.from({ length: 30 }, () => ['-o', '/dev/null', url]).flat(),
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.deepEqual(new Set(curl.stdout.trim().split('\n')), new Set(['418']), curl.stderr);
    const teapots = await byWorker(registry, service, 'streammesh_http_requests_total', {
      route: 'teapot',
    });
    assert.equal((teapots.get('0') ?? 0) + (teapots.get('1') ?? 0), 30);
    assert.ok(
      (teapots.get('0') ?? 0) > 0 && (teapots.get('1') ?? 0) > 0,
      `requests by worker: ${JSON.stringify([...teapots])}`,
    );
  });

  it('a fixed port dropped by one push can be bound again by the next, on every thread', async () => {
    const { service } = start();
    const fixed = await freePort();
    (
      await service.prepareHttp(config(backend, { edge: `127.0.0.1:${fixed}`, proxied: false }))
    ).commit();
    // The listener goes; the next push, at once, has another listener on its port.
    (
      await service.prepareHttp(config(backend, { second: '127.0.0.1:0', proxied: false }))
    ).commit();
    const again = httpSchema.parse({
      ...config(backend, { proxied: true }),
      listeners: [{ name: 'again', listen: `127.0.0.1:${fixed}` }],
    });
    (await service.prepareHttp(again)).commit();
    for (const worker of [0, 1]) {
      assert.deepEqual(
        (await service.listeners(worker)).map((listener) => `${listener.name}:${listener.port}`),
        [`again:${fixed}`],
      );
    }
    assert.deepEqual(new Set(await statuses(fixed, 20)), new Set([200]));
  });

  it('a thread that dies between prepare and commit gets the committed config, not the one before', async () => {
    const { service, registry } = start({ restartBackoffMs: 100 });
    const gone = await freePort();
    const listeners = (...list: { name: string; listen: string }[]) =>
      httpSchema.parse({ ...config(backend, { proxied: false }), listeners: list });
    const named = async (worker: number) =>
      (await service.listeners(worker)).map((listener) => `${listener.name}:${listener.port}`);
    // C1: edge and `second` on a fixed port.
    (
      await service.prepareHttp(
        listeners(
          { name: 'edge', listen: '127.0.0.1:0' },
          { name: 'second', listen: `127.0.0.1:${gone}` },
        ),
      )
    ).commit();
    const edge = await edgePort(service);
    // C2 drops `second` and adds `third`; prepared on both threads, then thread 1 dies.
    const change = await service.prepareHttp(
      listeners({ name: 'edge', listen: '127.0.0.1:0' }, { name: 'third', listen: '127.0.0.1:0' }),
    );
    await service.crashWorker(1);
    await waitFor(
      async () => {
        const restarts = await byWorker(registry, service, 'streammesh_l7_thread_restarts_total', {
          reason: 'crashed',
        });
        return restarts.get('1') === 1 ? true : undefined;
      },
      10_000,
      () => 'worker 1 ended by its crash',
    );
    // Its successor came back before the commit, with C1 (the config committed then).
    assert.deepEqual(await named(1), [`edge:${edge}`, `second:${gone}`]);
    change.commit();
    const third = (await service.listeners(0)).find((listener) => listener.name === 'third');
    assert.ok(third !== undefined, 'thread 0 serves C2');
    const expected = [`edge:${edge}`, `third:${third.port}`];
    assert.deepEqual(await named(0), expected);
    let seen: string[] = [];
    await waitFor(
      async () => {
        seen = await named(1);
        return JSON.stringify(seen) === JSON.stringify(expected) ? true : undefined;
      },
      10_000,
      () => `thread 1 still serves ${JSON.stringify(seen)}, not ${JSON.stringify(expected)}`,
    );
    // The port of the listener C2 removed is held by no thread any more.
    assert.ok(await canBindTcp(gone), `port ${gone} of the removed listener released`);
    assert.deepEqual(new Set(await statuses(third.port, 10)), new Set([418]));
  });

  it('an endpoint one thread ejects is ejected on every thread, a restarted one too: no thread sends it another request', async () => {
    const { service, registry } = start();
    const failing = await startBackend('failing');
    failing.handler = (_req, res) => {
      res.writeHead(500).end('failing');
    };
    try {
      (
        await service.prepareHttp(
          httpSchema.parse({
            listeners: [{ name: 'edge', listen: '127.0.0.1:0' }],
            routes: [
              { name: 'main', match: { path: { prefix: '/' } }, action: { cluster: 'api' } },
            ],
            clusters: [
              {
                name: 'api',
                endpoints: [backend.address, failing.address],
                outlier: { consecutive5xx: 3, baseEjectionMs: 60_000, maxEjectionPercent: 50 },
              },
            ],
          }),
        )
      ).commit();
      const port = await edgePort(service);
      const available = (): Promise<Map<string, number>> =>
        byWorker(registry, service, 'streammesh_http_endpoint_available', {
          cluster: 'api',
          endpoint: failing.address,
        });
      const requests = (): Promise<Map<string, number>> =>
        byWorker(registry, service, 'streammesh_http_requests_total', { route: 'main' });

      // A connection per request until one thread has seen 3 failures in a row and ejected it.
      for (let i = 0; i < 200 && ![...(await available()).values()].includes(0); i += 1) {
        await getOnce(port, `/fail/${i}`);
      }
      const ejectedBy = [...(await available())].filter(([, value]) => value === 0);
      assert.ok(ejectedBy.length > 0, 'one thread ejected the failing endpoint');
      // The others adopt it without a request of their own to it.
      let byThread = new Map<string, number>();
      await waitFor(
        async () => {
          byThread = await available();
          return byThread.size === 2 && [...byThread.values()].every((value) => value === 0)
            ? true
            : undefined;
        },
        5_000,
        () => `available by worker: ${JSON.stringify([...byThread])}`,
      );

      const seenBefore = failing.seen.length;
      const before = await requests();
      const after: (number | string)[] = [];
      for (let i = 0; i < 60; i += 1) after.push(await getOnce(port, `/after/${i}`));
      assert.deepEqual(
        new Set(after),
        new Set([200]),
        'every request answered by the good endpoint',
      );
      assert.equal(
        failing.seen.length,
        seenBefore,
        'no thread sent the ejected endpoint a request',
      );
      const served = await requests();
      for (const worker of ['0', '1']) {
        assert.ok(
          (served.get(worker) ?? 0) > (before.get(worker) ?? 0),
          `worker ${worker} served some of the requests after the ejection: ${JSON.stringify([...served])}`,
        );
      }
      const ejections = await byWorker(
        registry,
        service,
        'streammesh_http_outlier_ejections_total',
        {
          cluster: 'api',
        },
      );
      assert.ok(
        [...ejections.values()].reduce((sum, count) => sum + count, 0) >= 1,
        'the ejection is counted by the thread that decided it',
      );

      // A thread restarted after a crash is told the ejections in force when its cluster starts.
      const restartsOf = async (): Promise<number> =>
        (
          await byWorker(registry, service, 'streammesh_l7_thread_restarts_total', {
            reason: 'crashed',
          })
        ).get('1') ?? 0;
      await service.crashWorker(1);
      await waitFor(
        async () => ((await restartsOf()) === 1 ? true : undefined),
        10_000,
        () => 'worker 1 ended by its crash',
      );
      await service.listeners(1); // resolves once the restarted thread has the config in force
      await waitFor(
        async () => {
          byThread = await available();
          return byThread.get('1') === 0 ? true : undefined;
        },
        2_000,
        () =>
          `the restarted worker 1 still takes the ejected endpoint: ${JSON.stringify([...byThread])}`,
      );
    } finally {
      await failing.close();
    }
  });
});
