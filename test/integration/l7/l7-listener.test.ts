/**
 * The L7 listener against real node:http backends on loopback: routing by
 * host and path, a weighted split, bodies streamed both ways, timeouts, dead
 * upstreams, and smuggling shapes refused before any upstream sees them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../helpers/ports.js';
import {
  clientAgent,
  send,
  sendRaw,
  startBackend,
  startProxy,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';

describe('HTTP/1.1 listener', () => {
  let users: Backend;
  let orders: Backend;
  let canary: Backend;
  let proxy: RunningProxy;
  let port: number;

  before(async () => {
    [users, orders, canary] = await Promise.all([
      startBackend('users'),
      startBackend('orders'),
      startBackend('canary'),
    ]);
    const dead = `127.0.0.1:${await freePort()}`;
    proxy = await startProxy({
      listeners: [{ name: 'edge', listen: '127.0.0.1:0', protocol: 'http1' }],
      routes: [
        {
          name: 'slow',
          match: { path: { prefix: '/hang' } },
          action: { cluster: 'users', timeoutMs: 300 },
        },
        {
          name: 'dead',
          match: { authority: 'dead', path: { prefix: '/' } },
          action: { cluster: 'dead' },
        },
        {
          name: 'split',
          match: { authority: 'split', path: { prefix: '/' } },
          action: {
            weighted: [
              { cluster: 'users', weight: 90 },
              { cluster: 'canary', weight: 10 },
            ],
          },
        },
        { name: 'orders', match: { path: { prefix: '/orders' } }, action: { cluster: 'orders' } },
        {
          name: 'users',
          match: { authority: 'users', path: { prefix: '/' } },
          action: { cluster: 'users' },
        },
      ],
      clusters: [
        { name: 'users', endpoints: [users.address] },
        { name: 'orders', endpoints: [orders.address] },
        { name: 'canary', endpoints: [canary.address] },
        { name: 'dead', endpoints: [dead] },
      ],
    });
    port = proxy.port;
  });

  after(async () => {
    clientAgent.destroy();
    await proxy.close();
    await Promise.all([users, orders, canary].map((backend) => backend.close()));
  });

  it('routes by host and by path prefix to different clusters', async () => {
    const byHost = await send(port, { host: 'users', path: '/profile' });
    const byPath = await send(port, { host: 'users', path: '/orders/7' });
    assert.equal(byHost.status, 200);
    assert.equal(byHost.body.toString(), 'users');
    assert.equal(byPath.body.toString(), 'orders');
    assert.equal(orders.seen.at(-1)?.headers['x-forwarded-proto'], 'http');
    assert.equal(orders.seen.at(-1)?.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(orders.seen.at(-1)?.headers.host, 'users', 'the Host header reaches the upstream');
  });

  it('drops hop-by-hop headers and those the Connection header names', async () => {
    const answer = await send(port, {
      host: 'users',
      path: '/hop',
      headers: {
        connection: 'keep-alive, x-hop-secret',
        'x-hop-secret': 'one hop only',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        'x-end-to-end': 'kept',
        'x-forwarded-for': '10.0.0.9',
      },
    });
    assert.equal(answer.status, 200);
    const seen = users.seen.at(-1)?.headers ?? {};
    assert.equal(seen['x-hop-secret'], undefined);
    assert.equal(seen['proxy-connection'], undefined);
    assert.equal(seen['te'], 'trailers');
    assert.equal(seen['x-end-to-end'], 'kept');
    assert.equal(seen['x-forwarded-for'], '10.0.0.9, 127.0.0.1');
  });

  it('answers 404 with a reason when no route matches', async () => {
    const answer = await send(port, { host: 'nobody', path: '/x' });
    assert.equal(answer.status, 404);
    assert.match(answer.body.toString(), /no route for "nobody\/x"/);
  });

  it('splits 90/10 within 3% over 2000 requests', async () => {
    const total = 2000;
    const counts = new Map<string, number>();
    for (let batch = 0; batch < total / 50; batch += 1) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => send(port, { host: 'split', path: '/' })),
      );
      for (const answer of answers) {
        const name = answer.body.toString();
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
    }
    const canaryShare = (counts.get('canary') ?? 0) / total;
    assert.equal((counts.get('users') ?? 0) + (counts.get('canary') ?? 0), total);
    assert.ok(Math.abs(canaryShare - 0.1) <= 0.03, `canary got ${canaryShare * 100}%`);
  });

  it('streams a POST body up and a chunked response down intact', async () => {
    const body = Buffer.alloc(256 * 1024, 0);
    for (let i = 0; i < body.length; i += 1) body[i] = (i * 31) & 0xff;
    const echoed = await send(port, { host: 'users', path: '/upload', method: 'POST', body });
    assert.equal(echoed.status, 200);
    assert.ok(echoed.body.equals(body), 'the echoed body differs from the one sent');

    const chunked = await send(port, { host: 'users', path: '/chunked' });
    assert.equal(chunked.headers['transfer-encoding'], 'chunked');
    assert.equal(chunked.body.toString(), 'chunk-1;chunk-2;chunk-3;chunk-4;chunk-5;');
  });

  it('answers 504 when the upstream outlasts the route timeout', async () => {
    const started = Date.now();
    const answer = await send(port, { host: 'users', path: '/hang' });
    assert.equal(answer.status, 504);
    assert.ok(Date.now() - started >= 250, 'the timeout fired too early');
    assert.ok(
      users.seen.some((seen) => seen.path === '/hang'),
      'the request did reach the upstream',
    );
  });

  it('answers 502 when the upstream refuses the connection', async () => {
    const answer = await send(port, { host: 'dead', path: '/' });
    assert.equal(answer.status, 502);
    assert.match(answer.body.toString(), /connect-failure/);
  });

  it('refuses smuggling shapes with 400, counts them, and never forwards them', async () => {
    const before = users.seen.length;
    const both = await sendRaw(
      port,
      'POST /smuggle HTTP/1.1\r\nHost: users\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /inner HTTP/1.1\r\nHost: users\r\n\r\n',
    );
    const twoLengths = await sendRaw(
      port,
      'POST /smuggle HTTP/1.1\r\nHost: users\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd',
    );
    assert.match(both.toString('latin1'), /^HTTP\/1\.1 400 /);
    assert.match(twoLengths.toString('latin1'), /^HTTP\/1\.1 400 /);
    assert.equal(users.seen.length, before, 'a refused request reached the upstream');
    assert.equal(
      await proxy.metric('streammesh_http_refused_requests_total', { listener: 'edge' }),
      2,
    );
  });
});
