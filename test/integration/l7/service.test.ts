/**
 * The HTTP proxy as the rtp-proxy runs it (HttpService): a pushed config
 * changes routes on the listener in force without closing it, a config whose
 * listen address is taken is refused with the old one still serving, and the
 * access log writes its sampled share plus every failure, as JSON lines.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { HttpService } from '../../../rtp-proxy/l7/l7-service.js';
import { httpSchema } from '../../../src/config/http-schema.js';
import { freePort } from '../../helpers/ports.js';
import { capturedLog, clientAgent, send, startBackend } from '../../helpers/l7-harness.js';

function configTo(listen: string, endpoint: string, extra: Record<string, unknown> = {}) {
  return httpSchema.parse({
    listeners: [{ name: 'edge', listen }],
    routes: [{ name: 'all', match: { path: { prefix: '/' } }, action: { cluster: 'app' } }],
    clusters: [{ name: 'app', endpoints: [endpoint] }],
    ...extra,
  });
}

describe('HTTP proxy service', () => {
  after(() => clientAgent.destroy());

  it('applies a new route table on the same listener, and refuses a taken address', async () => {
    const [blue, green] = await Promise.all([startBackend('blue'), startBackend('green')]);
    const service = new HttpService(pino({ level: 'silent' }), new Registry());
    const port = await freePort();
    try {
      await service.apply(configTo(`127.0.0.1:${port}`, blue.address));
      assert.equal((await send(port, { host: 'x', path: '/' })).body.toString(), 'blue');
      await service.apply(configTo(`127.0.0.1:${port}`, green.address));
      assert.equal((await send(port, { host: 'x', path: '/' })).body.toString(), 'green');

      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const takenPort = (taken.address() as { port: number }).port;
      try {
        await assert.rejects(
          service.apply(configTo(`127.0.0.1:${takenPort}`, blue.address)),
          /EADDRINUSE/,
        );
      } finally {
        taken.close();
      }
      assert.equal(
        (await send(port, { host: 'x', path: '/' })).body.toString(),
        'green',
        'the config in force keeps serving after a refused one',
      );
    } finally {
      await service.close();
      await Promise.all([blue.close(), green.close()]);
    }
  });

  it('logs its sampled share of requests and every failed one as JSON lines', async () => {
    const { log, lines } = capturedLog();
    const app = await startBackend('app');
    const service = new HttpService(log, new Registry());
    const dead = `127.0.0.1:${await freePort()}`;
    try {
      await service.apply(
        httpSchema.parse({
          listeners: [{ name: 'edge', listen: '127.0.0.1:0' }],
          routes: [
            {
              name: 'dead',
              match: { authority: 'dead', path: { prefix: '/' } },
              action: { cluster: 'dead' },
            },
            { name: 'app', match: { path: { prefix: '/' } }, action: { cluster: 'app' } },
          ],
          clusters: [
            { name: 'app', endpoints: [app.address] },
            { name: 'dead', endpoints: [dead] },
          ],
          accessLog: { percent: 25, errors: true },
        }),
      );
      const port = service.listeners.get('edge')?.address.port ?? 0;
      for (let batch = 0; batch < 8; batch += 1) {
        await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            send(port, { host: 'app', path: `/ok/${batch}/${i}` }),
          ),
        );
      }
      for (let i = 0; i < 10; i += 1) {
        assert.equal((await send(port, { host: 'dead', path: `/fail/${i}` })).status, 502);
      }
      const access = lines.filter((line) => line['log'] === 'access');
      const ok = access.filter((line) => line['status'] === 200);
      const failed = access.filter((line) => line['status'] === 502);
      assert.equal(failed.length, 10, 'every failed request is logged');
      assert.ok(ok.length > 60 && ok.length < 140, `${ok.length} of 400 sampled at 25%`);
      const entry = failed[0] ?? {};
      assert.equal(entry['route'], 'dead');
      assert.equal(entry['cluster'], 'dead');
      assert.equal(entry['endpoint'], dead);
      assert.equal(entry['method'], 'GET');
      assert.equal(entry['protocol'], 'HTTP/1.1');
      assert.deepEqual(entry['flags'], ['UF']);
      assert.equal(typeof entry['durationMs'], 'number');
    } finally {
      await service.close();
      await app.close();
    }
  });
});
