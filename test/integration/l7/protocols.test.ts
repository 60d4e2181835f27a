/**
 * One `auto` listener speaking HTTP/1.1, HTTP/2 by prior knowledge and by
 * Upgrade: h2c (curl), and passing WebSocket upgrades through (ws); and the
 * hostile input each protocol faces: oversized heads, slow clients, invalid
 * HTTP/2 frames. Refusals are counted and never reach the upstream.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import {
  HTTP2_PREFACE,
  h2Frame,
  h2FramesIn,
  clientAgent,
  delay,
  http2Session,
  send,
  send2,
  sendRaw,
  startBackend,
  startProxy,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';

describe('HTTP proxy: protocols and hostile input', () => {
  let web: Backend;
  let sockets: WebSocketServer;
  let socketsPort: number;
  let proxy: RunningProxy;

  before(async () => {
    web = await startBackend('web');
    sockets = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => sockets.once('listening', resolve));
    socketsPort = (sockets.address() as { port: number }).port;
    sockets.on('connection', (socket, request) => {
      socket.send(`hello ${String(request.headers['x-forwarded-for'])}`);
      socket.on('message', (data, binary) => socket.send(data, { binary }));
    });
    proxy = await startProxy({
      listeners: [
        {
          name: 'edge',
          listen: '127.0.0.1:0',
          protocol: 'auto',
          maxHeaderBytes: 4096,
          headersTimeoutMs: 300,
        },
      ],
      routes: [
        { name: 'ws', match: { path: { prefix: '/ws' } }, action: { cluster: 'sockets' } },
        { name: 'web', match: { path: { prefix: '/' } }, action: { cluster: 'web' } },
      ],
      clusters: [
        { name: 'web', endpoints: [web.address] },
        { name: 'sockets', endpoints: [`127.0.0.1:${socketsPort}`] },
      ],
    });
  });

  after(async () => {
    clientAgent.destroy();
    await proxy.close();
    await web.close();
    for (const client of sockets.clients) client.terminate();
    await new Promise<void>((resolve) => sockets.close(() => resolve()));
  });

  it('serves HTTP/1.1 and HTTP/2 prior knowledge on one port', async () => {
    const one = await send(proxy.port, { host: 'web', path: '/a' });
    assert.equal(one.body.toString(), 'web');
    const session = http2Session(proxy.port);
    try {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => send2(session, { host: 'web', path: `/h2/${i}` })),
      );
      assert.ok(
        answers.every((answer) => answer.status === 200 && answer.body.toString() === 'web'),
      );
      const posted = await send2(session, {
        host: 'web',
        path: '/post',
        method: 'POST',
        body: 'over h2',
      });
      assert.equal(posted.body.toString(), 'over h2');
    } finally {
      session.close();
    }
    assert.equal(web.seen.at(-1)?.headers.host, 'web', 'the :authority becomes Host upstream');
  });

  it('upgrades HTTP/1.1 to h2c on request (curl --http2)', async () => {
    const url = `http://127.0.0.1:${proxy.port}/up`;
    // Asynchronous: the proxy runs in this process and must keep serving.
    const result = await promisify(execFile)(
      'curl',
      ['-sv', '--http2', '-H', 'Host: web', url, url],
      {
        encoding: 'utf8',
        timeout: 10_000,
      },
    );
    assert.match(result.stderr, /101 Switching Protocols/);
    assert.equal((result.stderr.match(/< HTTP\/2 200/g) ?? []).length, 2, result.stderr);
    assert.equal(result.stdout, 'webweb');
  });

  it('passes WebSocket upgrades through, text and binary both ways', async () => {
    const client = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`);
    const received: (string | Buffer)[] = [];
    const done = new Promise<void>((resolve, reject) => {
      client.on('message', (data: Buffer, binary) => {
        received.push(binary ? data : data.toString());
        if (received.length === 3) resolve();
      });
      client.on('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      client.once('open', resolve);
      client.once('error', reject);
    });
    client.send('ping');
    const big = Buffer.alloc(256 * 1024, 7);
    client.send(big);
    await Promise.race([done, delay(5_000).then(() => Promise.reject(new Error('no echo')))]);
    client.close();
    assert.equal(received[0], 'hello 127.0.0.1');
    assert.equal(received[1], 'ping');
    assert.ok(Buffer.isBuffer(received[2]) && received[2].equals(big));
  });

  it('refuses an oversized HTTP/1.1 head with 431 and counts it', async () => {
    const before = web.seen.length;
    const answer = await sendRaw(
      proxy.port,
      `GET /big HTTP/1.1\r\nHost: web\r\nX-Big: ${'a'.repeat(8_000)}\r\n\r\n`,
    );
    assert.match(answer.toString('latin1'), /^HTTP\/1\.1 431 /);
    assert.equal(web.seen.length, before);
    assert.ok(
      (await proxy.metric('streammesh_http_refused_requests_total', {
        reason: 'HPE_HEADER_OVERFLOW',
      })) >= 1,
    );
  });

  it('refuses an oversized HTTP/2 header list without reaching the upstream', async () => {
    const before = web.seen.length;
    const session = http2Session(proxy.port);
    try {
      const answer = await send2(session, {
        host: 'web',
        path: '/big2',
        headers: { 'x-big': 'b'.repeat(8_000) },
      });
      assert.equal(answer.status, 431);
    } finally {
      session.destroy();
    }
    assert.equal(web.seen.length, before);
    assert.equal(
      await proxy.metric('streammesh_http_refused_requests_total', {
        reason: 'h2_header_list_too_large',
      }),
      1,
    );
  });

  it('answers a slow client that never finishes its head with 408 and counts it', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    const parts: Buffer[] = [];
    socket.on('data', (part: Buffer) => parts.push(part));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('GET /slow HTTP/1.1\r\nHost: web\r\n');
    // A byte now and then: a slowloris keeps a connection open without finishing.
    const drip = setInterval(() => socket.write('X-Drip: 1\r\n'), 50);
    await Promise.race([closed, delay(5_000)]);
    clearInterval(drip);
    socket.destroy();
    assert.match(Buffer.concat(parts).toString('latin1'), /^HTTP\/1\.1 408 /);
    assert.ok(
      (await proxy.metric('streammesh_http_refused_requests_total', {
        reason: 'ERR_HTTP_REQUEST_TIMEOUT',
      })) >= 1,
    );
  });

  it('closes an HTTP/2 connection that sends invalid frames, counted, nothing upstream', async () => {
    const before = web.seen.length;
    const countBefore = await proxy.metric('streammesh_http_refused_requests_total');
    const settings = h2Frame(0x4, 0, 0);
    // A DATA frame on stream 0 is a connection error (RFC 9113 section 6.1).
    const dataOnZero = h2Frame(0x0, 0, 0, Buffer.from('nope'));
    const answer = await sendRaw(proxy.port, Buffer.concat([HTTP2_PREFACE, settings, dataOnZero]));
    // The server's SETTINGS, then a GOAWAY (type 7) with PROTOCOL_ERROR (1).
    const goaway = h2FramesIn(answer).find((sent) => sent.type === 0x7);
    assert.ok(goaway !== undefined, 'no GOAWAY frame came back');
    assert.equal(goaway.payload.readUInt32BE(4), 1, 'GOAWAY without PROTOCOL_ERROR');
    assert.equal(web.seen.length, before);
    assert.ok(
      (await proxy.metric('streammesh_http_refused_requests_total')) > countBefore,
      'not counted',
    );
  });

  it('survives a burst of garbage connections and still serves', async () => {
    const garbage = [
      Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'),
      Buffer.from('GET / HTTP/9.9\r\n\r\n'),
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff'),
      Buffer.from('\r\n\r\n\r\n'),
      Buffer.from('GET /%00 HTTP/1.1\r\nHost: web\r\nContent-Length: -1\r\n\r\n'),
    ];
    await Promise.all(
      garbage.map((bytes) => sendRaw(proxy.port, bytes, 3_000).catch(() => Buffer.alloc(0))),
    );
    const after = await send(proxy.port, { host: 'web', path: '/after' });
    assert.equal(after.status, 200);
  });
});
