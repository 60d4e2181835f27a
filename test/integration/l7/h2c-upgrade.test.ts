/**
 * h2c Upgrade against real sockets: curl --http2 on http:// (which upgrades
 * with "Upgrade: h2c") talking to node:http + node:http2 through
 * upgradeToH2c, a raw client that splits its preface byte by byte, requests
 * that must not be upgraded, and sockets that must not leak.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import {
  createServer as createH2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
} from 'node:http2';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  h2cHeaderBlock,
  scanClientPreface,
  upgradeToH2c,
  wantsH2cUpgrade,
} from '../../../rtp-proxy/l7/listener/h2c-upgrade.js';

const run = promisify(execFile);

interface SeenStream {
  readonly session: ServerHttp2Session;
  readonly id: number;
  readonly headers: IncomingHttpHeaders;
}

interface H2cServer {
  readonly port: number;
  readonly streams: SeenStream[];
  readonly sessions: Set<ServerHttp2Session>;
  /** wantsH2cUpgrade's answer for every 'upgrade' request, in order. */
  readonly decisions: boolean[];
  close(): Promise<void>;
}

/**
 * node:http whose 'upgrade' handler upgrades when wantsH2cUpgrade says so and
 * otherwise answers "HTTP/1.1 200" with "not upgraded"; path /force upgrades
 * regardless. The http2 server answers every stream with its path.
 */
async function startH2cServer(prefaceTimeoutMs = 5_000): Promise<H2cServer> {
  const streams: SeenStream[] = [];
  const sessions = new Set<ServerHttp2Session>();
  const decisions: boolean[] = [];
  const h2 = createH2Server();
  h2.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  h2.on('stream', (stream, headers) => {
    streams.push({ session: stream.session as ServerHttp2Session, id: stream.id ?? 0, headers });
    stream.respond({ ':status': 200, 'x-path': String(headers[':path']) });
    stream.end(`path=${String(headers[':path'])} method=${String(headers[':method'])}\n`);
  });
  const server: Server = createServer({ maxHeaderSize: 64 * 1024 }, (_req, res) => {
    res.end('http1\n');
  });
  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
    const wants = wantsH2cUpgrade(req);
    decisions.push(wants);
    if (wants || req.url === '/force') {
      upgradeToH2c(req, socket, head, h2, { prefaceTimeoutMs });
      return;
    }
    req.resume();
    socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 13\r\n\r\nnot upgraded\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    streams,
    sessions,
    decisions,
    close: async () => {
      for (const session of sessions) session.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function settingsFrame(payload: Buffer, flags = 0): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(0x4, 3);
  header.writeUInt8(flags, 4);
  return Buffer.concat([header, payload]);
}

/** SETTINGS_INITIAL_WINDOW_SIZE = 1 MiB, SETTINGS_ENABLE_PUSH = 0. */
const CLIENT_SETTINGS = Buffer.from([0x00, 0x04, 0x00, 0x10, 0x00, 0x00, 0x00, 0x02, 0, 0, 0, 0]);
const PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
  settingsFrame(CLIENT_SETTINGS),
]);

function upgradeRequest(path: string, extra: string[] = []): string {
  return [
    `GET ${path} HTTP/1.1`,
    'Host: h2c.test',
    'Connection: Upgrade, HTTP2-Settings',
    'Upgrade: h2c',
    `HTTP2-Settings: ${CLIENT_SETTINGS.toString('base64url')}`,
    ...extra,
    '',
    '',
  ].join('\r\n');
}

/** Collects a socket's bytes; `until` waits for a condition on them, bounded in time. */
class ByteReader {
  bytes = Buffer.alloc(0);
  closed = false;
  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => (this.bytes = Buffer.concat([this.bytes, chunk])));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }
  async until<T>(check: (bytes: Buffer) => T | undefined, timeoutMs = 5_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = check(this.bytes);
      if (found !== undefined) return found;
      await sleep(5);
    }
    throw new Error(`timed out; got ${JSON.stringify(this.bytes.toString('latin1'))}`);
  }
  async closedWithin(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await sleep(5);
    return this.closed;
  }
}

async function openSocket(port: number): Promise<{ socket: Socket; reader: ByteReader }> {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const reader = new ByteReader(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, reader };
}

/** The HTTP/1.1 response head once complete, else undefined. */
function responseHead(bytes: Buffer): { head: string; rest: Buffer } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  return { head: bytes.subarray(0, end).toString('latin1'), rest: bytes.subarray(end + 4) };
}

interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

function parseFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  while (offset + 9 <= bytes.length) {
    const length = bytes.readUIntBE(offset, 3);
    if (offset + 9 + length > bytes.length) break;
    frames.push({
      type: bytes.readUInt8(offset + 3),
      flags: bytes.readUInt8(offset + 4),
      streamId: bytes.readUInt32BE(offset + 5) & 0x7fff_ffff,
      payload: bytes.subarray(offset + 9, offset + 9 + length),
    });
    offset += 9 + length;
  }
  return frames;
}

const DATA = 0x0;
const HEADERS = 0x1;
const END_STREAM = 0x1;

/** Upgrades a raw socket and returns the byte offset where HTTP/2 frames start. */
async function upgradeRaw(port: number, path: string) {
  const { socket, reader } = await openSocket(port);
  socket.write(upgradeRequest(path));
  const { head } = await reader.until(responseHead);
  assert.match(head, /^HTTP\/1\.1 101 /);
  assert.match(head, /\r\nUpgrade: h2c/i);
  const framesStart = head.length + 4;
  return { socket, reader, framesStart };
}

describe('h2c upgrade', () => {
  let server: H2cServer;

  before(async () => {
    server = await startH2cServer();
  });
  after(async () => {
    await server.close();
  });

  it('serves curl --http2 on http:// over HTTP/2, the upgrade request as stream 1 and the next request as stream 3 on the same connection', async () => {
    server.streams.length = 0;
    const base = `http://127.0.0.1:${server.port}`;
    const { stdout, stderr } = await run(
      'curl',
      [
        '--http2',
        '-sS',
        '-v',
        '-H',
        'x-test: hello',
        '-H',
        'TE: trailers',
        `${base}/x?q=1`,
        `${base}/y`,
      ],
      { timeout: 10_000 },
    );
    assert.equal(stderr.match(/^< HTTP\/2 200/gm)?.length, 2, stderr);
    assert.match(stderr, /^< x-path: \/x\?q=1/m);
    assert.equal(stdout, 'path=/x?q=1 method=GET\npath=/y method=GET\n');

    assert.equal(server.streams.length, 2);
    const [first, second] = server.streams;
    assert.ok(first !== undefined && second !== undefined);
    assert.equal(first.id, 1);
    assert.equal(second.id, 3);
    assert.equal(first.session, second.session, 'both requests on one HTTP/2 connection');
    assert.equal(first.headers[':method'], 'GET');
    assert.equal(first.headers[':scheme'], 'http');
    assert.equal(first.headers[':authority'], `127.0.0.1:${server.port}`);
    assert.equal(first.headers[':path'], '/x?q=1');
    assert.equal(first.headers['x-test'], 'hello');
    assert.equal(first.headers.te, 'trailers');
    for (const hop of ['connection', 'upgrade', 'http2-settings', 'host']) {
      assert.equal(first.headers[hop], undefined, `${hop} must not reach HTTP/2`);
    }
  });

  it('accepts a preface split into single bytes and answers stream 1', async () => {
    server.streams.length = 0;
    const { socket, reader, framesStart } = await upgradeRaw(server.port, '/split');
    for (const byte of PREFACE) {
      socket.write(Buffer.of(byte));
      await sleep(2);
    }
    socket.write(settingsFrame(Buffer.alloc(0), 0x1)); // ACK the server's SETTINGS
    const frames = await reader.until((bytes) => {
      const parsed = parseFrames(bytes.subarray(framesStart));
      const done = parsed.some(
        (f) => f.type === DATA && f.streamId === 1 && (f.flags & END_STREAM) !== 0,
      );
      return done ? parsed : undefined;
    });
    assert.equal(frames[0]?.type, 0x4, 'the server speaks first with SETTINGS');
    assert.ok(frames.some((f) => f.type === HEADERS && f.streamId === 1));
    const body = Buffer.concat(
      frames.filter((f) => f.type === DATA && f.streamId === 1).map((f) => f.payload),
    );
    assert.equal(body.toString(), 'path=/split method=GET\n');
    assert.equal(server.streams[0]?.headers[':authority'], 'h2c.test');
    socket.destroy();
  });

  it('accepts the preface in three chunks that cut the magic and the SETTINGS frame header', async () => {
    const { socket, reader, framesStart } = await upgradeRaw(server.port, '/chunks');
    for (const chunk of [PREFACE.subarray(0, 10), PREFACE.subarray(10, 28), PREFACE.subarray(28)]) {
      socket.write(chunk);
      await sleep(20);
    }
    const body = await reader.until((bytes) => {
      const frames = parseFrames(bytes.subarray(framesStart));
      const data = frames.find((f) => f.type === DATA && f.streamId === 1);
      return data?.payload.toString();
    });
    assert.equal(body, 'path=/chunks method=GET\n');
    socket.destroy();
  });

  it('does not upgrade requests with a body, a missing or repeated HTTP2-Settings, or an incomplete Connection', async () => {
    const cases: [string, string[], boolean][] = [
      ['content-length 5', ['Content-Length: 5'], false],
      ['chunked', ['Transfer-Encoding: chunked'], false],
      ['two settings', [`HTTP2-Settings: ${CLIENT_SETTINGS.toString('base64url')}`], false],
      ['content-length 0', ['Content-Length: 0'], true],
    ];
    for (const [name, extra, expected] of cases) {
      server.decisions.length = 0;
      const { socket, reader } = await openSocket(server.port);
      const body = extra.includes('Content-Length: 5')
        ? 'hello'
        : extra.includes('Transfer-Encoding: chunked')
          ? '0\r\n\r\n'
          : '';
      socket.write(upgradeRequest('/case', extra) + body);
      const { head } = await reader.until(responseHead);
      assert.deepEqual(server.decisions, [expected], name);
      assert.match(head, expected ? /^HTTP\/1\.1 101 / : /^HTTP\/1\.1 200 /, name);
      socket.destroy();
    }

    const noSettingsInConnection = upgradeRequest('/case').replace(
      'Connection: Upgrade, HTTP2-Settings',
      'Connection: Upgrade',
    );
    const badSettings = upgradeRequest('/case').replace(
      /HTTP2-Settings: \S+/,
      'HTTP2-Settings: AAAAAA$',
    );
    const notSixBytes = upgradeRequest('/case').replace(
      /HTTP2-Settings: \S+/,
      'HTTP2-Settings: AAAA',
    );
    for (const request of [noSettingsInConnection, badSettings, notSixBytes]) {
      server.decisions.length = 0;
      const { socket, reader } = await openSocket(server.port);
      socket.write(request);
      await reader.until(responseHead);
      assert.deepEqual(server.decisions, [false], request);
      socket.destroy();
    }
  });

  it('refuses headers that do not fit one 16 KiB HEADERS frame: wantsH2cUpgrade is false and upgradeToH2c answers 431', async () => {
    server.decisions.length = 0;
    const { socket, reader } = await openSocket(server.port);
    socket.write(upgradeRequest('/force', [`X-Big: ${'a'.repeat(17_000)}`]));
    const { head } = await reader.until(responseHead);
    assert.deepEqual(server.decisions, [false]);
    assert.match(head, /^HTTP\/1\.1 431 /);
    assert.ok(await reader.closedWithin(2_000));
  });

  it('destroys a socket whose bytes after the 101 are no HTTP/2 preface, without creating a session', async () => {
    const sessionsBefore = server.sessions.size;
    const { socket, reader } = await upgradeRaw(server.port, '/garbage');
    socket.write('GET / HTTP/1.1\r\n\r\n');
    assert.ok(await reader.closedWithin(2_000), 'server closed the socket');
    assert.equal(server.sessions.size, sessionsBefore);
  });

  it('closes the HTTP/2 session when the client goes away, and the socket when the session is destroyed', async () => {
    const first = await upgradeRaw(server.port, '/a');
    first.socket.write(PREFACE);
    await first.reader.until((bytes) =>
      parseFrames(bytes.subarray(first.framesStart)).some((f) => f.type === DATA)
        ? true
        : undefined,
    );
    const session = server.streams.at(-1)?.session;
    assert.ok(session !== undefined);
    const sessionClosed = new Promise<void>((resolve) => session.once('close', resolve));
    first.socket.destroy();
    await Promise.race([
      sessionClosed,
      sleep(2_000, undefined, { ref: false }).then(() => assert.fail('session stayed open')),
    ]);

    const second = await upgradeRaw(server.port, '/b');
    second.socket.write(PREFACE);
    await second.reader.until((bytes) =>
      parseFrames(bytes.subarray(second.framesStart)).some((f) => f.type === DATA)
        ? true
        : undefined,
    );
    server.streams.at(-1)?.session.destroy();
    assert.ok(await second.reader.closedWithin(2_000), 'client socket closed');
  });

  it('destroys a socket that sends no preface within the timeout', async () => {
    const quick = await startH2cServer(200);
    try {
      const { reader } = await upgradeRaw(quick.port, '/silent');
      const started = Date.now();
      assert.ok(await reader.closedWithin(3_000));
      assert.ok(Date.now() - started >= 100, 'not before the timeout');
    } finally {
      await quick.close();
    }
  });
});

describe('h2c preface scanning and header block', () => {
  it('tells incomplete, invalid and complete prefaces apart', () => {
    assert.deepEqual(scanClientPreface(PREFACE.subarray(0, 30)), { state: 'incomplete' });
    assert.deepEqual(scanClientPreface(PREFACE.subarray(0, PREFACE.length - 1)), {
      state: 'incomplete',
    });
    assert.deepEqual(scanClientPreface(PREFACE), { state: 'complete', end: PREFACE.length });
    assert.deepEqual(scanClientPreface(Buffer.from('GET / HTTP/1.1')), { state: 'invalid' });
    const notSettings = Buffer.from(PREFACE);
    notSettings.writeUInt8(0x1, 24 + 3);
    assert.deepEqual(scanClientPreface(notSettings), { state: 'invalid' });
    const tooLong = Buffer.from(PREFACE);
    tooLong.writeUIntBE(16_386, 24, 3);
    assert.deepEqual(scanClientPreface(tooLong), { state: 'invalid' });
  });

  it('encodes literal fields with multi-byte lengths', () => {
    const req = {
      method: 'GET',
      url: '/p',
      headers: { host: 'h' },
      rawHeaders: ['Host', 'h', 'X-Long', 'v'.repeat(300), 'TE', 'gzip'],
    } as unknown as IncomingMessage;
    const block = h2cHeaderBlock(req);
    assert.ok(block !== undefined);
    const text = block.toString('latin1');
    assert.ok(
      text.startsWith('\x00\x07:method\x03GET\x00\x07:scheme\x04http\x00\x0a:authority\x01h'),
    );
    // 300 = 127 + 173: prefix 0x7f then 173 - 128 = 45 with the continuation bit, then 1.
    assert.ok(text.includes('\x00\x06x-long\x7f\xad\x01v'));
    assert.ok(!text.includes('te'), 'te other than trailers is dropped');
  });
});
