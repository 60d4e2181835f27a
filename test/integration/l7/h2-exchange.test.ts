/**
 * HTTP/2 requests are served on node's stream API, not its compatibility
 * layer (rtp-proxy/l7/listener/h2-exchange.ts). What the layer did for us
 * and the router relies on is done by the listener and the exchange now:
 * heads without a body (HEAD, 204, 304), Expect and CONNECT, trailers after
 * a body, the unread body of a request answered by the proxy itself, and a
 * client that resets its stream mid-answer. A real node:http backend and
 * node's HTTP/2 client on loopback.
 */
import assert from 'node:assert/strict';
import {
  connect as http2Connect,
  constants as h2,
  createServer as createHttp2Server,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { HttpService } from '../../../rtp-proxy/l7/l7-service.js';
import { httpSchema } from '../../../src/config/http-schema.js';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  capturedLog,
  http2Session,
  send2,
  startBackend,
  startProxy,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';
import { settleWithin, waitFor } from '../../helpers/process.js';
import { Http2Response } from '../../../rtp-proxy/l7/listener/h2-exchange.js';

describe('HTTP/2 on the stream API', () => {
  let web: Backend;
  let proxy: RunningProxy;
  let session: ClientHttp2Session;

  before(async () => {
    web = await startBackend('web');
    proxy = await startProxy({
      listeners: [{ name: 'edge', listen: '127.0.0.1:0' }],
      routes: [
        {
          name: 'refused',
          match: { path: { prefix: '/refused' } },
          action: { cluster: 'web', fault: { abort: { percent: 100, status: 503 } } },
        },
        { name: 'web', match: { path: { prefix: '/' } }, action: { cluster: 'web' } },
      ],
      clusters: [{ name: 'web', endpoints: [web.address] }],
    });
    session = http2Session(proxy.port);
  });

  beforeEach(() => {
    web.handler = undefined;
  });

  after(async () => {
    session.close();
    await proxy.close();
    await web.close();
  });

  it('relays the answer to HEAD as a head only, and the stream ends', async () => {
    web.handler = (req, res) => {
      res.writeHead(200, { 'content-length': '11', 'x-head': 'yes' });
      res.end(req.method === 'HEAD' ? undefined : 'hello world');
    };
    const answer = await exchange(session, { ':method': 'HEAD', ':path': '/head' });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-head'], 'yes');
    assert.equal(answer.headers['content-length'], '11');
    assert.equal(answer.body.length, 0);
    // Ended by its head, not reset after it (writing the empty body after that end would).
    assert.equal(answer.rstCode, h2.NGHTTP2_NO_ERROR);
    assert.equal(web.seen.at(-1)?.method, 'HEAD');
  });

  it('relays 204 and 304 without a body, and the session serves on', async () => {
    web.handler = (req, res) => {
      if (req.url === '/none') res.writeHead(204, { 'x-kind': 'none' });
      else res.writeHead(304, { etag: '"v1"' });
      res.end();
    };
    const none = await exchange(session, { ':path': '/none' });
    assert.equal(none.status, 204);
    assert.equal(none.headers['x-kind'], 'none');
    assert.equal(none.body.length, 0);
    assert.equal(none.rstCode, h2.NGHTTP2_NO_ERROR);
    const unchanged = await exchange(session, { ':path': '/cached', 'if-none-match': '"v1"' });
    assert.equal(unchanged.status, 304);
    assert.equal(unchanged.headers.etag, '"v1"');
    assert.equal(unchanged.rstCode, h2.NGHTTP2_NO_ERROR);
    web.handler = undefined;
    assert.equal((await send2(session, { host: 'web', path: '/after' })).body.toString(), 'web');
  });

  it('relays trailers that follow a body', async () => {
    web.handler = (_req, res) => {
      res.writeHead(200, { trailer: 'x-checksum' });
      res.write('part one;');
      res.addTrailers({ 'x-checksum': 'c0ffee' });
      res.end('part two');
    };
    const answer = await send2(session, { host: 'web', path: '/trailers' });
    assert.equal(answer.body.toString(), 'part one;part two');
    assert.equal(answer.trailers['x-checksum'], 'c0ffee');
  });

  it('grants Expect: 100-continue, then relays the body', async () => {
    const stream = session.request({
      ':method': 'POST',
      ':path': '/echo',
      ':authority': 'web',
      expect: '100-continue',
    });
    const continued = new Promise<void>((resolve) => stream.once('continue', resolve));
    const head = new Promise<IncomingHttpHeaders>((resolve) => stream.once('response', resolve));
    await continued;
    stream.end('sent after 100');
    const parts: Buffer[] = [];
    stream.on('data', (part: Buffer) => parts.push(part));
    await new Promise((resolve) => stream.once('end', resolve));
    assert.equal((await head)[':status'], 200);
    assert.equal(Buffer.concat(parts).toString(), 'sent after 100');
  });

  it('answers another expectation 417 and CONNECT 405, and sends neither upstream', async () => {
    const before = web.seen.length;
    const expectation = await send2(session, {
      host: 'web',
      path: '/expect',
      method: 'POST',
      body: 'x',
      headers: { expect: 'something-else' },
    });
    assert.equal(expectation.status, 417);
    const tunnel = session.request({ ':method': 'CONNECT', ':authority': 'web:443' });
    const status = await new Promise<number>((resolve, reject) => {
      tunnel.once('response', (headers: IncomingHttpHeaders) =>
        resolve(Number(headers[':status'])),
      );
      tunnel.once('error', reject);
    });
    tunnel.close();
    assert.equal(status, 405);
    assert.equal(web.seen.length, before);
  });

  it('frees the stream of a request it answers itself, its body unread', async () => {
    // Four times the stream's flow-control window: unread, the upload would stall.
    const body = Buffer.alloc(256 * 1024, 7);
    const stream = session.request({ ':method': 'POST', ':path': '/refused', ':authority': 'web' });
    const status = new Promise<number>((resolve) =>
      stream.once('response', (headers: IncomingHttpHeaders) =>
        resolve(Number(headers[':status'])),
      ),
    );
    stream.resume();
    const uploaded = new Promise<void>((resolve) => stream.end(body, resolve));
    const closed = new Promise<void>((resolve) => stream.once('close', resolve));
    assert.equal(await status, 503);
    await settleWithin(Promise.all([uploaded, closed]), 3_000, 'the upload completed');
    assert.equal(stream.rstCode, h2.NGHTTP2_NO_ERROR);
    // The proxy's side of the stream closes a moment after the client's.
    await waitFor(
      () => (proxy.service.listeners.get('edge')?.pendingRequests === 0 ? true : undefined),
      3_000,
      () => 'the pending request released',
    );
  });

  it('survives a client that resets its stream mid-answer; the session serves on', async () => {
    const before = await proxy.metric('streammesh_http_requests_total', { listener: 'edge' });
    // CANCEL, as a client that gives up sends; any other code makes node emit 'error' on the proxy's stream.
    for (const code of [h2.NGHTTP2_CANCEL, h2.NGHTTP2_INTERNAL_ERROR]) {
      const stream = session.request({ ':path': '/chunked', ':authority': 'web' });
      stream.on('error', () => undefined);
      await new Promise((resolve) => stream.once('data', resolve));
      stream.close(code);
      await new Promise((resolve) => stream.once('close', resolve));
    }
    assert.equal((await send2(session, { host: 'web', path: '/next' })).body.toString(), 'web');
    // All three requests ended and were counted, the reset ones included.
    await waitFor(
      async () =>
        (await proxy.metric('streammesh_http_requests_total', { listener: 'edge' })) >= before + 3
          ? true
          : undefined,
      3_000,
      () => 'three requests counted',
    );
    assert.equal(proxy.service.listeners.get('edge')?.pendingRequests, 0);
  });
});

interface Exchange {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The stream's RST_STREAM code once closed: NO_ERROR when it ended cleanly. */
  readonly rstCode: number;
}

/** One GET (or `headers`' method) to authority "web", awaited until its stream has closed. */
async function exchange(
  session: ClientHttp2Session,
  headers: Readonly<Record<string, string>>,
): Promise<Exchange> {
  const stream = session.request({ ':authority': 'web', ...headers });
  // A reset is read from rstCode once the stream has closed.
  stream.on('error', () => undefined);
  stream.end();
  const parts: Buffer[] = [];
  stream.on('data', (part: Buffer) => parts.push(part));
  const head = new Promise<IncomingHttpHeaders>((resolve) => stream.once('response', resolve));
  await settleWithin(new Promise((resolve) => stream.once('close', resolve)), 3_000, 'close');
  const received = await head;
  return {
    status: Number(received[':status']),
    headers: received,
    body: Buffer.concat(parts),
    rstCode: stream.rstCode,
  };
}

describe('HTTP/2 exchanges in the access log', () => {
  it('logs a whole answer as finished, a stream the client reset as DC, and the client', async () => {
    const { log, lines } = capturedLog();
    const web = await startBackend('web');
    const service = new HttpService(log, new Registry());
    try {
      await service.apply(
        httpSchema.parse({
          listeners: [{ name: 'edge', listen: '127.0.0.1:0' }],
          routes: [{ name: 'web', match: { path: { prefix: '/' } }, action: { cluster: 'web' } }],
          clusters: [{ name: 'web', endpoints: [web.address] }],
          accessLog: { percent: 100, errors: true },
        }),
      );
      const client = http2Session(service.listeners.get('edge')?.address.port ?? 0);
      try {
        assert.equal((await send2(client, { host: 'web', path: '/whole' })).status, 200);
        assert.equal(
          (await send2(client, { host: 'web', path: '/grpc-like', headers: { te: 'trailers' } }))
            .status,
          200,
        );
        const reset = client.request({ ':path': '/chunked', ':authority': 'web' });
        reset.on('error', () => undefined);
        await new Promise((resolve) => reset.once('data', resolve));
        reset.close(h2.NGHTTP2_CANCEL);
        await new Promise((resolve) => reset.once('close', resolve));
      } finally {
        client.close();
      }
      const entryOf = (path: string): Record<string, unknown> | undefined =>
        lines.find((line) => line['log'] === 'access' && line['path'] === path);
      await waitFor(
        () => entryOf('/chunked'),
        3_000,
        () => 'the reset request logged',
      );
      for (const path of ['/whole', '/grpc-like']) {
        const entry = entryOf(path);
        assert.equal(entry?.['protocol'], 'HTTP/2');
        assert.equal(entry['status'], 200);
        assert.deepEqual(entry['flags'], [], `${path}: ${JSON.stringify(entry)}`);
        assert.equal(entry['client'], '127.0.0.1');
      }
      assert.deepEqual(entryOf('/chunked')?.['flags'], ['DC']);
      assert.equal(entryOf('/chunked')?.['client'], '127.0.0.1');
    } finally {
      await service.close();
      await web.close();
    }
  });
});

describe('Http2Response on a node HTTP/2 server', () => {
  /** Serves one request with `answer`; resolves the stream's errors (and the client's view) once it closes. */
  async function serveOne(
    answer: (res: Http2Response) => void,
    method = 'GET',
  ): Promise<{ errors: Error[]; answer: Exchange }> {
    const server = createHttp2Server();
    const errors: Error[] = [];
    server.on('stream', (stream: ServerHttp2Stream) => {
      stream.on('error', (error: Error) => errors.push(error));
      answer(new Http2Response(stream));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = http2Connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const answered = await exchange(client, { ':method': method, ':path': '/' });
      await new Promise((resolve) => setImmediate(resolve));
      return { errors, answer: answered };
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it('writes nothing after node ended the stream with the head (HEAD, 204, 304)', async () => {
    for (const [method, status] of [
      ['HEAD', 200],
      ['GET', 204],
      ['GET', 304],
    ] as const) {
      const { errors, answer } = await serveOne((res) => {
        res.writeHead(status, { 'x-status': String(status) });
        // What node:http's client hands over as the whole body of such an answer.
        res.end(Buffer.alloc(0));
      }, method);
      assert.equal(answer.status, status);
      assert.equal(answer.headers['x-status'], String(status));
      assert.deepEqual(errors, [], `${method} ${status}: ${errors.map(String).join(', ')}`);
    }
  });

  it('sends a head with no body as one HEADERS frame that ends the stream', async () => {
    const { answer } = await serveOne((res) => {
      res.statusCode = 200;
      res.setHeader('grpc-status', '14');
      res.end();
    });
    assert.equal(answer.headers['grpc-status'], '14');
    assert.equal(answer.body.length, 0);
    assert.equal(answer.rstCode, h2.NGHTTP2_NO_ERROR);
  });

  it('sends nothing, and throws nothing, on a stream the client has reset', async () => {
    const server = createHttp2Server();
    const answered = new Promise<string>((resolve) => {
      server.on('stream', (stream: ServerHttp2Stream) => {
        stream.on('error', () => undefined);
        const res = new Http2Response(stream);
        // Emitted once the reset is in: the stream is closed, not yet destroyed.
        stream.once('aborted', () => {
          try {
            res.writeHead(200, { 'x-late': 'yes' });
            res.end('too late');
            resolve(`closed ${String(stream.closed)}, head sent ${String(res.headersSent)}`);
          } catch (error) {
            resolve(`threw ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
          }
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = http2Connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const stream = client.request({ ':method': 'POST', ':path': '/' });
      stream.on('error', () => undefined);
      stream.write('part of a body');
      await new Promise((resolve) => setTimeout(resolve, 20));
      stream.close(h2.NGHTTP2_CANCEL);
      assert.equal(
        await settleWithin(answered, 3_000, "'aborted'"),
        'closed true, head sent false',
      );
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('resets the stream when its trailers cannot be carried, rather than throwing', async () => {
    const { errors, answer } = await serveOne((res) => {
      res.writeHead(200, {});
      // A connection-specific field: node refuses it in HTTP/2 trailers.
      res.addTrailers({ 'transfer-encoding': 'chunked' });
      res.end('body');
    });
    assert.equal(answer.rstCode, h2.NGHTTP2_INTERNAL_ERROR);
    // The reset's own error only (a throw in 'wantTrailers' would have been uncaught).
    assert.deepEqual(
      errors.map((error) => (error as NodeJS.ErrnoException).code),
      ['ERR_HTTP2_STREAM_ERROR'],
    );
  });
});
