/**
 * CameraSource against scripted cameras written with node:net. GStreamer
 * cannot be made to accept a UDP SETUP and then send nothing, to send bytes
 * that are not RTSP, or to misbehave on cue, so these fakes exercise the
 * timer logic (UDP-to-TCP fallback, keepalive) and hostile input; the real
 * camera is in camera-source.test.ts.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { PortAllocator } from '../../../../src/media/udp/port-allocator.js';
import { CameraSource, type CameraTiming } from '../../../../src/media/rtsp-client/index.js';
import {
  digestResponse,
  interleavedFrame,
  parseTransport,
  RtspHeaders,
  RtspStreamParser,
  serializeResponse,
  type RtspRequest,
} from '../../../../src/protocol/rtsp/index.js';
import { sleep } from '../../../helpers/peers/process.js';
import { waitFor } from '../../../helpers/process.js';
import { rtp } from '../../../helpers/udp.js';
import {
  capturingLogger,
  liveHandles,
  RecordingListener,
  waitForHandles,
} from '../../../helpers/camera.js';

const FAST: Partial<CameraTiming> = {
  connectTimeoutMs: 500,
  noMediaTimeoutMs: 1000,
  udpFallbackMs: 500,
  backoffBaseMs: 50,
  backoffMaxMs: 200,
};

const SDP = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=fake camera',
  't=0 0',
  'a=control:*',
  'm=video 0 RTP/AVP 96',
  'a=rtpmap:96 H264/90000',
  'a=control:track1',
  '',
].join('\r\n');

interface Reply {
  status?: number;
  /** Pairs rather than a record when a header repeats. */
  headers?: Record<string, string> | [string, string][];
  body?: string | Buffer;
}

/** One client connection of a fake camera. */
class FakeConnection {
  readonly socket: Socket;
  readonly requests: RtspRequest[] = [];
  /** Set by a SETUP over TCP: the interleaved RTP channel. */
  channel: number | undefined;
  /** Set by a SETUP over UDP: where the client wants RTP. */
  clientPort: number | undefined;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('close', () => {
      for (const timer of this.#timers) clearInterval(timer);
    });
  }

  reply(request: RtspRequest, reply: Reply = {}): void {
    const headers = new RtspHeaders([['CSeq', request.headers.get('CSeq') ?? '0']]);
    const extra = reply.headers ?? {};
    for (const [name, value] of Array.isArray(extra) ? extra : Object.entries(extra)) {
      headers.append(name, value);
    }
    const body =
      typeof reply.body === 'string' ? Buffer.from(reply.body) : (reply.body ?? Buffer.alloc(0));
    const status = reply.status ?? 200;
    if (!this.socket.destroyed) {
      this.socket.write(
        serializeResponse({
          version: 'RTSP/1.0',
          status,
          reason: status === 200 ? 'OK' : 'Error',
          headers,
          body,
        }),
      );
    }
  }

  /** Sends interleaved RTP on the SETUP's channel every 10 ms until the connection closes. */
  streamInterleaved(channel = this.channel ?? 0): void {
    let sequence = 0;
    this.every(10, () => {
      this.socket.write(interleavedFrame(channel, rtp({ sequence: sequence++ })));
    });
  }

  every(ms: number, action: () => void): void {
    const timer = setInterval(() => {
      if (!this.socket.destroyed) action();
    }, ms);
    this.#timers.add(timer);
  }
}

type Script = (request: RtspRequest, connection: FakeConnection, camera: FakeCamera) => void;

/** A scripted RTSP server on 127.0.0.1; `script` answers every request. */
class FakeCamera {
  readonly connections: FakeConnection[] = [];
  readonly #server: Server;
  port = 0;

  private constructor(script: Script, onConnect?: (socket: Socket) => void) {
    this.#server = createServer((socket) => {
      const connection = new FakeConnection(socket);
      this.connections.push(connection);
      socket.on('error', () => undefined);
      onConnect?.(socket);
      const parser = new RtspStreamParser();
      socket.on('data', (chunk: Buffer) => {
        for (const event of parser.push(chunk)) {
          if (event.type !== 'request') continue;
          connection.requests.push(event.request);
          script(event.request, connection, this);
        }
      });
    });
  }

  static async start(script: Script, onConnect?: (socket: Socket) => void): Promise<FakeCamera> {
    const camera = new FakeCamera(script, onConnect);
    await new Promise<void>((resolve) => camera.#server.listen(0, '127.0.0.1', resolve));
    const address = camera.#server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    camera.port = address.port;
    return camera;
  }

  get url(): string {
    return `rtsp://127.0.0.1:${this.port}/cam`;
  }

  requests(): RtspRequest[] {
    return this.connections.flatMap((connection) => connection.requests);
  }

  async close(): Promise<void> {
    for (const connection of this.connections) connection.socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * A camera that does everything right: UDP or TCP-interleaved as asked.
 * `udpMedia`: whether it also sends RTP over UDP after PLAY (the fallback
 * test says no: the classic firewall symptom).
 */
function wellBehaved(options: { udpMedia: boolean; sessionTimeout?: number }): Script {
  return (request, connection, camera) => {
    const session = `fake${camera.connections.indexOf(connection)}`;
    const sessionHeader =
      options.sessionTimeout === undefined
        ? session
        : `${session};timeout=${options.sessionTimeout}`;
    switch (request.method) {
      case 'OPTIONS':
        connection.reply(request, {
          headers: { Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER' },
        });
        return;
      case 'DESCRIBE':
        connection.reply(request, {
          headers: { 'Content-Type': 'application/sdp', 'Content-Base': `${camera.url}/` },
          body: SDP,
        });
        return;
      case 'SETUP': {
        const offer = parseTransport(request.headers.get('Transport') ?? '')?.[0];
        if (offer?.interleaved !== undefined) {
          connection.channel = offer.interleaved[0];
          connection.reply(request, {
            headers: {
              Transport: `RTP/AVP/TCP;unicast;interleaved=${offer.interleaved.join('-')}`,
              Session: sessionHeader,
            },
          });
        } else {
          connection.clientPort = offer?.clientPort?.[0];
          connection.reply(request, {
            headers: {
              Transport: `RTP/AVP;unicast;client_port=${offer?.clientPort?.join('-') ?? ''};server_port=50000-50001`,
              Session: sessionHeader,
            },
          });
        }
        return;
      }
      case 'PLAY':
        connection.reply(request, { headers: { Session: session } });
        if (connection.channel !== undefined) connection.streamInterleaved();
        else if (options.udpMedia) streamUdp(connection);
        return;
      default:
        connection.reply(request, { headers: { Session: session } });
    }
  };
}

const udpSenders: UdpSocket[] = [];

function streamUdp(connection: FakeConnection): void {
  const sender = createSocket('udp4');
  udpSenders.push(sender);
  let sequence = 0;
  connection.every(10, () => {
    sender.send(rtp({ sequence: sequence++ }), connection.clientPort ?? 9, '127.0.0.1');
  });
}

const sources: CameraSource[] = [];
const cameras: FakeCamera[] = [];

after(async () => {
  await Promise.all(sources.map((source) => source.close()));
  await Promise.all(cameras.map((camera) => camera.close()));
  for (const sender of udpSenders) sender.close();
});

async function fake(script: Script, onConnect?: (socket: Socket) => void): Promise<FakeCamera> {
  const camera = await FakeCamera.start(script, onConnect);
  cameras.push(camera);
  return camera;
}

function source(
  url: string,
  transport: 'auto' | 'udp' | 'tcp',
  timing: Partial<CameraTiming> = FAST,
): { source: CameraSource; listener: RecordingListener; logs: () => string } {
  const start = 40_000 + 2 * Math.floor(Math.random() * 5_000);
  const { log, text } = capturingLogger();
  const created = new CameraSource({
    url,
    transport,
    mediaHost: '127.0.0.1',
    ports: new PortAllocator({ start, end: start + 15 }),
    log,
    timing,
  });
  sources.push(created);
  const listener = new RecordingListener();
  created.start(listener);
  return { source: created, listener, logs: text };
}

describe('CameraSource with scripted cameras', { timeout: 60_000 }, () => {
  it('auto: UDP SETUP and PLAY succeed but no RTP arrives: TEARDOWN, then TCP for good', async () => {
    const camera = await fake(wellBehaved({ udpMedia: false }));
    const { source: cam, listener } = source(camera.url, 'auto');
    await listener.waitForRtp(30, 5000);
    assert.deepEqual(listener.events, ['ready']);
    assert.equal(cam.transport, 'tcp');
    assert.match(cam.lastError ?? '', /no RTP over UDP within 500 ms of PLAY/);
    const first = camera.connections[0]?.requests.map((request) => request.method);
    assert.deepEqual(first, ['OPTIONS', 'DESCRIBE', 'SETUP', 'PLAY', 'TEARDOWN']);
    assert.match(
      camera.connections[1]?.requests[2]?.headers.get('Transport') ?? '',
      /^RTP\/AVP\/TCP;unicast;interleaved=0-1$/,
    );
    assert.equal(cam.reconnects, 0);
  });

  it('auto: stays on UDP when RTP arrives, and drops datagrams from other addresses', async () => {
    const camera = await fake(wellBehaved({ udpMedia: true }));
    const { source: cam, listener } = source(camera.url, 'auto');
    await listener.waitForRtp(30, 5000);
    assert.equal(cam.transport, 'udp');
    assert.equal(cam.lastError, null);
    // 127.0.0.2 is loopback too, but not the address the camera answers RTSP from.
    const intruder = createSocket('udp4');
    udpSenders.push(intruder);
    await new Promise<void>((resolve) => intruder.bind(0, '127.0.0.2', resolve));
    const before = listener.rtpPackets();
    const clientPort = camera.connections[0]?.clientPort ?? 9;
    for (let i = 0; i < 20; i++)
      intruder.send(rtp({ sequence: 60_000 + i }), clientPort, '127.0.0.1');
    await waitFor(
      () => (cam.foreignPackets >= 20 ? true : undefined),
      2000,
      () => `${cam.foreignPackets} foreign`,
    );
    assert.ok(listener.rtpPackets() > before);
    assert.equal(cam.foreignPackets, 20);
  });

  it('answers a 401 offering Basic and Digest with Digest, counting nc per nonce', async () => {
    const nonce = 'n0nce';
    const authorizations: string[] = [];
    const behave = wellBehaved({ udpMedia: false });
    const camera = await fake((request, connection, self) => {
      const authorization = request.headers.get('Authorization');
      if (authorization === undefined) {
        // Basic first, to prove the choice is by strength, not by order.
        connection.reply(request, {
          status: 401,
          headers: [
            ['WWW-Authenticate', 'Basic realm="cam"'],
            ['WWW-Authenticate', `Digest realm="cam", nonce="${nonce}", qop="auth", opaque="op"`],
          ],
        });
        return;
      }
      authorizations.push(authorization);
      behave(request, connection, self);
    });
    const { listener } = source(camera.url.replace('rtsp://', 'rtsp://user:p%40ss@'), 'tcp');
    await listener.waitForRtp(5, 5000);
    assert.ok(authorizations.length >= 4, authorizations.join('\n'));
    for (const [i, value] of authorizations.entries()) {
      assert.match(value, /^Digest /);
      const nc = /nc=(\w+)/.exec(value)?.[1];
      assert.equal(nc, (i + 1).toString(16).padStart(8, '0'));
      const cnonce = /cnonce="([^"]+)"/.exec(value)?.[1] ?? '';
      const uri = /uri="([^"]+)"/.exec(value)?.[1] ?? '';
      const request = camera.requests().filter((r) => r.headers.has('Authorization'))[i];
      const expected = digestResponse({
        username: 'user',
        password: 'p@ss',
        realm: 'cam',
        nonce,
        method: request?.method ?? 'missing',
        uri,
        qop: 'auth',
        nc,
        cnonce,
      });
      assert.match(value, new RegExp(`response="${expected}"`));
      assert.match(value, /opaque="op"/);
    }
    // The URL in request lines never carries the credentials.
    for (const request of camera.requests())
      assert.ok(!request.url.includes('p%40ss') && !request.url.includes('user@'));
  });

  it('a listener that throws does not stop the source', async () => {
    const camera = await fake(wellBehaved({ udpMedia: false }));
    const { source: cam, listener, logs } = source(camera.url, 'tcp');
    const original = listener.rtp.bind(listener);
    listener.rtp = (track, packet) => {
      original(track, packet);
      throw new Error('listener bug');
    };
    await listener.waitForRtp(50, 5000);
    assert.equal(cam.state, 'playing');
    assert.deepEqual(listener.events, ['ready']);
    assert.equal(logs().match(/listener threw/g)?.length, 1);
  });

  it('keeps the session alive with GET_PARAMETER, and OPTIONS once GET_PARAMETER is refused', async () => {
    const behave = wellBehaved({ udpMedia: false, sessionTimeout: 2 });
    const camera = await fake((request, connection, self) => {
      if (request.method === 'GET_PARAMETER') connection.reply(request, { status: 501 });
      else behave(request, connection, self);
    });
    const { source: cam, listener } = source(camera.url, 'tcp', {
      ...FAST,
      noMediaTimeoutMs: 5000,
    });
    await listener.waitForEvents(1, 5000);
    await waitFor(
      () =>
        camera.requests().filter((r) => r.method === 'OPTIONS').length >= 3 ? true : undefined,
      5000,
      () =>
        camera
          .requests()
          .map((r) => r.method)
          .join(','),
    );
    const methods = camera.requests().map((request) => request.method);
    // OPTIONS first (capabilities), then GET_PARAMETER refused once, then OPTIONS every second.
    assert.deepEqual(methods.slice(0, 6), [
      'OPTIONS',
      'DESCRIBE',
      'SETUP',
      'PLAY',
      'GET_PARAMETER',
      'OPTIONS',
    ]);
    const keepalive = camera.requests().filter((r) => r.method === 'OPTIONS')[1];
    assert.equal(keepalive?.headers.get('Session'), 'fake0');
    assert.equal(cam.state, 'playing');
    assert.deepEqual(listener.events, ['ready']);
  });
});

/** A well-behaved camera (TCP) except for `method`, which `answer` answers. */
function except(
  method: string,
  answer: (request: RtspRequest, connection: FakeConnection) => void,
): Script {
  const behave = wellBehaved({ udpMedia: false });
  return (request, connection, camera) => {
    if (request.method === method) answer(request, connection);
    else behave(request, connection, camera);
  };
}

/** Cameras that send what no camera should; each must leave the source retrying, never crash it. */
const hostile: [string, Script, RegExp, ((socket: Socket) => void)?][] = [
  [
    'garbage instead of RTSP',
    () => undefined,
    /malformed RTSP/,
    (socket) => socket.write(Buffer.from('HTTP/9.9 \x00\x01\x02 garbage\r\n\r\n')),
  ],
  [
    'a 200 to DESCRIBE whose body is not SDP',
    except('DESCRIBE', (request, connection) => {
      connection.reply(request, {
        headers: { 'Content-Type': 'application/sdp' },
        body: 'this is not SDP\r\n',
      });
    }),
    /invalid SDP \(bad_line\)/,
  ],
  [
    'an SDP without media',
    except('DESCRIBE', (request, connection) => {
      connection.reply(request, { body: 'v=0\r\ns=x\r\n' });
    }),
    /SDP has no media/,
  ],
  [
    'a response with 100 KB of headers',
    (request, connection) => {
      connection.reply(request, { headers: { 'X-Junk': 'a'.repeat(100 * 1024) } });
    },
    /malformed RTSP \(headers-too-large\)/,
  ],
  [
    'a Content-Length of 10 MB',
    (request, connection) => {
      connection.socket.write(
        `RTSP/1.0 200 OK\r\nCSeq: ${request.headers.get('CSeq') ?? ''}\r\nContent-Length: 10000000\r\n\r\n`,
      );
    },
    /malformed RTSP \(body-too-large\)/,
  ],
  ['silence', () => undefined, /did not answer OPTIONS within 500 ms/],
  [
    'a connection closed at once',
    () => undefined,
    /camera closed the RTSP connection/,
    (socket) => socket.end(),
  ],
  [
    'SETUP answered without a Session',
    except('SETUP', (request, connection) => {
      connection.reply(request, { headers: { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' } });
    }),
    /without a valid Session/,
  ],
  [
    'a control URL with a space',
    except('DESCRIBE', (request, connection) => {
      connection.reply(request, { body: SDP.replace('a=control:track1', 'a=control:track 1') });
    }),
    /cannot send SETUP/,
  ],
  [
    'a 404 to DESCRIBE',
    except('DESCRIBE', (request, connection) => {
      connection.reply(request, { status: 404 });
    }),
    /answered DESCRIBE with 404/,
  ],
];

describe('CameraSource with hostile cameras', { timeout: 60_000 }, () => {
  for (const [name, script, reason, onConnect] of hostile) {
    it(`${name}: failure, retried, no crash`, async () => {
      const baseline = liveHandles();
      const camera = await fake(script, onConnect);
      const { source: cam, listener } = source(camera.url, 'tcp');
      await waitFor(
        () => (camera.connections.length >= 3 ? true : undefined),
        10_000,
        () => `${camera.connections.length} connections`,
      );
      assert.match(cam.lastError ?? '', reason);
      assert.equal(cam.state, 'retrying');
      assert.deepEqual(listener.events, []);
      await cam.close();
      listener.markClosed();
      await camera.close();
      await waitForHandles(baseline);
      await sleep(200);
      assert.equal(listener.eventsAfterClose, 0);
    });
  }

  it('interleaved data on a channel no track uses: down, reconnect, ready again', async () => {
    const behave = wellBehaved({ udpMedia: false });
    const camera = await fake((request, connection, self) => {
      behave(request, connection, self);
      // The first connection turns hostile 300 ms into PLAY.
      if (request.method === 'PLAY' && self.connections.length === 1) {
        setTimeout(() => connection.socket.write(interleavedFrame(9, rtp({ sequence: 1 }))), 300);
      }
    });
    const { source: cam, listener } = source(camera.url, 'tcp');
    await listener.waitForEvents(3, 5000);
    assert.equal(listener.events[1], 'down: camera sent interleaved data on unused channel 9');
    assert.equal(listener.events[2], 'ready');
    assert.ok(listener.alternates());
    assert.equal(cam.reconnects, 1);
    await listener.waitForRtp(listener.rtpPackets() + 10, 3000);
  });

  it('a stalled camera (RTP stops, RTSP stays up): down after noMediaTimeoutMs, TEARDOWN sent', async () => {
    const behave = wellBehaved({ udpMedia: false });
    const camera = await fake((request, connection, self) => {
      if (request.method === 'PLAY' && self.connections.length === 1) {
        connection.reply(request, { headers: { Session: 'stalled' } });
        // A burst, then nothing.
        for (let i = 0; i < 5; i++)
          connection.socket.write(interleavedFrame(0, rtp({ sequence: i })));
        return;
      }
      behave(request, connection, self);
    });
    const { source: cam, listener } = source(camera.url, 'tcp');
    await listener.waitForEvents(2, 5000);
    assert.equal(listener.events[1], 'down: no RTP from the camera for 1000 ms');
    assert.ok(camera.connections[0]?.requests.some((request) => request.method === 'TEARDOWN'));
    await listener.waitForEvents(3, 5000);
    assert.equal(cam.reconnects, 1);
  });
});
