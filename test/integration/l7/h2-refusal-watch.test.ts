/**
 * checkHttp2Frames 'nghttp2' (the default): HTTP/2 stays on node's native
 * socket path, nghttp2 refuses invalid frames with its GOAWAY, and the
 * listener's H2RefusalWatch notices that nghttp2 ended the session (its
 * reading stopped, a PING it will not write), counts it and closes the
 * connection. Sessions that are merely idle, streaming a response to a
 * silent client, or congested by a client that does not read are left open.
 * Real sockets, a real node:http2 session in the proxy, raw and node clients.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  H2RefusalWatch,
  REFUSAL_SWEEP_MS,
} from '../../../rtp-proxy/l7/listener/h2-refusal-watch.js';
import {
  HTTP2_PREFACE,
  clientAgent,
  delay,
  h2Frame,
  h2FramesIn,
  http2Session,
  send2,
  sendRaw,
  startBackend,
  type Backend,
  type RunningProxy,
  startProxy,
} from '../../helpers/l7-harness.js';
import {
  SILENT_ON_NATIVE_PATH,
  checkHeldStreamFreedOnInvalidFrame,
  getRequestBlock,
} from '../../helpers/h2-invalid-frames.js';

const settings = h2Frame(0x4, 0, 0);
const REASON = 'h2_refused_by_nghttp2';
/** A refused session is ended within about three sweeps; this leaves room for a loaded machine. */
const CLOSE_WITHIN_MS = 3_000;

/** A raw client: what it received, and whether the proxy has closed it. */
function rawClient(port: number): {
  socket: Socket;
  received: () => Buffer;
  receivedBytes: () => number;
  closed: () => boolean;
} {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const parts: Buffer[] = [];
  let bytes = 0;
  let closed = false;
  socket.on('data', (part: Buffer) => {
    parts.push(part);
    bytes += part.length;
  });
  socket.on('close', () => (closed = true));
  return {
    socket,
    received: () => Buffer.concat(parts),
    receivedBytes: () => bytes,
    closed: () => closed,
  };
}

describe("HTTP/2 on node's native path: sessions nghttp2 ends are counted and closed", () => {
  let web: Backend;
  let proxy: RunningProxy;
  const refused = (): Promise<number> =>
    proxy.metric('streammesh_http_refused_requests_total', { listener: 'h2', reason: REASON });
  const watched = (): number | undefined => proxy.service.listeners.get('h2')?.watchedHttp2Sessions;

  before(async () => {
    web = await startBackend('web');
    proxy = await startProxy({
      // No checkHttp2Frames: 'nghttp2' is the default.
      listeners: [
        { name: 'h2', listen: '127.0.0.1:0', protocol: 'http2' },
        { name: 'tight', listen: '127.0.0.1:0', protocol: 'http2', maxConcurrentStreams: 2 },
        // protocol auto: HTTP/1.1 too, and so Upgrade: h2c.
        { name: 'auto', listen: '127.0.0.1:0' },
        { name: 'auto-guard', listen: '127.0.0.1:0', checkHttp2Frames: 'guard' },
      ],
      routes: [{ name: 'web', match: { path: { prefix: '/' } }, action: { cluster: 'web' } }],
      clusters: [{ name: 'web', endpoints: [web.address] }],
    });
  });

  after(async () => {
    clientAgent.destroy();
    await proxy.close();
    await web.close();
  });

  for (const shape of SILENT_ON_NATIVE_PATH) {
    it(`closes the connection on ${shape.name} (GOAWAY ${shape.code} from nghttp2), counted`, async () => {
      const before = await refused();
      const started = performance.now();
      const answer = await sendRaw(
        proxy.port,
        Buffer.concat([HTTP2_PREFACE, settings, shape.bytes]),
        CLOSE_WITHIN_MS,
      );
      const tookMs = performance.now() - started;
      const goaway = h2FramesIn(answer).find((frame) => frame.type === 0x7);
      assert.equal(goaway?.payload.readUInt32BE(4), shape.code);
      assert.equal(await refused(), before + 1);
      assert.ok(tookMs > REFUSAL_SWEEP_MS, `closed after ${tookMs} ms: not by the watch`);
    });
  }

  it('frees what a stream in flight held when its connection sends an invalid frame, and serves another connection meanwhile', () =>
    checkHeldStreamFreedOnInvalidFrame(proxy, web, 'h2', REASON));

  it('ends a connection that opens more streams than maxConcurrentStreams before the excess reaches the backend (nghttp2 refuses it; counted as its session error)', async () => {
    const held: ServerResponse[] = [];
    web.handler = (_req: IncomingMessage, res: ServerResponse) => {
      held.push(res);
    };
    const seenBefore = web.seen.length;
    const sessionError = { listener: 'tight', reason: 'h2_ERR_HTTP2_ERROR' };
    const before = await proxy.metric('streammesh_http_refused_requests_total', sessionError);
    const raw = rawClient(proxy.portOf('tight'));
    try {
      raw.socket.write(Buffer.concat([HTTP2_PREFACE, settings]));
      await delay(100);
      // Acknowledged: from now on the limit of 2 binds the client.
      raw.socket.write(h2Frame(0x4, 0x1, 0));
      for (const id of [1, 3, 5])
        raw.socket.write(h2Frame(0x1, 0x5, id, getRequestBlock(`/over/${id}`)));
      const deadline = performance.now() + CLOSE_WITHIN_MS;
      while (!raw.closed()) {
        assert.ok(performance.now() < deadline, 'the connection over the limit was kept');
        await delay(10);
      }
      assert.ok(
        web.seen.slice(seenBefore).every((seen) => seen.path !== '/over/5'),
        'the stream over the limit reached the backend',
      );
      assert.ok(
        h2FramesIn(raw.received()).some((frame) => frame.type === 0x7),
        'no GOAWAY',
      );
      assert.equal(
        await proxy.metric('streammesh_http_refused_requests_total', sessionError),
        before + 1,
      );
    } finally {
      web.handler = undefined;
      for (const res of held) res.destroy();
      raw.socket.destroy();
    }
  });

  for (const { listener, reason } of [
    { listener: 'auto', reason: REASON },
    { listener: 'auto-guard', reason: 'h2_stream_zero' },
  ]) {
    it(`applies the listener's frame check to a connection upgraded with h2c (${listener}: counted as ${reason})`, async () => {
      const counted = { listener, reason };
      const before = await proxy.metric('streammesh_http_refused_requests_total', counted);
      const raw = rawClient(proxy.portOf(listener));
      try {
        const clientSettings = Buffer.alloc(0);
        raw.socket.write(
          [
            'GET /upgraded HTTP/1.1',
            'Host: web',
            'Connection: Upgrade, HTTP2-Settings',
            'Upgrade: h2c',
            `HTTP2-Settings: ${clientSettings.toString('base64url')}`,
            '',
            '',
          ].join('\r\n'),
        );
        const deadline = performance.now() + CLOSE_WITHIN_MS;
        while (!raw.received().includes('\r\n\r\n')) {
          assert.ok(performance.now() < deadline, 'no answer to the upgrade');
          await delay(10);
        }
        assert.match(raw.received().toString('latin1'), /^HTTP\/1\.1 101 /);
        raw.socket.write(Buffer.concat([HTTP2_PREFACE, settings]));
        await delay(100);
        raw.socket.write(h2Frame(0x0, 0, 0, Buffer.from('x')));
        while (!raw.closed()) {
          assert.ok(performance.now() < deadline, 'the refused upgraded connection was kept');
          await delay(10);
        }
        assert.equal(
          await proxy.metric('streammesh_http_refused_requests_total', counted),
          before + 1,
        );
      } finally {
        raw.socket.destroy();
      }
    });
  }

  it('leaves open a session that goes idle between requests (it answers the probe)', async () => {
    const before = await refused();
    const session = http2Session(proxy.port);
    try {
      assert.equal((await send2(session, { host: 'web', path: '/first' })).status, 200);
      await delay(REFUSAL_SWEEP_MS * 8);
      assert.equal(session.closed || session.destroyed, false, 'the idle session was closed');
      assert.equal((await send2(session, { host: 'web', path: '/second' })).status, 200);
    } finally {
      session.close();
    }
    assert.equal(await refused(), before);
  });

  it('leaves open a session streaming a response to a client that sends nothing', async () => {
    const before = await refused();
    let writer: ServerResponse | undefined;
    web.handler = (_req: IncomingMessage, res: ServerResponse) => {
      writer = res;
      res.writeHead(200);
    };
    const session = http2Session(proxy.port);
    try {
      const request = session.request({ ':path': '/stream', ':authority': 'web' });
      request.end();
      let bytes = 0;
      request.on('data', (part: Buffer) => (bytes += part.length));
      const deadline = performance.now() + 5_000;
      while (writer === undefined) {
        assert.ok(performance.now() < deadline, 'the request never reached the backend');
        await delay(10);
      }
      // A chunk every 20 ms for eight sweeps: responses flow while the client is silent.
      for (let i = 0; i < (REFUSAL_SWEEP_MS * 8) / 20; i += 1) {
        writer.write(Buffer.alloc(100, 1));
        await delay(20);
      }
      writer.end();
      await new Promise((resolve) => request.once('end', resolve));
      assert.equal(bytes, ((REFUSAL_SWEEP_MS * 8) / 20) * 100);
      assert.equal(session.closed || session.destroyed, false);
    } finally {
      web.handler = undefined;
      session.close();
    }
    assert.equal(await refused(), before);
  });

  it('leaves open a session congested by a client that stops reading', async () => {
    const before = await refused();
    const big = Buffer.alloc(4 << 20, 1);
    web.handler = (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200);
      res.end(big);
    };
    const raw = rawClient(proxy.port);
    try {
      // Windows wide open, so that the responses pile up in the socket rather than in flow control.
      const wide = Buffer.alloc(6);
      wide.writeUInt16BE(0x4, 0);
      wide.writeUInt32BE(2 ** 31 - 1, 2);
      const grow = Buffer.alloc(4);
      grow.writeUInt32BE(2 ** 31 - 1 - 65_535);
      const streams = [1, 3, 5, 7, 9, 11].map((id) =>
        h2Frame(0x1, 0x5, id, getRequestBlock(`/big${id}`)),
      );
      raw.socket.write(
        Buffer.concat([
          HTTP2_PREFACE,
          h2Frame(0x4, 0, 0, wide),
          h2Frame(0x8, 0, 0, grow),
          ...streams,
        ]),
      );
      // Never read from here on: the responses fill the kernel's buffers and then the proxy's write queue.
      raw.socket.pause();
      await delay(REFUSAL_SWEEP_MS * 8);
      assert.equal(raw.closed(), false, 'the congested connection was closed');
      assert.equal(await refused(), before);
      // Reading again, the client gets every response in full: the session was alive all along.
      raw.socket.resume();
      const deadline = performance.now() + 10_000;
      while (raw.receivedBytes() < streams.length * big.length) {
        assert.ok(performance.now() < deadline, `only ${raw.receivedBytes()} bytes came`);
        await delay(20);
      }
    } finally {
      web.handler = undefined;
      raw.socket.destroy();
    }
  });

  it('forgets every session once it closes', async () => {
    const deadline = performance.now() + 5_000;
    while (watched() !== 0) {
      assert.ok(performance.now() < deadline, `${watched()} sessions still watched`);
      await delay(20);
    }
  });
});

describe('H2RefusalWatch, sweeps at chosen moments', () => {
  it('probes an idle session once, not again for its own answer', async () => {
    const server = createHttp2Server();
    const sessions: ServerHttp2Session[] = [];
    const sockets: Socket[] = [];
    server.on('session', (session) => sessions.push(session));
    server.on('connection', (socket: Socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = http2Session((server.address() as AddressInfo).port);
    const watch = new H2RefusalWatch(() => assert.fail('an idle session was ended'), 3_600_000);
    let pings = 0;
    client.on('ping', () => (pings += 1));
    try {
      const deadline = performance.now() + 5_000;
      while (sessions.length === 0) {
        assert.ok(performance.now() < deadline, 'no session');
        await delay(10);
      }
      await delay(100);
      const [session] = sessions;
      const [socket] = sockets;
      assert.ok(session !== undefined && socket !== undefined);
      watch.watch(session, socket);
      for (let sweep = 0; sweep < 10; sweep += 1) {
        watch.sweep();
        await delay(30);
      }
      assert.equal(pings, 1);
      // Traffic again, then quiet: one more probe.
      client.ping(() => undefined);
      await delay(30);
      for (let sweep = 0; sweep < 6; sweep += 1) {
        watch.sweep();
        await delay(30);
      }
      assert.equal(pings, 2);
    } finally {
      watch.close();
      client.destroy();
      server.close();
    }
  });

  it('does not take frames queued in the same turn (a response) for frames nghttp2 holds', async () => {
    const server = createHttp2Server();
    const refusals: number[] = [];
    // A period no test reaches: only the test's own calls sweep.
    const watch = new H2RefusalWatch(() => refusals.push(1), 3_600_000);
    const streams: ServerHttp2Stream[] = [];
    const sessions: ServerHttp2Session[] = [];
    server.on('stream', (stream) => streams.push(stream));
    server.on('session', (session) => sessions.push(session));
    // The session's own socket property is a guarded proxy; the watch needs the socket itself.
    const sockets: Socket[] = [];
    server.on('connection', (socket: Socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const raw = rawClient((server.address() as AddressInfo).port);
    try {
      // A client that never answers PINGs: the probe stays open for the whole test.
      raw.socket.write(
        Buffer.concat([HTTP2_PREFACE, settings, h2Frame(0x1, 0x5, 1, getRequestBlock('/a'))]),
      );
      const deadline = performance.now() + 5_000;
      while (streams.length === 0) {
        assert.ok(performance.now() < deadline, 'no stream');
        await delay(10);
      }
      const [session] = sessions;
      const [socket] = sockets;
      assert.ok(session !== undefined && socket !== undefined);
      watch.watch(session, socket);
      watch.sweep(); // reading has stopped since watch(): the PING goes out
      await delay(50);
      // In one turn: a response queued, then two sweeps. Each looks after node's write pass.
      streams[0]?.respond({ ':status': 200 });
      watch.sweep();
      watch.sweep();
      await delay(50);
      assert.deepEqual(refusals, [], 'a response queued in the sweep’s turn ended the session');
      assert.equal(session.destroyed, false);
      // A frame nghttp2 holds for good: DATA on stream 0 ends the session for nghttp2.
      // The client read again since the unanswered PING, then stopped: a new PING, which nghttp2 holds.
      raw.socket.write(h2Frame(0x0, 0, 0, Buffer.from('x')));
      await delay(50);
      watch.sweep(); // bytes came: the old probe is dropped
      watch.sweep(); // reading stopped: a new PING
      for (let look = 0; look < 2; look += 1) {
        await delay(10);
        assert.deepEqual(refusals, [], 'ended before its looks');
        watch.sweep();
      }
      await delay(10);
      assert.deepEqual(refusals, [1]);
      assert.equal(session.destroyed, true);
    } finally {
      watch.close();
      raw.socket.destroy();
      server.close();
    }
  });
});
