/**
 * The upgrade tunnel between a real `ws` client and a real `ws` server, with
 * node:http on both ends: echo both ways (text, binary, 1 MiB), close codes
 * from either side, a refused upgrade relayed with its body, 502 for an
 * upstream that is not there, 504 for one that never answers, idle timeout.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { WebSocketServer } from 'ws';
import {
  ChunkedBodyEnd,
  MAX_RESPONSE_HEAD_BYTES,
  scanResponseHead,
  tunnelUpgrade,
  type TunnelResult,
  type TunnelTarget,
} from '../../../rtp-proxy/l7/listener/upgrade-tunnel.js';
import { freePort } from '../../helpers/ports.js';

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
 * /silent: never answers.
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
  readonly results: TunnelResult[];
  /** Resolves with the next tunnel's result. */
  nextResult(): Promise<TunnelResult>;
  stop(): Promise<void>;
}

async function startProxy(
  upstreamPort: number,
  deadPort: number,
  idleTimeoutMs: number,
): Promise<Proxy> {
  const results: TunnelResult[] = [];
  const waiters: ((result: TunnelResult) => void)[] = [];
  const server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const target: TunnelTarget = {
      host: '127.0.0.1',
      port: req.url === '/unreachable' ? deadPort : upstreamPort,
    };
    void tunnelUpgrade(socket, head, target, {
      connectTimeoutMs: 2_000,
      idleTimeoutMs,
      headers: { ...req.headers },
      method: req.method ?? 'GET',
      path: req.url ?? '/',
    }).then((result) => {
      results.push(result);
      waiters.shift()?.(result);
    });
  });
  const port = await listen(server);
  return {
    port,
    results,
    nextResult: () =>
      Promise.race([
        new Promise<TunnelResult>((resolve) => waiters.push(resolve)),
        sleep(5_000, undefined, { ref: false }).then(() => assert.fail('tunnel did not finish')),
      ]),
    stop: () => close(server),
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
    assert.equal(upstream.closeCodes.at(-1), 4001);
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
    assert.deepEqual(await result, { status: 404, bytesUp: 0, bytesDown: 10 });
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
    assert.ok(
      received.endsWith('\r\n\r\n4;ext=1\r\nnope\r\n3\r\n!!!\r\n0\r\nx-trailer: t\r\n\r\n'),
      received,
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

describe('upgrade tunnel response parsing', () => {
  it('scans complete, incomplete, oversized and malformed heads', () => {
    const ok = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nrest');
    assert.deepEqual(scanResponseHead(ok, 'GET'), {
      state: 'complete',
      headLength: ok.length - 4,
      status: 101,
      framing: { kind: 'none' },
    });
    assert.deepEqual(scanResponseHead(ok.subarray(0, 40), 'GET'), { state: 'incomplete' });
    const huge = Buffer.from(
      `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(MAX_RESPONSE_HEAD_BYTES)}\r\n\r\n`,
    );
    assert.deepEqual(scanResponseHead(huge, 'GET'), { state: 'invalid' });
    assert.deepEqual(scanResponseHead(Buffer.from('HTTP/1.1 20 OK\r\n\r\n'), 'GET'), {
      state: 'invalid',
    });
    assert.deepEqual(scanResponseHead(Buffer.from('SSH-2.0\r\n\r\n'), 'GET'), { state: 'invalid' });
    const twoLengths = Buffer.from(
      'HTTP/1.1 404 x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    );
    assert.deepEqual(scanResponseHead(twoLengths, 'GET'), { state: 'invalid' });
    const framing = (head: string, method = 'GET') => {
      const scan = scanResponseHead(Buffer.from(`${head}\r\n\r\n`), method);
      return scan.state === 'complete' ? scan.framing : scan;
    };
    assert.deepEqual(framing('HTTP/1.1 404 x\r\nContent-Length: 7'), { kind: 'length', length: 7 });
    assert.deepEqual(framing('HTTP/1.1 404 x\r\nContent-Length: 7', 'HEAD'), { kind: 'none' });
    assert.deepEqual(
      framing('HTTP/1.1 404 x\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 7'),
      {
        kind: 'chunked',
      },
    );
    assert.deepEqual(framing('HTTP/1.1 500 x'), { kind: 'until-close' });
    assert.deepEqual(framing('HTTP/1.1 304 x\r\nContent-Length: 7'), { kind: 'none' });
  });

  it('finds the end of a chunked body fed byte by byte, and stops at a bad size line', () => {
    const body = Buffer.from('5\r\nhello\r\n0\r\nt: 1\r\n\r\nNEXT');
    const end = new ChunkedBodyEnd();
    let consumed = 0;
    for (let i = 0; i < body.length && !end.done; i++)
      consumed += end.feed(body.subarray(i, i + 1));
    assert.equal(end.done, true);
    assert.equal(consumed, body.length - 'NEXT'.length);

    const whole = new ChunkedBodyEnd();
    assert.equal(whole.feed(body), body.length - 4);

    const bad = new ChunkedBodyEnd();
    bad.feed(Buffer.from('zz\r\n'));
    assert.equal(bad.invalid, true);
    const missingCrlf = new ChunkedBodyEnd();
    missingCrlf.feed(Buffer.from('1\r\naXX\r\n'));
    assert.equal(missingCrlf.invalid, true);
  });
});
