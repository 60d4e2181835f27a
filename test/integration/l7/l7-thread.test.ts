/**
 * The L7 proxy on a thread of its own (IsolatedHttpService, what the
 * rtp-proxy runs; issue 14): the HTTP proxy answers while the main thread
 * cannot run at all (the test blocks it in spawnSync(curl); with the proxy on
 * the main thread curl would get no answer), a taken port still refuses the
 * config naming its HTTP_LISTENER with the config in force still serving,
 * the thread's metrics reach the node's exposition, and a thread whose event
 * loop is stuck (a catastrophic route regex) is ended by the watchdog and
 * started again with the config in force, while the main thread's event loop
 * never stalls.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { createServer, type Server } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import {
  IsolatedHttpService,
  type IsolatedHttpServiceOptions,
} from '../../../rtp-proxy/l7/index.js';
import { L7_THREAD_NICE } from '../../../rtp-proxy/l7/thread/thread-tuning.js';
import { httpSchema } from '../../../src/config/http-schema.js';
import { refusedResourcesOf } from '../../../src/config/index.js';
import { exposeMetrics } from '../../../src/shared/metrics.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';

const log = pino({ level: 'silent' });

/** A route the proxy answers itself (fault abort, 418), plus one with a catastrophic regex. */
function config(listen: string, extraListen?: string) {
  return httpSchema.parse({
    listeners: [
      { name: 'edge', listen },
      ...(extraListen === undefined ? [] : [{ name: 'second', listen: extraListen }]),
    ],
    routes: [
      {
        name: 'stuck',
        // (a+)+b on a long run of a's with no b backtracks for ages: a stuck event loop.
        match: { path: { regex: '/(a+)+b' } },
        action: { cluster: 'nowhere' },
      },
      {
        name: 'teapot',
        match: { path: { prefix: '/' } },
        action: { cluster: 'nowhere', fault: { abort: { status: 418, percent: 100 } } },
      },
    ],
    clusters: [{ name: 'nowhere', endpoints: ['127.0.0.1:9'] }],
  });
}

async function port(service: IsolatedHttpService, name: string): Promise<number> {
  const found = (await service.listeners()).find((listener) => listener.name === name);
  if (found === undefined) throw new Error(`no listener ${name}`);
  return found.port;
}

async function status(url: string): Promise<number> {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
  await response.arrayBuffer();
  return response.status;
}

/** Resolves once the service's thread has been ended once for not answering, and restarted. */
async function unresponsiveRestart(registry: Registry, timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    const text = await registry.metrics();
    return /streammesh_l7_thread_restarts_total\{reason="unresponsive"\} 1/.test(text)
      ? true
      : undefined;
  }, timeoutMs);
}

function squat(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

describe('L7 proxy on its own thread', { timeout: 60_000 }, () => {
  const services: IsolatedHttpService[] = [];
  const squatters: Server[] = [];
  after(async () => {
    await Promise.all(services.map((service) => service.close()));
    for (const server of squatters) server.close();
  });

  function start(options: Partial<IsolatedHttpServiceOptions> = {}) {
    const registry = new Registry();
    const service = new IsolatedHttpService({ role: 'proxy', log, metrics: registry, ...options });
    services.push(service);
    return { service, registry };
  }

  it('answers while the main thread is blocked, and its metrics join the node exposition', async () => {
    const { service, registry } = start();
    (await service.prepareHttp(config('127.0.0.1:0'))).commit();
    const edge = await port(service, 'edge');
    // spawnSync holds this thread until curl exits: only another event loop can answer it.
    const curl = spawnSync(
      'curl',
      [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--max-time',
        '5',
        `http://127.0.0.1:${edge}/x`,
      ],
      { encoding: 'utf8', timeout: 10_000 },
    );
    assert.equal(curl.stdout, '418', `curl: ${curl.stdout} ${curl.stderr}`);

    const text = await exposeMetrics(registry, [() => service.threadMetrics()]);
    assert.match(text, /streammesh_http_requests_total\{[^}]*route="teapot"[^}]*\} 1/);
    assert.match(text, /^streammesh_l7_thread_up 1$/m);
    assert.match(text, /^streammesh_l7_thread_heap_used_bytes\{role="proxy"\} [1-9]/m);
  });

  it("measures its own garbage-collection pauses, which the main thread's metrics do not show", async () => {
    const { service, registry } = start();
    (await service.prepareHttp(config('127.0.0.1:0'))).commit();
    const edge = await port(service, 'edge');
    const scavenges = async (): Promise<number> => {
      const text = await exposeMetrics(registry, [() => service.threadMetrics()]);
      const count =
        /^streammesh_l7_thread_gc_duration_seconds_count\{[^}]*kind="minor"[^}]*\} (\d+)$/m.exec(
          text,
        );
      return Number(count?.[1] ?? 0);
    };
    // This registry has no default metrics: a pause counted here is the thread's.
    // Requests make the thread's garbage; bounded, in rounds, until a scavenge is counted.
    for (let round = 0; round < 20 && (await scavenges()) === 0; round += 1) {
      const answers = await Promise.all(
        Array.from({ length: 100 }, () => status(`http://127.0.0.1:${edge}/x`)),
      );
      assert.ok(answers.every((code) => code === 418));
    }
    assert.ok((await scavenges()) > 0, 'a scavenge of the thread was counted');
  });

  it('runs at a lower CPU priority than the main thread, which keeps its own', async () => {
    // /proc/self/task/<tid>/stat: field 19 is the thread's nice value (after the "(comm)" field).
    const niced = (): number =>
      readdirSync('/proc/self/task').filter((tid) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) === L7_THREAD_NICE;
      }).length;
    const before = niced();
    const { service } = start();
    await service.listeners(); // its thread is up
    assert.equal(niced(), before + 1, 'one more thread at the L7 nice value: this one');
    assert.equal(getPriority(0), 0, 'the main thread keeps its priority');
  });

  it('refuses a config with a taken port naming its HTTP_LISTENER; the config in force keeps serving', async () => {
    const { service } = start();
    (await service.prepareHttp(config('127.0.0.1:0'))).commit();
    const edge = await port(service, 'edge');
    const taken = await squat();
    squatters.push(taken);
    const takenPort = (taken.address() as { port: number }).port;
    await assert.rejects(
      service.prepareHttp(config('127.0.0.1:0', `127.0.0.1:${takenPort}`)),
      (error: unknown) => {
        assert.deepEqual(refusedResourcesOf(error), [{ type: 'HTTP_LISTENER', name: 'second' }]);
        assert.equal((error as { code?: string }).code, 'ERR_HTTP_LISTENER_BIND');
        return true;
      },
    );
    assert.equal(await status(`http://127.0.0.1:${edge}/still`), 418);
    assert.deepEqual(
      (await service.listeners()).map((listener) => listener.name),
      ['edge'],
    );
  });

  it('ends a thread stuck in a route regex and restarts it with the config in force; the main loop never stalls', async () => {
    const { service, registry } = start({ unresponsiveMs: 1500, pingIntervalMs: 250 });
    (await service.prepareHttp(config('127.0.0.1:0'))).commit();
    const edge = await port(service, 'edge');
    assert.equal(await status(`http://127.0.0.1:${edge}/before`), 418);

    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    // The stuck request gets no answer: its connection dies with the thread.
    const stuck = fetch(`http://127.0.0.1:${edge}/${'a'.repeat(40)}`, {
      signal: AbortSignal.timeout(15_000),
    }).then(
      () => 'answered',
      () => 'failed',
    );
    await unresponsiveRestart(registry, 10_000);
    assert.equal(await stuck, 'failed');
    // Back with the same config: the listener is bound again (a new port 0 is another port).
    const served = async () => {
      try {
        return (await status(`http://127.0.0.1:${await port(service, 'edge')}/after`)) === 418
          ? true
          : undefined;
      } catch {
        return undefined;
      }
    };
    assert.equal(await waitFor(served, 10_000), true);
    delay.disable();
    // Stuck on the main loop, the regex would stall it past unresponsiveMs
    // (1.5 s); 200 ms leaves room for a loaded machine and the thread's restart.
    assert.ok(
      delay.max / 1e6 < 200,
      `main event loop stalled ${(delay.max / 1e6).toFixed(1)} ms while the L7 thread was stuck`,
    );
  });

  it('ends a thread stuck right after its first config, before any ping, without the boot grace', async () => {
    // The first ping goes out after 1 s: the thread answers its prepare, then
    // is stuck before it ever answers a ping. The prepare's answer showed it
    // had booted, so the 10 s grace for loading its modules no longer applies.
    const { service, registry } = start({ unresponsiveMs: 1500, pingIntervalMs: 1000 });
    (await service.prepareHttp(config('127.0.0.1:0'))).commit();
    const edge = await port(service, 'edge');
    assert.equal(await status(`http://127.0.0.1:${edge}/before`), 418);
    const stuckAt = performance.now();
    void fetch(`http://127.0.0.1:${edge}/${'a'.repeat(40)}`).catch(() => undefined);
    await unresponsiveRestart(registry, 8000);
    const endedAfterMs = performance.now() - stuckAt;
    assert.ok(endedAfterMs < 5000, `ended ${Math.round(endedAfterMs)} ms after it was stuck`);
  });

  it('a prepare on a thread that ends meanwhile is made on its successor, not refused', async () => {
    const { service } = start({ unresponsiveMs: 1500, pingIntervalMs: 250 });
    (await service.prepareHttp(config('127.0.0.1:0'))).commit();
    const edge = await port(service, 'edge');
    void fetch(`http://127.0.0.1:${edge}/${'a'.repeat(40)}`).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The thread is stuck: this prepare waits on it until the watchdog ends it.
    const prepared = await service.prepareHttp(config('127.0.0.1:0', '127.0.0.1:0'));
    prepared.commit();
    const names = (await service.listeners()).map((listener) => listener.name).sort();
    assert.deepEqual(names, ['edge', 'second']);
    assert.equal(await status(`http://127.0.0.1:${await port(service, 'second')}/x`), 418);
  });

  it('a config whose port was taken while its thread was down does not block the next one', async () => {
    const { service, registry } = start({
      unresponsiveMs: 1500,
      pingIntervalMs: 250,
      // Restarts exactly 1 s after the end: time to take the port in between.
      restartBackoff: { baseMs: 1000, maxMs: 1000, random: () => 0.999_999 },
    });
    const fixed = await freePort();
    (await service.prepareHttp(config(`127.0.0.1:${fixed}`))).commit();
    assert.equal(await status(`http://127.0.0.1:${fixed}/before`), 418);
    void fetch(`http://127.0.0.1:${fixed}/${'a'.repeat(40)}`).catch(() => undefined);
    await unresponsiveRestart(registry, 10_000);
    // Its listener's port is free now; someone else takes it before the restart.
    const taker = createServer();
    await new Promise<void>((resolve, reject) => {
      taker.once('error', reject);
      taker.listen(fixed, '127.0.0.1', resolve);
    });
    squatters.push(taker);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // The restarted thread runs without that config; a new one (another port) goes in.
    const next = await service.prepareHttp(config('127.0.0.1:0'));
    next.commit();
    assert.equal(await status(`http://127.0.0.1:${await port(service, 'edge')}/x`), 418);
  });

  it('releases its ports on close', async () => {
    const { service } = start();
    (await service.prepareHttp(config('127.0.0.1:0'))).commit();
    const edge = await port(service, 'edge');
    await service.close();
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(edge, '127.0.0.1', resolve);
    });
    again.close();
    await assert.rejects(service.prepareHttp(config('127.0.0.1:0')), /closed/);
  });
});
