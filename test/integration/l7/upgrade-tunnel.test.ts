/**
 * WebSocket (HTTP/1.1 Upgrade) through the L7 proxy, between a real `ws`
 * client and real `ws` servers behind node:http: the upgrade takes the route
 * and cluster path of any request. Echo both ways (text, binary, 1 MiB),
 * close codes from either side, a refused upgrade relayed with its body (and
 * a chunked one with its trailer), 502 for an upstream that is not there, 504
 * for one that never answers, idle timeout, a half-closed tunnel that still
 * carries the upstream's late answer; and what the shared path gives:
 * the circuit breaker counts tunnels, the balancer spreads them, route header
 * edits and X-Forwarded-For reach the upstream, metrics count them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { WebSocketServer } from 'ws';
import {
  chunkedMessage,
  clientAgent,
  send,
  startProxy as startL7Proxy,
  type RunningProxy,
} from '../../helpers/l7-harness.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

interface Upstream {
  readonly port: number;
  readonly closeCodes: number[];
  readonly sockets: Set<Duplex>;
  stop(): Promise<void>;
}

/**
 * /echo: a WebSocket echo ("close-me" makes it close with 4002);
 * /missing: 404 with a Content-Length body, connection left open;
 * /chunked: 403 with a chunked body and trailer, connection left open;
 * /silent: never answers;
 * /late (any Upgrade): 101, then answers "late answer" only after the client's FIN.
 */
async function startUpstream(): Promise<Upstream> {
  const closeCodes: number[] = [];
  const sockets = new Set<Duplex>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (req.url === '/echo') {
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data: Buffer, isBinary) => {
          if (!isBinary && data.toString() === 'close-me') ws.close(4002, 'server bye');
          else ws.send(data, { binary: isBinary });
        });
        ws.on('close', (code) => closeCodes.push(code));
      });
    } else if (req.url === '/late') {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: late\r\n\r\n',
      );
      socket.resume();
      // node's HTTP server sockets are half-open: this side may still write after the FIN.
      socket.once('end', () => socket.end('late answer'));
    } else if (req.url === '/missing') {
      socket.write(
        'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nno such ws',
      );
    } else if (req.url === '/chunked') {
      socket.write(
        'HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nnope\r\n3\r\n!!!\r\n0\r\nx-trailer: t\r\n\r\n',
      );
    }
  });
  const port = await listen(server);
  return {
    port,
    closeCodes,
    sockets,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      wss.close();
      await close(server);
    },
  };
}

interface Proxy {
  readonly port: number;
  readonly l7: RunningProxy;
  /** Waits until one more upgrade request has finished; resolves with its counted status and tunnel bytes. */
  nextResult(): Promise<TunnelResult>;
  stop(): Promise<void>;
}

interface TunnelResult {
  readonly status: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
}

const STATUSES = [101, 403, 404, 502, 503, 504];

/** The proxy's counters for finished requests (by status) and tunnel bytes. */
async function counts(l7: RunningProxy): Promise<{ byStatus: number[]; up: number; down: number }> {
  const byStatus = await Promise.all(
    STATUSES.map((code) => l7.metric('streammesh_http_requests_total', { code: String(code) })),
  );
  return {
    byStatus,
    up: await l7.metric('streammesh_http_tunnel_bytes_total', { direction: 'to_upstream' }),
    down: await l7.metric('streammesh_http_tunnel_bytes_total', { direction: 'to_downstream' }),
  };
}

/** A proxy with routes to the upstream and, for /unreachable, to a port nothing listens on. */
async function startProxy(
  upstreamPort: number,
  deadPort: number,
  idleTimeoutMs: number,
): Promise<Proxy> {
  const l7 = await startL7Proxy({
    listeners: [{ name: 'edge', listen: '127.0.0.1:0' }],
    routes: [
      {
        name: 'dead',
        match: { path: { exact: '/unreachable' } },
        action: { cluster: 'dead', idleTimeoutMs },
      },
      { name: 'ws', match: { path: { prefix: '/' } }, action: { cluster: 'ws', idleTimeoutMs } },
    ],
    clusters: [
      { name: 'ws', endpoints: [`127.0.0.1:${upstreamPort}`] },
      { name: 'dead', endpoints: [`127.0.0.1:${deadPort}`] },
    ],
  });
  return {
    port: l7.port,
    l7,
    nextResult: async () => {
      const before = await counts(l7);
      const total = (list: number[]): number => list.reduce((sum, value) => sum + value, 0);
      for (let i = 0; i < 250; i += 1) {
        const now = await counts(l7);
        if (total(now.byStatus) > total(before.byStatus)) {
          const index = now.byStatus.findIndex((count, at) => count > (before.byStatus[at] ?? 0));
          return {
            status: STATUSES[index] ?? 0,
            bytesUp: now.up - before.up,
            bytesDown: now.down - before.down,
          };
        }
        await sleep(20);
      }
      return assert.fail('the upgrade request did not finish');
    },
    stop: () => l7.close(),
  };
}

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 4 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

async function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message')), 5_000);
    ws.once('message', (data: Buffer, isBinary) => {
      clearTimeout(timer);
      resolve({ data, isBinary });
    });
  });
}

async function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('not closed')), 5_000);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

/** Status and body of a refused WebSocket handshake, seen by the ws client. */
async function refusedWith(url: string): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url);
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no response')), 5_000);
    ws.on('error', reject);
    ws.on('open', () => reject(new Error('unexpectedly upgraded')));
    ws.on('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
      });
    });
  });
}

describe('upgrade tunnel', () => {
  let upstream: Upstream;
  let proxy: Proxy;
  let idleProxy: Proxy;

  before(async () => {
    upstream = await startUpstream();
    const deadPort = await freePort();
    proxy = await startProxy(upstream.port, deadPort, 5_000);
    idleProxy = await startProxy(upstream.port, deadPort, 300);
  });
  after(async () => {
    await proxy.stop();
    await idleProxy.stop();
    await upstream.stop();
  });

  it('echoes text and binary (1 MiB) both ways and carries the client close code upstream', async () => {
    const result = proxy.nextResult();
    const upstreamClosesBefore = upstream.closeCodes.length;
    const ws = await open(`ws://127.0.0.1:${proxy.port}/echo`);
    ws.send('hello');
    assert.deepEqual(await nextMessage(ws), { data: Buffer.from('hello'), isBinary: false });

    const big = randomBytes(1024 * 1024);
    ws.send(big);
    const echoed = await nextMessage(ws);
    assert.equal(echoed.isBinary, true);
    assert.ok(echoed.data.equals(big), '1 MiB came back intact');

    const closing = closed(ws);
    ws.close(4001, 'client bye');
    assert.deepEqual(await closing, { code: 4001, reason: 'client bye' });
    const { status, bytesUp, bytesDown } = await result;
    assert.equal(status, 101);
    assert.ok(bytesUp > 1024 * 1024 && bytesUp < 1024 * 1024 + 200, `bytesUp ${bytesUp}`);
    assert.ok(bytesDown > 1024 * 1024 && bytesDown < 1024 * 1024 + 200, `bytesDown ${bytesDown}`);
    // The upstream's ws reports its close once its socket has closed, which can be a
    // moment after the proxy has counted the tunnel as finished.
    const upstreamCode = await waitFor(
      () => upstream.closeCodes[upstreamClosesBefore],
      2_000,
      () => 'the upstream to see the close',
    );
    assert.equal(upstreamCode, 4001);
  });

  it('carries the upstream close code to the client', async () => {
    const result = proxy.nextResult();
    const ws = await open(`ws://127.0.0.1:${proxy.port}/echo`);
    const closing = closed(ws);
    ws.send('close-me');
    assert.deepEqual(await closing, { code: 4002, reason: 'server bye' });
    assert.equal((await result).status, 101);
  });

  it('relays a 404 with its body and ends the client connection though the upstream keeps its own open', async () => {
    const result = proxy.nextResult();
    assert.deepEqual(await refusedWith(`ws://127.0.0.1:${proxy.port}/missing`), {
      status: 404,
      body: 'no such ws',
    });
    // A refusal is a response, not a tunnel: no tunnel bytes are counted.
    assert.deepEqual(await result, { status: 404, bytesUp: 0, bytesDown: 0 });
  });

  it('relays a chunked refusal up to its last chunk and trailer, then closes', async () => {
    const result = proxy.nextResult();
    const socket: Socket = connect(proxy.port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.write(
      'GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    await new Promise<void>((resolve) => socket.once('end', resolve));
    socket.destroy();
    assert.match(received, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(received, /\r\nConnection: close\r\n/i);
    // node's client decoded the body and trailer; node's server coded them anew
    // (no chunk extension; the chunks' sizes are the proxy's, not the upstream's).
    const { chunks, trailer } = chunkedMessage(received);
    assert.deepEqual(
      { body: chunks.join(''), trailer },
      { body: 'nope!!!', trailer: 'x-trailer: t' },
    );
    assert.equal((await result).status, 403);
  });

  it('answers 502 when nothing listens upstream', async () => {
    const result = proxy.nextResult();
    const refused = await refusedWith(`ws://127.0.0.1:${proxy.port}/unreachable`);
    assert.equal(refused.status, 502);
    assert.equal((await result).status, 502);
  });

  it('answers 504 when the upstream accepts but never answers within the idle timeout', async () => {
    const result = idleProxy.nextResult();
    const started = Date.now();
    const refused = await refusedWith(`ws://127.0.0.1:${idleProxy.port}/silent`);
    assert.equal(refused.status, 504);
    assert.ok(Date.now() - started >= 250, 'not before the idle timeout');
    assert.equal((await result).status, 504);
  });

  it("a client FIN is passed on and the upstream's answer after it still reaches the client", async () => {
    const result = proxy.nextResult();
    const client = connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
    const received: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      client.on('end', resolve);
      client.on('error', reject);
    });
    client.on('data', (chunk: Buffer) => {
      received.push(chunk);
      // The tunnel is up: half-close our side.
      if (Buffer.concat(received).includes('\r\n\r\n') && client.writable) client.end();
    });
    client.write('GET /late HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: late\r\n\r\n');
    await ended;
    const text = Buffer.concat(received).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.ok(
      text.endsWith('\r\n\r\nlate answer'),
      `the late answer arrived: ${JSON.stringify(text)}`,
    );
    client.destroy();
    assert.equal((await result).status, 101);
  });

  it('closes both sides of an established tunnel after the idle timeout', async () => {
    const result = idleProxy.nextResult();
    const upstreamBefore = upstream.closeCodes.length;
    const ws = await open(`ws://127.0.0.1:${idleProxy.port}/echo`);
    ws.send('ping');
    await nextMessage(ws);
    const started = Date.now();
    const { code } = await closed(ws);
    assert.equal(code, 1006, 'closed without a close frame: the proxy cut it');
    assert.ok(Date.now() - started >= 250, 'not before the idle timeout');
    assert.equal((await result).status, 101);
    for (let i = 0; i < 100 && upstream.closeCodes.length === upstreamBefore; i++) await sleep(20);
    assert.equal(upstream.closeCodes.length, upstreamBefore + 1, 'upstream side closed too');
  });
});

interface NamedWsServer {
  readonly name: string;
  readonly address: string;
  /** Headers of the upgrade requests that reached this server. */
  readonly upgrades: IncomingHttpHeaders[];
  stop(): Promise<void>;
}

/** A ws server that greets each connection with its name, then echoes. */
async function startNamedWsServer(name: string): Promise<NamedWsServer> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  const upgrades: IncomingHttpHeaders[] = [];
  wss.on('connection', (ws, req) => {
    upgrades.push(req.headers);
    ws.send(name);
    ws.on('message', (data: Buffer, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const port = await listen(server);
  return {
    name,
    address: `127.0.0.1:${port}`,
    upgrades,
    stop: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await close(server);
    },
  };
}

/** Opens a WebSocket and returns it with the first message (the server's name) and the 101's headers. */
async function openGreeted(
  url: string,
): Promise<{ ws: WebSocket; greeting: string; headers: IncomingHttpHeaders }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let headers: IncomingHttpHeaders = {};
  ws.once('upgrade', (res: IncomingMessage) => {
    headers = res.headers;
  });
  const greeting = nextMessage(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, greeting: (await greeting).data.toString(), headers };
}

describe('upgrades take the request path', () => {
  let red: NamedWsServer;
  let blue: NamedWsServer;
  let proxy: RunningProxy | undefined;

  before(async () => {
    [red, blue] = await Promise.all([startNamedWsServer('red'), startNamedWsServer('blue')]);
  });
  after(async () => {
    clientAgent.destroy();
    await proxy?.close();
    await Promise.all([red.stop(), blue.stop()]);
  });

  async function proxyTo(cluster: Record<string, unknown>): Promise<RunningProxy> {
    await proxy?.close();
    proxy = await startL7Proxy({
      listeners: [{ name: 'edge', listen: '127.0.0.1:0' }],
      routes: [
        {
          name: 'live',
          match: { path: { prefix: '/live' } },
          action: {
            cluster: 'sockets',
            requestHeaders: { add: { 'x-route': 'live' }, remove: ['x-secret'] },
            responseHeaders: { add: { 'x-proxied-by': 'streammesh' } },
          },
        },
      ],
      clusters: [{ name: 'sockets', endpoints: [red.address, blue.address], ...cluster }],
    });
    return proxy;
  }

  it('balances upgrades round-robin over the endpoints, edits headers and counts them as requests', async () => {
    const l7 = await proxyTo({});
    const redBefore = red.upgrades.length;
    const blueBefore = blue.upgrades.length;
    const opened = [];
    for (let i = 0; i < 4; i += 1) {
      opened.push(await openGreeted(`ws://127.0.0.1:${l7.port}/live/${i}`));
    }
    const greetings = opened.map((entry) => entry.greeting).sort();
    assert.deepEqual(greetings, ['blue', 'blue', 'red', 'red'], 'two tunnels to each endpoint');
    assert.equal(red.upgrades.length - redBefore, 2);
    assert.equal(blue.upgrades.length - blueBefore, 2);
    const seen = red.upgrades.at(-1) ?? {};
    assert.equal(seen['x-route'], 'live', "the route's request header edit reached the upstream");
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    for (const entry of opened) {
      assert.equal(
        entry.headers['x-proxied-by'],
        'streammesh',
        "the route's response edit on the 101",
      );
    }
    assert.equal(
      await l7.metric('streammesh_http_upstream_attempts_total', {
        cluster: 'sockets',
        endpoint: red.address,
      }),
      2,
    );
    for (const { ws } of opened) {
      const closing = closed(ws);
      ws.close(1000);
      await closing;
    }
    let counted = 0;
    for (let i = 0; i < 100 && counted < 4; i += 1) {
      counted = await l7.metric('streammesh_http_requests_total', {
        route: 'live',
        cluster: 'sockets',
        code: '101',
      });
      if (counted < 4) await sleep(20);
    }
    assert.equal(counted, 4, 'each tunnel counted once as a 101 request when it closed');
  });

  it('keeps a tunnel with a header-hashed key on one endpoint (consistent hash)', async () => {
    const l7 = await proxyTo({ lb: 'consistent-hash', hashOn: { header: 'x-user' } });
    const landed = new Set<string>();
    for (let i = 0; i < 6; i += 1) {
      const ws = new WebSocket(`ws://127.0.0.1:${l7.port}/live`, {
        headers: { 'x-user': 'alice' },
      });
      const greeting = nextMessage(ws);
      landed.add((await greeting).data.toString());
      ws.terminate();
    }
    assert.equal(
      landed.size,
      1,
      `all of alice's tunnels on one endpoint, got ${[...landed].join(',')}`,
    );
  });

  it("holds a circuit-breaker request slot for a tunnel's whole life", async () => {
    const l7 = await proxyTo({ circuitBreaker: { maxRequests: 1 } });
    const first = await openGreeted(`ws://127.0.0.1:${l7.port}/live/first`);
    const refused = await refusedWith(`ws://127.0.0.1:${l7.port}/live/second`);
    assert.equal(refused.status, 503);
    assert.match(refused.body, /requests limit/);
    assert.equal(
      await l7.metric('streammesh_http_cluster_overflow_total', {
        cluster: 'sockets',
        resource: 'requests',
      }),
      1,
    );
    // A plain request meets the same limit while the tunnel is open.
    const plain = await send(l7.port, { host: 'edge', path: '/live/plain' });
    assert.equal(plain.status, 503);
    const closing = closed(first.ws);
    first.ws.close(1000);
    await closing;
    let reopened: Awaited<ReturnType<typeof openGreeted>> | undefined;
    for (let i = 0; i < 50 && reopened === undefined; i += 1) {
      reopened = await openGreeted(`ws://127.0.0.1:${l7.port}/live/again`).catch(() => undefined);
      if (reopened === undefined) await sleep(20);
    }
    assert.ok(reopened !== undefined, 'the slot came back when the tunnel closed');
    reopened.ws.terminate();
  });

  it('refuses an upgrade to an HTTP/2 cluster with 502', async () => {
    const l7 = await proxyTo({ http2: true });
    const refused = await refusedWith(`ws://127.0.0.1:${l7.port}/live`);
    assert.equal(refused.status, 502);
    assert.match(refused.body, /HTTP\/1\.1 cluster/);
  });
});
