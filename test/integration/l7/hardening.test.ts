/**
 * Regression tests for the defects a review of the L7 proxy found (fixed in
 * 4c9ab8a), one test per defect, each failing if its fix is undone: an
 * HTTP/2 upstream dying mid-stream, clients that reset before their request
 * is set up, connection-scoped trailers, a retry backoff never waited, a
 * warm pool counted as overflow, an answer spliced into a streaming
 * response, and a status HTTP/2 cannot carry. After each, the proxy must
 * still answer a normal request: a leaked circuit-breaker slot shows there
 * as a 503. And a response cut off by a dying HTTP/2 upstream must reach an
 * HTTP/2 client as reset, never as complete.
 */
import assert from 'node:assert/strict';
import {
  constants as h2constants,
  createServer as createHttp2Server,
  type ClientHttp2Session,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { after, afterEach, describe, it } from 'node:test';
import {
  clientAgent,
  delay,
  http2Session,
  send,
  send2,
  startBackend,
  startProxyTo,
  type RunningProxy,
} from '../../helpers/l7-harness.js';

interface Closable {
  close(): Promise<void>;
}

/** An upstream on loopback that can cut its own connections; only `address` and `close` matter to tests. */
interface Upstream extends Closable {
  readonly address: string;
}

/** What an HTTP/2 client saw of one stream, whichever way it ended. */
interface StreamOutcome {
  readonly status: number | undefined;
  readonly body: string;
  /** true when the stream ended with END_STREAM, not a reset or error. */
  readonly ended: boolean;
  readonly rstCode: number;
  readonly error: string | undefined;
}

/** One HTTP/2 request that never rejects: resets and errors are part of the outcome (bounded). */
function outcomeOf(
  session: ClientHttp2Session,
  path: string,
  waitMs = 5_000,
): Promise<StreamOutcome> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ':authority': 'svc' });
    let status: number | undefined;
    let body = '';
    let ended = false;
    let error: string | undefined;
    const timer = setTimeout(() => {
      stream.close();
      reject(new Error(`HTTP/2 stream ${path} neither ended nor reset within ${waitMs} ms`));
    }, waitMs);
    stream.on('response', (headers: IncomingHttpHeaders) => {
      status = Number(headers[':status']);
    });
    stream.on('data', (part: Buffer) => (body += part.toString()));
    stream.on('end', () => (ended = true));
    stream.on(
      'error',
      (failure: NodeJS.ErrnoException) => (error = failure.code ?? failure.message),
    );
    stream.on('close', () => {
      clearTimeout(timer);
      resolve({ status, body, ended, rstCode: stream.rstCode, error });
    });
    stream.end();
  });
}

/**
 * An HTTP/2 upstream: /nohead cuts every connection before answering,
 * /midbody answers 200 and 100 bytes, then cuts every connection; anything
 * else is answered 200 "ok".
 */
async function startDyingHttp2Upstream(): Promise<Upstream> {
  const server: Http2Server = createHttp2Server();
  const sockets = new Set<Socket>();
  const cutAll = (): void => {
    for (const socket of sockets) socket.destroy();
  };
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    const path = headers[':path'];
    if (path === '/nohead') {
      cutAll();
      return;
    }
    if (path === '/midbody') {
      stream.respond({ ':status': 200 });
      stream.write('x'.repeat(100));
      setTimeout(cutAll, 50);
      return;
    }
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A raw HTTP/1.1 upstream (node:http will not send such a status): /weird is
 * answered "600 Weird", anything else 200 "ok"; one request per connection.
 */
async function startStatus600Upstream(): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    socket.on('data', (part: Buffer) => {
      head += part.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = head.split(' ')[1];
      socket.end(
        path === '/weird'
          ? 'HTTP/1.1 600 Weird\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello'
          : 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok',
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Sends `first`, and `second` on the same connection as soon as the first
 * response's bytes begin to arrive; returns everything received until the
 * proxy closed the connection (bounded).
 */
function pipelineBehindResponse(
  port: number,
  first: string,
  second: string,
  waitMs = 5_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`connection not closed within ${waitMs} ms; got ${JSON.stringify(received)}`),
      );
    }, waitMs);
    socket.on('data', (part: Buffer) => {
      if (received === '') socket.write(second);
      received += part.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.write(first);
  });
}

describe('HTTP proxy: hardening (review regressions)', () => {
  const running: Closable[] = [];
  const sessions: ClientHttp2Session[] = [];
  const track = <T extends Closable>(item: T): T => {
    running.push(item);
    return item;
  };
  const session = (port: number): ClientHttp2Session => {
    const opened = http2Session(port);
    sessions.push(opened);
    return opened;
  };

  afterEach(async () => {
    for (const opened of sessions.splice(0)) opened.destroy();
    for (const item of running.splice(0).reverse()) await item.close();
  });
  after(() => clientAgent.destroy());

  /** A proxy with one listener and one route to one cluster of `endpoints`. */
  async function proxyTo(
    endpoints: readonly string[],
    cluster: Record<string, unknown> = {},
    action: Record<string, unknown> = {},
  ): Promise<RunningProxy> {
    return track(await startProxyTo(endpoints, { cluster, action }));
  }

  it('survives an HTTP/2 upstream whose connection dies before or during a response', async () => {
    const upstream = track(await startDyingHttp2Upstream());
    const proxy = await proxyTo([upstream.address], { http2: true });
    const client = session(proxy.port);
    // Twice each: the second time the pool must not hand out the dead session.
    for (let round = 0; round < 2; round += 1) {
      const noHead = await outcomeOf(client, '/nohead');
      assert.equal(noHead.status, 502, `no head: ${JSON.stringify(noHead)}`);
      const midBody = await outcomeOf(client, '/midbody');
      assert.equal(midBody.status, 200, 'the head came before the cut and was relayed');
      assert.match(midBody.body, /^x{0,100}$/);
    }
    const later = await send2(client, { host: 'svc', path: '/fine' });
    assert.equal(later.status, 200);
    assert.equal(later.body.toString(), 'ok');
  });

  it('resets the HTTP/2 client when an HTTP/2 upstream dies mid-body', async () => {
    const upstream = track(await startDyingHttp2Upstream());
    const proxy = await proxyTo([upstream.address], { http2: true });
    const outcome = await outcomeOf(session(proxy.port), '/midbody');
    assert.ok(
      outcome.rstCode !== 0 || outcome.error !== undefined,
      `a cut-off response must not look complete: ${JSON.stringify(outcome)}`,
    );
  });

  it('returns the request slots of 50 HTTP/2 streams reset as soon as they are sent', async () => {
    const backend = track(await startBackend('backend'));
    backend.handler = (req, res) => {
      req.resume();
      // /slow answers late, so a batch of them is in flight at once.
      const waitMs = req.url === '/slow' ? 100 : 0;
      req.on('end', () => setTimeout(() => res.end('backend'), waitMs));
    };
    // Short timeouts: were the cleanups of a reset stream lost, its timers would not hold the test process for long.
    const proxy = await proxyTo(
      [backend.address],
      { circuitBreaker: { maxRequests: 20 } },
      { timeoutMs: 2_000, idleTimeoutMs: 2_000 },
    );
    const flooding = session(proxy.port);
    await new Promise<void>((resolve, reject) => {
      flooding.once('connect', () => resolve());
      flooding.once('error', reject);
    });
    for (let i = 0; i < 50; i += 1) {
      const stream = flooding.request({ ':path': `/cancel${i}`, ':method': 'POST' });
      stream.on('error', () => undefined);
      stream.write('a');
      stream.close(h2constants.NGHTTP2_CANCEL);
    }
    await delay(500);
    const overflowsBefore = await proxy.metric('streammesh_http_cluster_overflow_total', {
      resource: 'requests',
    });
    // All 20 slots must be free again: 20 requests at once, none refused.
    const client = session(proxy.port);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        send2(client, { host: 'svc', path: '/slow', headers: { 'x-n': String(i) } }),
      ),
    );
    assert.deepEqual(
      answers.map((answer) => answer.status),
      Array.from({ length: 20 }, () => 200),
    );
    assert.equal(
      await proxy.metric('streammesh_http_cluster_overflow_total', { resource: 'requests' }),
      overflowsBefore,
      'no request overflowed after the resets',
    );
  });

  it('relays end-to-end trailers from HTTP/1.1 to HTTP/2 and drops connection-scoped ones', async () => {
    const backend = track(await startBackend('backend'));
    backend.handler = (req, res) => {
      req.resume();
      if (req.url !== '/trailers') {
        res.end('backend');
        return;
      }
      res.writeHead(200, {
        'content-type': 'text/plain',
        trailer: 'x-ok, connection, keep-alive, transfer-encoding',
      });
      res.write('body');
      res.addTrailers({
        'x-ok': 'yes',
        Connection: 'close',
        'Keep-Alive': 'timeout=5',
        'Transfer-Encoding': 'chunked',
      });
      res.end();
    };
    const proxy = await proxyTo([backend.address]);
    const client = session(proxy.port);
    for (let i = 0; i < 3; i += 1) {
      const answer = await send2(client, { host: 'svc', path: '/trailers' });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), 'body');
      assert.equal(answer.trailers['x-ok'], 'yes');
      for (const name of ['connection', 'keep-alive', 'transfer-encoding']) {
        assert.equal(answer.trailers[name], undefined, `no ${name} trailer`);
      }
    }
    const later = await send2(client, { host: 'svc', path: '/plain' });
    assert.equal(later.status, 200);
    assert.equal(later.body.toString(), 'backend');
  });

  it('waits the retry backoff between tries', async () => {
    const backend = track(await startBackend('backend'));
    const arrivals = new Map<string, number[]>();
    backend.handler = (req, res) => {
      req.resume();
      const path = req.url ?? '';
      arrivals.set(path, [...(arrivals.get(path) ?? []), performance.now()]);
      res.writeHead(path === '/fine' ? 200 : 503).end(path === '/fine' ? 'fine' : 'down');
    };
    const proxy = await proxyTo(
      [backend.address],
      {},
      { retries: { attempts: 2, on: ['gateway-error'], backoff: { baseMs: 200, maxMs: 200 } } },
    );
    const requests = 10;
    for (let i = 0; i < requests; i += 1) {
      const answer = await send(proxy.port, { host: 'svc', path: `/down${i}` });
      assert.equal(answer.status, 503);
    }
    const gaps: number[] = [];
    for (let i = 0; i < requests; i += 1) {
      const times = arrivals.get(`/down${i}`) ?? [];
      assert.equal(times.length, 3, `/down${i}: the first try and 2 retries`);
      for (let n = 1; n < times.length; n += 1) gaps.push((times[n] ?? 0) - (times[n - 1] ?? 0));
    }
    // Full jitter: each of the 20 waits is uniform in [0, min(200, 200 * 2^n)] = [0, 200] ms,
    // about 2000 ms in all; below 600 ms has a chance near 1e-9 (Irwin-Hall).
    // With no wait at all, the 20 gaps are a few milliseconds each.
    const total = gaps.reduce((sum, gap) => sum + gap, 0);
    assert.ok(total > 600, `20 backoff waits took ${Math.round(total)} ms in all`);
    const later = await send(proxy.port, { host: 'svc', path: '/fine' });
    assert.equal(later.status, 200);
  });

  it('counts no connection overflow for a warm HTTP/1.1 pool within maxConnections', async () => {
    for (const limits of [{ maxConnections: 2 }, { maxConnections: 2, maxPending: 0 }]) {
      const backend = track(await startBackend('backend'));
      backend.handler = (req, res) => {
        req.resume();
        setTimeout(() => res.end('backend'), 5);
      };
      const proxy = await proxyTo([backend.address], { circuitBreaker: limits });
      // Two at once: the pool opens both connections it may have, then keeps them idle.
      const warmUp = await Promise.all([
        send(proxy.port, { host: 'svc', path: '/warm0' }),
        send(proxy.port, { host: 'svc', path: '/warm1' }),
      ]);
      assert.deepEqual(
        warmUp.map((answer) => answer.status),
        [200, 200],
      );
      const statuses: number[] = [];
      for (let i = 0; i < 10; i += 1) {
        statuses.push((await send(proxy.port, { host: 'svc', path: `/seq${i}` })).status);
      }
      assert.deepEqual(
        statuses,
        Array.from({ length: 10 }, () => 200),
        JSON.stringify(limits),
      );
      assert.equal(
        await proxy.metric('streammesh_http_cluster_overflow_total', { resource: 'connections' }),
        0,
        `no connection overflow with ${JSON.stringify(limits)}`,
      );
      assert.equal(
        await proxy.metric('streammesh_http_cluster_overflow_total', { resource: 'pending' }),
        0,
      );
    }
  });

  it('closes, never splices an answer, when a bad request is pipelined behind a streaming response', async () => {
    const backend = track(await startBackend('backend'));
    backend.handler = (req, res) => {
      req.resume();
      if (req.url !== '/stream') {
        res.end('backend');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      let sent = 0;
      const tick = setInterval(() => {
        sent += 1;
        res.write(`part${sent};`);
        if (sent === 5) {
          clearInterval(tick);
          res.end();
        }
      }, 80);
      res.on('close', () => clearInterval(tick));
    };
    const proxy = await proxyTo([backend.address]);
    const received = await pipelineBehindResponse(
      proxy.port,
      'GET /stream HTTP/1.1\r\nhost: svc\r\n\r\n',
      'GET /next HTTP/1.1\r\nhost: svc\r\nbad header\r\n\r\n',
    );
    assert.match(received, /^HTTP\/1\.1 200 /);
    assert.equal(
      received.split('HTTP/1.1 ').length - 1,
      1,
      `one status line only, got ${JSON.stringify(received)}`,
    );
    assert.ok(!received.includes('part5;'), 'the connection closed before the stream ended');
    const later = await send(proxy.port, { host: 'svc', path: '/plain' });
    assert.equal(later.status, 200);
    assert.equal(later.body.toString(), 'backend');
  });

  it('answers 502 to an HTTP/2 client for an upstream status 600, and frees its slot', async () => {
    const upstream = track(await startStatus600Upstream());
    const proxy = await proxyTo([upstream.address], { circuitBreaker: { maxRequests: 1 } });
    const client = session(proxy.port);
    for (let i = 0; i < 3; i += 1) {
      const outcome = await outcomeOf(client, '/weird');
      assert.equal(outcome.status, 502, JSON.stringify(outcome));
      // With one request slot, a leak would answer every later request 503.
      const later = await send2(client, { host: 'svc', path: '/fine' });
      assert.equal(later.status, 200);
      assert.equal(later.body.toString(), 'ok');
    }
  });
});
