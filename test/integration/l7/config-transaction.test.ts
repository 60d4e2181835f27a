/**
 * The L7 service as a participant in the node's config transaction, with
 * real listeners and node:http backends: prepare binds new addresses and
 * builds new clusters without changing what serves traffic; abort frees them
 * and leaves the old config serving; a prepare whose new address is taken
 * rejects holding nothing; commit switches routes, takes over a port whose
 * listener changed settings without a gap, and closes removed listeners.
 * Between prepare and commit a new listener serves nothing (a request there
 * waits for commit, then takes the new routes; after an abort it is closed
 * unanswered) and a new cluster probes nothing; two prepares started
 * together let one through; a closed service takes no config and a change
 * prepared before close() leaves nothing behind; close() closes clusters
 * still draining.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { HttpService } from '../../../rtp-proxy/l7/l7-service.js';
import { httpSchema } from '../../../src/config/http-schema.js';
import { refusedResourcesOf } from '../../../src/config/index.js';
import { meshConfigSchema } from '../../../src/config/schema.js';
import { applyConfigTransaction, type ConfigParticipant } from '../../../src/node-agent/index.js';
import {
  clientAgent,
  delay,
  send,
  sendRaw,
  startBackend,
  type Backend,
} from '../../helpers/l7-harness.js';
import { freePort } from '../../helpers/ports.js';

interface ListenerSpec {
  readonly name: string;
  readonly port: number;
  readonly maxHeaderBytes?: number;
}

/** Every listener routes everything to `cluster` of `backend` (health-checked every 50 ms). */
function configTo(listeners: readonly ListenerSpec[], backend: Backend, cluster = 'app') {
  return httpSchema.parse({
    listeners: listeners.map(({ name, port, maxHeaderBytes }) => ({
      name,
      listen: `127.0.0.1:${port}`,
      ...(maxHeaderBytes === undefined ? {} : { maxHeaderBytes }),
    })),
    routes: [{ name: 'all', match: { path: { prefix: '/' } }, action: { cluster } }],
    clusters: [
      {
        name: cluster,
        endpoints: [backend.address],
        healthCheck: { path: '/health', intervalMs: 50 },
      },
    ],
  });
}

/** Whether this process can bind `port` now (it is then released again). */
async function canBind(port: number): Promise<boolean> {
  const server: Server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (bound) await new Promise<void>((resolve) => server.close(() => resolve()));
  return bound;
}

async function answerOf(port: number): Promise<string> {
  return (await send(port, { host: 'x', path: '/' })).body.toString();
}

function healthChecks(backend: Backend): number {
  return backend.seen.filter((request) => request.path === '/health').length;
}

describe('L7 service config transaction', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    clientAgent.destroy();
  });

  async function setUp(): Promise<{
    service: HttpService;
    blue: Backend;
    green: Backend;
    port: number;
  }> {
    const [blue, green] = await Promise.all([startBackend('blue'), startBackend('green')]);
    const service = new HttpService(pino({ level: 'silent' }), new Registry());
    cleanups.push(
      () => blue.close(),
      () => green.close(),
      () => service.close(),
    );
    const port = await freePort();
    await service.apply(configTo([{ name: 'edge', port }], blue));
    assert.equal(await answerOf(port), 'blue');
    return { service, blue, green, port };
  }

  it('prepare then abort: the old listeners serve the old routes, the new port and cluster are freed', async () => {
    const { service, blue, green, port } = await setUp();
    const extra = await freePort();
    const change = await service.prepareHttp(
      configTo(
        [
          { name: 'edge', port },
          { name: 'extra', port: extra },
        ],
        green,
        'next',
      ),
    );
    assert.equal(await canBind(extra), false, 'prepare bound the new address');
    assert.equal(await answerOf(port), 'blue', 'nothing switched before commit');
    // A request to the new listener before commit: not served by the old routes, closed at abort.
    const early = send(extra, { host: 'x', path: '/early' }).then(
      (answer) => `answered ${answer.status} ${answer.body.toString()}`,
      () => 'closed unanswered',
    );
    await delay(120);
    assert.equal(green.seen.filter((r) => r.path !== '/health').length, 0);
    assert.equal(healthChecks(green), 0, 'a prepared cluster probes nothing before commit');

    await change.abort();
    assert.equal(await early, 'closed unanswered', 'the new listener served nothing');
    assert.deepEqual(
      [...blue.seen, ...green.seen].filter((r) => r.path === '/early'),
      [],
      'no backend saw the early request',
    );
    assert.equal(await canBind(extra), true, 'abort freed the new port');
    assert.equal(await answerOf(port), 'blue', 'the old config still serves');
    assert.deepEqual([...service.listeners.keys()], ['edge']);
    await delay(60);
    const checks = healthChecks(green);
    await delay(200);
    assert.equal(healthChecks(green), checks, 'abort closed the new cluster (no more checks)');
  });

  it('a prepare whose new address is taken rejects and holds nothing', async () => {
    const { service, green, port } = await setUp();
    const free = await freePort();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => taken.close(() => resolve())));
    const takenPort = (taken.address() as { port: number }).port;
    const checksBefore = healthChecks(green);
    await assert.rejects(
      service.prepareHttp(
        configTo(
          [
            { name: 'edge', port },
            { name: 'first', port: free },
            { name: 'second', port: takenPort },
          ],
          green,
          'next',
        ),
      ),
      (error: unknown) => {
        assert.match(String(error), /proxy\.http\.listeners second .*EADDRINUSE/);
        assert.deepEqual(
          refusedResourcesOf(error),
          [{ type: 'HTTP_LISTENER', name: 'second' }],
          'the refusal names the listener that cannot bind',
        );
        return true;
      },
    );
    assert.equal(await canBind(free), true, 'the address bound before the failure was released');
    assert.equal(await answerOf(port), 'blue');
    await delay(200);
    assert.equal(healthChecks(green), checksBefore, 'no cluster was built for the refused config');
  });

  it('prepare then commit: routes switch on the same listener, a changed listener keeps its port, a removed one closes', async () => {
    const { service, green, blue, port } = await setUp();
    const second = await freePort();
    await service.apply(
      configTo(
        [
          { name: 'edge', port },
          { name: 'second', port: second },
        ],
        blue,
      ),
    );
    const edge = service.listeners.get('edge');
    const change = await service.prepareHttp(
      configTo([{ name: 'edge', port, maxHeaderBytes: 1024 }], green),
    );
    assert.equal(await answerOf(port), 'blue', 'prepared, not yet in force');
    assert.equal(await answerOf(second), 'blue');

    // Requests keep arriving across the commit: none may be refused.
    let refused = 0;
    let answered = 0;
    const traffic = { running: true };
    const during = (async () => {
      while (traffic.running) {
        await send(port, { host: 'x', path: '/during' }).then(
          () => {
            answered += 1;
          },
          () => {
            refused += 1;
          },
        );
      }
    })();
    await delay(30);
    change.commit();
    await delay(30);
    traffic.running = false;
    await during;
    assert.equal(refused, 0, 'the port never closed while its listener changed settings');
    assert.ok(answered >= 4, `requests ran across the commit (${answered})`);

    assert.equal(await answerOf(port), 'green', 'the new routes are in force');
    assert.notEqual(service.listeners.get('edge'), edge, 'a new listener with the new settings');
    const big = await sendRaw(
      port,
      `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(2048)}\r\n\r\n`,
    );
    assert.match(big.toString('latin1'), /^HTTP\/1\.1 431 /, 'the new maxHeaderBytes applies');
    await delay(50);
    assert.equal(await canBind(second), true, 'the removed listener closed its port');
    assert.deepEqual([...service.listeners.keys()], ['edge']);
  });

  it('a request to a new listener between prepare and commit waits, then takes the new routes', async () => {
    const { service, green, blue, port } = await setUp();
    const extra = await freePort();
    const change = await service.prepareHttp(
      configTo(
        [
          { name: 'edge', port },
          { name: 'extra', port: extra },
        ],
        green,
        'next',
      ),
    );
    let settled = false;
    const early = send(extra, { host: 'x', path: '/early' }).finally(() => {
      settled = true;
    });
    await delay(150);
    assert.equal(settled, false, 'no answer before commit');
    assert.equal(blue.seen.filter((r) => r.path === '/early').length, 0, 'old routes unused');
    change.commit();
    const answer = await early;
    assert.equal(answer.body.toString(), 'green', 'served by the committed routes');
    assert.equal(blue.seen.filter((r) => r.path === '/early').length, 0);
  });

  it('new clusters start their health checks at commit', async () => {
    const { service, green, port } = await setUp();
    const change = await service.prepareHttp(configTo([{ name: 'edge', port }], green, 'next'));
    await delay(150);
    assert.equal(healthChecks(green), 0, 'nothing probed while prepared');
    change.commit();
    await delay(150);
    assert.ok(healthChecks(green) > 0, 'probed once in force');
  });

  it('of two prepares started together one is refused, and the other can be aborted cleanly', async () => {
    const { service, green, port } = await setUp();
    const [first, second] = [await freePort(), await freePort()];
    const results = await Promise.allSettled([
      service.prepareHttp(
        configTo(
          [
            { name: 'edge', port },
            { name: 'a', port: first },
          ],
          green,
        ),
      ),
      service.prepareHttp(
        configTo(
          [
            { name: 'edge', port },
            { name: 'b', port: second },
          ],
          green,
        ),
      ),
    ]);
    const prepared = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    assert.equal(prepared.length, 1, 'one prepare went through');
    assert.equal(refused.length, 1, 'the other was refused');
    assert.match(String(refused[0]), /neither committed nor aborted/);
    await prepared[0]?.abort();
    assert.equal(await canBind(first), true);
    assert.equal(await canBind(second), true, 'the refused prepare bound nothing');
    assert.equal(await answerOf(port), 'blue');
  });

  it('a closed service refuses prepare; a change prepared before close() is released at commit', async () => {
    const { service, green, port } = await setUp();
    const extra = await freePort();
    const candidate = configTo(
      [
        { name: 'edge', port },
        { name: 'extra', port: extra },
      ],
      green,
      'next',
    );
    const change = await service.prepareHttp(candidate);
    await service.close();
    change.commit();
    await delay(100);
    assert.equal(await canBind(extra), true, 'the prepared listener was closed, not put in force');
    assert.equal(await canBind(port), true, 'the old listener closed with the service');
    assert.deepEqual([...service.listeners.keys()], []);
    await assert.rejects(service.prepareHttp(candidate), { code: 'ERR_HTTP_SERVICE_CLOSED' });
    assert.equal(await canBind(extra), true, 'the refused prepare bound nothing');
    await delay(150);
    assert.equal(healthChecks(green), 0, 'no cluster of the released change ever probed');
  });

  it('close() within the drain time closes a replaced cluster (its health checks stop)', async () => {
    const { service, green, blue, port } = await setUp();
    // The cluster "app" (blue) is replaced by "next" (green): "app" drains for 30 s.
    await service.apply(configTo([{ name: 'edge', port }], green, 'next'));
    await delay(120);
    assert.ok(healthChecks(blue) > 0);
    await service.close();
    await delay(60);
    const checks = healthChecks(blue);
    await delay(200);
    assert.equal(healthChecks(blue), checks, 'the draining cluster was closed with the service');
  });
});

describe('L7 service in a node config transaction', () => {
  it('aborts its prepared change when a later participant refuses, and commits when all accept', async () => {
    const [blue, green] = await Promise.all([startBackend('blue'), startBackend('green')]);
    const service = new HttpService(pino({ level: 'silent' }), new Registry());
    const [port, extra] = [await freePort(), await freePort()];
    const meshWith = (http: ReturnType<typeof configTo>) =>
      meshConfigSchema.parse({ proxy: { admin: '127.0.0.1:0', http } });
    let refuse = true;
    const strict: ConfigParticipant = {
      name: 'strict',
      prepare: () =>
        refuse
          ? Promise.reject(new Error('not this one'))
          : Promise.resolve({ commit: () => undefined, abort: () => Promise.resolve() }),
    };
    try {
      await applyConfigTransaction([service], meshWith(configTo([{ name: 'edge', port }], blue)));
      assert.equal(await answerOf(port), 'blue');
      const candidate = meshWith(
        configTo(
          [
            { name: 'edge', port },
            { name: 'extra', port: extra },
          ],
          green,
        ),
      );
      await assert.rejects(applyConfigTransaction([service, strict], candidate), {
        code: 'ERR_CONFIG_REFUSED',
      });
      assert.equal(await answerOf(port), 'blue', 'the refused config never served');
      assert.equal(await canBind(extra), true, "l7's new port was freed by its abort");
      refuse = false;
      await applyConfigTransaction([service, strict], candidate);
      assert.equal(await answerOf(port), 'green');
      assert.equal(await answerOf(extra), 'green');
    } finally {
      await service.close();
      await Promise.all([blue.close(), green.close()]);
    }
  });
});
