/**
 * How the proxy relays an HTTP/1.1 response body (issue 20): one that came
 * with its head is handed on in one write, with no stream pipe set up and
 * taken down per request, and its upstream connection goes back to the pool;
 * one still arriving streams through as it comes. Against real node:http and
 * raw TCP upstreams and clients on loopback.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import {
  chunkedMessage,
  clientAgent,
  countConnections,
  send,
  sendRaw,
  startBackend,
  startProxyTo,
  type RunningProxy,
} from '../../helpers/l7-harness.js';

/**
 * An upstream that writes each whole response in one write: a chunked body
 * in two chunks, and a trailer. It answers every request head it reads
 * (requests without bodies) on a kept-alive connection.
 */
async function startWholeResponseUpstream(): Promise<{ server: Server; address: string }> {
  const response =
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: x-digest\r\n\r\n' +
    '4\r\nnope\r\n3\r\n!!!\r\n0\r\nx-digest: d1\r\n\r\n';
  const server = createServer((socket: Socket) => {
    let seen = '';
    socket.on('data', (part: Buffer) => {
      seen += part.toString('latin1');
      for (let end = seen.indexOf('\r\n\r\n'); end !== -1; end = seen.indexOf('\r\n\r\n')) {
        seen = seen.slice(end + 4);
        socket.write(response);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('HTTP/1.1 response bodies: whole or streamed', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    clientAgent.destroy();
  });

  async function proxyTo(address: string): Promise<RunningProxy> {
    const proxy = await startProxyTo([address]);
    cleanups.push(() => proxy.close());
    return proxy;
  }

  it('relays a body that came with its head in one piece, trailer included, and reuses the connection', async () => {
    const upstream = await startWholeResponseUpstream();
    cleanups.push(() => new Promise<void>((resolve) => upstream.server.close(() => resolve())));
    let accepted = 0;
    upstream.server.on('connection', () => (accepted += 1));
    const proxy = await proxyTo(upstream.address);

    for (let i = 0; i < 5; i += 1) {
      const answer = await send(proxy.port, { host: 'app', path: `/whole/${i}` });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), 'nope!!!');
      assert.equal(answer.trailers['x-digest'], 'd1');
    }
    assert.equal(
      accepted,
      1,
      'one upstream connection for five requests: each went back to the pool',
    );

    // On the wire: the upstream's two chunks leave the proxy as one (one write, no pipe).
    const raw = await sendRaw(
      proxy.port,
      'GET /raw HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n',
    );
    assert.deepEqual(chunkedMessage(raw.toString('latin1')), {
      chunks: ['nope!!!'],
      trailer: 'x-digest: d1',
    });
  });

  it('relays empty bodies (HEAD, 204, Content-Length: 0) and reuses the connection', async () => {
    const backend = await startBackend('empty');
    cleanups.push(() => backend.close());
    const connections = countConnections(backend);
    backend.handler = (req, res) => {
      req.resume();
      if (req.url === '/no-content') res.writeHead(204).end();
      else res.writeHead(200, { 'content-length': '0', 'x-kind': 'empty' }).end();
    };
    const proxy = await proxyTo(backend.address);

    for (let i = 0; i < 3; i += 1) {
      const head = await send(proxy.port, { host: 'app', path: '/head', method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      const none = await send(proxy.port, { host: 'app', path: '/no-content' });
      assert.equal(none.status, 204);
      const zero = await send(proxy.port, { host: 'app', path: '/zero' });
      assert.equal(zero.status, 200);
      assert.equal(zero.headers['x-kind'], 'empty');
      assert.equal(zero.body.length, 0);
    }
    assert.equal(connections.accepted(), 1, 'one upstream connection for nine requests');
  });

  it('streams a body still arriving: its first part reaches the client before the rest is sent', async () => {
    const backend = await startBackend('slow');
    cleanups.push(() => backend.close());
    let clientHasFirst: () => void = () => undefined;
    const firstArrived = new Promise<void>((resolve) => (clientHasFirst = resolve));
    let sentSecond = false;
    backend.handler = (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      // The rest only once the client has the first part (or after 3 s, which fails below).
      const timer = setTimeout(() => finish(), 3_000);
      const finish = (): void => {
        clearTimeout(timer);
        sentSecond = true;
        res.end('second');
      };
      void firstArrived.then(finish);
    };
    const proxy = await proxyTo(backend.address);

    const body = await new Promise<string>((resolve, reject) => {
      const socket = sendStreaming(proxy.port, (received) => {
        if (received.includes('first;') && !sentSecond) clientHasFirst();
        if (received.endsWith('\r\n0\r\n\r\n')) {
          socket.destroy();
          resolve(received);
        }
      });
      socket.on('error', reject);
    });
    assert.match(body, /first;/);
    assert.ok(sentSecond);
    assert.equal(backend.seen.length, 1);
    // Passed on as it came: two chunks, not one gathered at the end.
    assert.deepEqual(chunkedMessage(body).chunks, ['first;', 'second']);
  });

  it('relays a 2 MB body intact', async () => {
    const backend = await startBackend('large');
    cleanups.push(() => backend.close());
    const large = randomBytes(2 * 1024 * 1024);
    backend.handler = (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': String(large.length) });
      res.end(large);
    };
    const proxy = await proxyTo(backend.address);
    const answer = await send(proxy.port, { host: 'app', path: '/large', timeoutMs: 10_000 });
    assert.equal(answer.status, 200);
    assert.equal(
      createHash('sha256').update(answer.body).digest('hex'),
      createHash('sha256').update(large).digest('hex'),
    );
  });
});

/** A raw keep-alive GET whose received bytes (so far) are handed to `onBytes` as they come. */
function sendStreaming(port: number, onBytes: (received: string) => void): Socket {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (part: Buffer) => {
    received += part.toString('latin1');
    onBytes(received);
  });
  socket.write('GET /slow HTTP/1.1\r\nHost: app\r\n\r\n');
  return socket;
}
