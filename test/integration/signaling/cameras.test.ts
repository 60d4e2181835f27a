/**
 * The CameraHub in-process with real mediasoup workers, in front of the
 * streammesh RTSP proxy (`up`) and a GStreamer RTSP camera: 50 acquires of
 * one camera share one pull (one RTSP session at the proxy, one at the
 * camera, one Router); its H.264 reaches a mediasoup consumer starting at a
 * keyframe; it survives a camera restart; after the last release it lingers,
 * then its session and every mediasoup object are gone. Unknown paths give
 * undefined, a hostile RTSP server a clean CameraPullError.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { types } from 'mediasoup';
import {
  isRtcpPacket,
  rtpHeaderLength,
  rtpPayloadType,
  rtpSsrc,
} from '../../../src/protocol/rtp/index.js';
import { parseSdp } from '../../../src/protocol/sdp/index.js';
import { h264StartsKeyframe } from '../../../src/protocol/video/index.js';
import { CameraHub, CameraPullError, findH264Track } from '../../../signaling/cameras/index.js';
import { openCameraPull } from '../../../signaling/cameras/camera-pull.js';
import {
  describeTracks,
  type MediaSource,
  type SourceDescription,
  type SourceListener,
  type SourceState,
} from '../../../src/media/source/index.js';
import { DEFAULT_CAMERA_TIMING } from '../../../src/media/rtsp-client/index.js';
import type { WatchableSource } from '../../../signaling/sfu/index.js';
import {
  censusCounts,
  installCensus,
  WorkerPool,
  type CensusCounts,
} from '../../../signaling/sfu/index.js';
import { at } from '../../helpers/defined.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import { startRtspCamera, type RtspCamera } from '../../helpers/peers/rtsp-camera.js';
import { rtspMesh, type RtspMesh } from '../../helpers/rtsp-mesh.js';
import { rtp as rtpPacket, sleep, UdpPeer } from '../../helpers/udp.js';

const log = pino({ level: process.env['CAMERA_TEST_LOG'] ?? 'silent' });
const LINGER_MS = 1500;
const VIEWERS = 50;

after(stopAllPeers);

/** An SDP as a camera would send it, with one media section per entry of `media`. */
function sdpText(...media: string[][]): string {
  return ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=test', 't=0 0', ...media.flat(), ''].join('\r\n');
}

const H264_SECTION = [
  'm=video 0 RTP/AVP 96',
  'a=rtpmap:96 H264/90000',
  'a=fmtp:96 packetization-mode=1;profile-level-id=42c01f',
  'a=control:trackID=0',
];

describe('the H.264 track of a camera SDP', () => {
  const track = (...media: string[][]): ReturnType<typeof findH264Track> => {
    const parsed = parseSdp(sdpText(...media));
    assert.ok(parsed.ok);
    return findH264Track(parsed.sdp, 'rtsp://test/cam');
  };
  const refused = (code: string, ...media: string[][]): void => {
    assert.throws(
      () => track(...media),
      (error: unknown) => error instanceof CameraPullError && error.code === code,
    );
  };

  it('takes payload type, profile and packetization mode, after an audio section', () => {
    const audio = ['m=audio 0 RTP/AVP 8', 'a=rtpmap:8 PCMA/8000'];
    assert.deepEqual(track(audio, H264_SECTION), {
      index: 1,
      payloadType: 96,
      profileLevelId: '42c01f',
      packetizationMode: 1,
    });
  });

  it('reads the profile from sprop-parameter-sets when fmtp has none, else uses 42e01f', () => {
    const sps = Buffer.from([0x67, 0x64, 0x00, 0x28, 0xac]).toString('base64');
    const fromSps = track([
      'm=video 0 RTP/AVP 97',
      'a=rtpmap:97 h264/90000',
      `a=fmtp:97 sprop-parameter-sets=${sps},aMuMsg==`,
    ]);
    assert.equal(fromSps.profileLevelId, '640028');
    assert.equal(fromSps.packetizationMode, 0);
    assert.equal(
      track(['m=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000']).profileLevelId,
      '42e01f',
    );
  });

  it('refuses no H.264, H.265, profiles browsers cannot decode, packetization-mode 2', () => {
    refused('ERR_CAMERA_NO_H264', ['m=audio 0 RTP/AVP 0']);
    refused('ERR_CAMERA_NO_H264', ['m=video 0 RTP/AVP 96', 'a=rtpmap:96 H265/90000']);
    refused('ERR_CAMERA_NO_H264', ['m=video 0 RTP/AVP 97', 'a=rtpmap:96 H264/90000']);
    refused('ERR_CAMERA_UNSUPPORTED', [
      'm=video 0 RTP/AVP 96',
      'a=rtpmap:96 H264/90000',
      'a=fmtp:96 profile-level-id=f4001f',
    ]);
    refused('ERR_CAMERA_UNSUPPORTED', [
      'm=video 0 RTP/AVP 96',
      'a=rtpmap:96 H264/90000',
      'a=fmtp:96 packetization-mode=2',
    ]);
  });
});

/** A consumer of `source`'s producer into a UDP socket: what a WHEP viewer would get, without WebRTC. */
class TestConsumer {
  readonly rtp: Buffer[] = [];
  private constructor(
    readonly transport: types.PlainTransport,
    readonly consumer: types.Consumer,
    readonly peer: UdpPeer,
  ) {
    const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
    peer.socket.on('message', (packet: Buffer) => {
      // mediasoup also sends bandwidth probation packets (SSRC 1234, PT 127).
      if (!isRtcpPacket(packet) && rtpSsrc(packet) === ssrc) this.rtp.push(packet);
    });
  }

  static async open(source: WatchableSource): Promise<TestConsumer> {
    const peer = await UdpPeer.bind();
    const transport = await source.router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: true,
      comedia: false,
    });
    await transport.connect({ ip: '127.0.0.1', port: peer.port });
    const consumer = await transport.consume({
      producerId: at(source.producers, 0).id,
      rtpCapabilities: source.router.rtpCapabilities,
    });
    return new TestConsumer(transport, consumer, peer);
  }

  async waitForPackets(count: number, timeoutMs: number): Promise<void> {
    await waitFor(
      () => (this.rtp.length >= count ? true : undefined),
      timeoutMs,
      () => `${count} RTP packets from the consumer, got ${this.rtp.length}`,
    );
  }

  close(): void {
    this.transport.close();
    this.peer.close();
  }
}

/** Waits (bounded) until no mediasoup object is left beyond `baseline`. */
async function censusBackTo(baseline: CensusCounts, when: string): Promise<void> {
  const same = (): boolean => JSON.stringify(censusCounts()) === JSON.stringify(baseline);
  await waitFor(
    () => (same() ? true : undefined),
    3_000,
    () => `${when}: census ${JSON.stringify(censusCounts())} back to ${JSON.stringify(baseline)}`,
  );
}

function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('CameraHub with the RTSP proxy and a GStreamer camera', { timeout: 180_000 }, () => {
  let cameraPort: number;
  let camera: RtspCamera;
  let mesh: RtspMesh;
  let pool: WorkerPool;
  let hub: CameraHub;
  let registry: Registry;
  let baseline: CensusCounts;

  const proxySessions = async (path: string): Promise<number> =>
    (await mesh.rtsp()).sessions.filter((session) => session.path === path).length;

  before(async () => {
    cameraPort = await freePort();
    camera = await startRtspCamera({ port: cameraPort, path: 'test' });
    mesh = await rtspMesh(
      [
        '    paths:',
        '      cam1:',
        `        source: rtsp://127.0.0.1:${cameraPort}/test`,
        '        lingerMs: 1000',
        '      pushed:',
        '        source: publisher',
      ].join('\n'),
    );
    installCensus();
    pool = await WorkerPool.create({ size: 1, rtcMinPort: 48000, rtcMaxPort: 48999, log });
    registry = new Registry();
    hub = new CameraHub({
      pool,
      rtspBase: `rtsp://127.0.0.1:${mesh.rtspPort}`,
      lingerMs: LINGER_MS,
      log,
      metrics: registry,
    });
    baseline = censusCounts();
  });

  after(async () => {
    await hub.close();
    await pool.close();
    await mesh.stop();
  });

  it('shares one pull among 50 acquires, feeds H.264 from a keyframe, then lingers and tears down', async () => {
    const cameraSessions = camera.sessions();
    const leases = await Promise.all(
      Array.from({ length: VIEWERS }, async () => hub.acquire('cam1')),
    );
    const sources = leases.filter((lease) => lease !== undefined);
    assert.equal(sources.length, VIEWERS);
    const first = at(sources, 0);
    const producer = at(first.producers, 0);
    assert.ok(sources.every((source) => source.router === first.router));
    assert.ok(sources.every((source) => at(source.producers, 0) === producer));
    assert.equal(producer.kind, 'video');
    assert.equal(camera.sessions() - cameraSessions, 1, 'one session at the camera');
    assert.equal(await proxySessions('cam1'), 1, 'one session at the proxy');
    const pulled = censusCounts();
    assert.equal(pulled.routers, baseline.routers + 1);
    assert.equal(pulled.producers, baseline.producers + 1);

    const viewer = await TestConsumer.open(first);
    // The camera sends a keyframe every second; mediasoup holds a new
    // consumer back until one comes.
    await viewer.waitForPackets(100, 5_000);
    const payloadType = at(viewer.consumer.rtpParameters.codecs, 0).payloadType;
    const firstPacket = at(viewer.rtp, 0);
    assert.ok(
      h264StartsKeyframe(firstPacket.subarray(rtpHeaderLength(firstPacket))),
      'the first packet starts a keyframe',
    );
    assert.ok(viewer.rtp.every((packet) => rtpPayloadType(packet) === payloadType));
    assert.equal(at(viewer.consumer.rtpParameters.codecs, 0).mimeType, 'video/H264');

    const metrics = await registry.metrics();
    assert.equal(metricValue(metrics, 'streammesh_signaling_cameras_pulled'), 1);
    assert.equal(metricValue(metrics, 'streammesh_signaling_camera_viewers{path="cam1"}'), VIEWERS);
    assert.ok(
      (metricValue(metrics, 'streammesh_signaling_camera_packets_total{path="cam1"}') ?? 0) > 100,
      metrics,
    );

    viewer.close();
    first.release();
    first.release(); // a second release of one lease changes nothing
    assert.equal(at(hub.pulled(), 0).viewers, VIEWERS - 1);
    for (const source of sources) source.release();
    assert.deepEqual(
      hub.pulled().map((camera) => camera.viewers),
      [0],
      'lingering with no viewer',
    );

    // Back during the linger: the same pull, no new session anywhere.
    await sleep(LINGER_MS / 2);
    const again = await hub.acquire('cam1');
    assert.ok(again !== undefined);
    assert.equal(again.router, first.router);
    assert.equal(await proxySessions('cam1'), 1);
    const released = Date.now();
    again.release();

    await waitFor(
      () => (hub.pulled().length === 0 ? true : undefined),
      LINGER_MS + 3_000,
      () => 'the pull to close after lingerMs',
    );
    assert.ok(Date.now() - released >= LINGER_MS - 50, 'kept at least lingerMs');
    await waitFor(async () => ((await proxySessions('cam1')) === 0 ? true : undefined), 3_000);
    await censusBackTo(baseline, 'after the linger');
    assert.ok(first.router.closed);
    const after = await registry.metrics();
    assert.equal(metricValue(after, 'streammesh_signaling_cameras_pulled'), 0);
    assert.doesNotMatch(after, /path="cam1"/, 'the path series left with the pull');
  });

  it('closes a pull while the camera streams into it: nothing throws, nothing is fed after', async () => {
    const errors: string[] = [];
    const capturing = pino({ level: 'error' }, { write: (line: string) => errors.push(line) });
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      uncaught.push(error);
    };
    process.on('uncaughtException', onUncaught);
    const quick = new CameraHub({
      pool,
      rtspBase: `rtsp://127.0.0.1:${mesh.rtspPort}`,
      lingerMs: 0,
      log: capturing,
    });
    try {
      const source = await quick.acquire('cam1');
      assert.ok(source !== undefined);
      const viewer = await TestConsumer.open(source);
      await viewer.waitForPackets(30, 5_000);
      // Released with no linger: the pull closes at once, with packets on the way.
      source.release();
      await waitFor(() => (quick.pulled().length === 0 ? true : undefined), 3_000);
      assert.ok(source.router.closed);
      const fed = viewer.rtp.length;
      await sleep(300);
      assert.equal(viewer.rtp.length, fed, 'nothing reaches the Producer after the close');
      viewer.close();
      assert.deepEqual(uncaught, []);
      assert.deepEqual(errors, [], 'no send error, no listener failure logged');
    } finally {
      process.off('uncaughtException', onUncaught);
      await quick.close();
    }
  });

  it('keeps the producer through a camera restart and feeds it again', async () => {
    const source = await hub.acquire('cam1');
    assert.ok(source !== undefined);
    const producer = at(source.producers, 0);
    const viewer = await TestConsumer.open(source);
    await viewer.waitForPackets(20, 5_000);
    await camera.stop();
    camera = await startRtspCamera({ port: cameraPort, path: 'test' });
    const before = viewer.rtp.length;
    // The proxy reconnects with backoff; the next keyframe follows within a second.
    await viewer.waitForPackets(before + 50, 15_000);
    assert.equal(producer.closed, false);
    assert.equal(at(hub.pulled(), 0).viewers, 1);
    assert.equal(await proxySessions('cam1'), 1, 'still one session at the proxy');
    viewer.close();
    source.release();
    await waitFor(() => (hub.pulled().length === 0 ? true : undefined), LINGER_MS + 3_000);
  });

  it('gives undefined for a path the proxy does not serve, a name that is no path, and a path with no publisher', async () => {
    for (const path of ['nope', 'pushed', '../cam1', '', 'a b', 'x'.repeat(200), 'cam1?x=1']) {
      assert.equal(await hub.acquire(path), undefined, path);
    }
    assert.deepEqual(hub.pulled(), []);
    assert.deepEqual(censusCounts(), baseline);
  });

  it('refuses acquires once closed', async () => {
    const closing = new CameraHub({
      pool,
      rtspBase: `rtsp://127.0.0.1:${mesh.rtspPort}`,
      lingerMs: 0,
      log,
    });
    const pending = assert.rejects(
      closing.acquire('cam1'),
      (error: unknown) => error instanceof CameraPullError,
    );
    await closing.close();
    await pending;
    await assert.rejects(closing.acquire('cam1'), { code: 'ERR_CAMERA_HUB_CLOSED' });
    await censusBackTo(baseline, 'after close');
  });
});

/**
 * A scripted RTSP server: each path is a behaviour. It answers OPTIONS, then
 * does what the path says to DESCRIBE (and SETUP).
 */
class HostileRtspServer {
  readonly server: Server;
  connections = 0;

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(): Promise<HostileRtspServer> {
    const hostile = new HostileRtspServer(createServer());
    hostile.server.on('connection', (socket) => {
      hostile.connections += 1;
      hostile.#serve(socket);
    });
    await new Promise<void>((resolve) => hostile.server.listen(0, '127.0.0.1', resolve));
    return hostile;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #serve(socket: Socket): void {
    let buffered = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const [method = '', url = ''] = head.split(' ');
        const cseq = /^CSeq: *(\d+)/im.exec(head)?.[1] ?? '0';
        this.#answer(socket, method, new URL(url).pathname.split('/')[1] ?? '', cseq);
      }
    });
  }

  #answer(socket: Socket, method: string, behaviour: string, cseq: string): void {
    const reply = (status: string, headers: string[] = [], body = ''): void => {
      const length = body === '' ? [] : [`Content-Length: ${Buffer.byteLength(body)}`];
      socket.write(
        [`RTSP/1.0 ${status}`, `CSeq: ${cseq}`, ...headers, ...length, '', body].join('\r\n'),
      );
    };
    const sdp = (body: string): void => {
      reply('200 OK', ['Content-Type: application/sdp'], body);
    };
    if (method === 'OPTIONS') {
      reply('200 OK', ['Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN']);
      return;
    }
    switch (behaviour) {
      case 'garbage':
        socket.write('\x00\xff garbage that is not RTSP at all\r\n\r\n');
        return;
      case 'close':
        socket.destroy();
        return;
      case 'silent':
        return;
      case 'no-h264':
        sdp(sdpText(['m=audio 0 RTP/AVP 8', 'a=rtpmap:8 PCMA/8000']));
        return;
      case 'high10':
        sdp(
          sdpText([
            'm=video 0 RTP/AVP 96',
            'a=rtpmap:96 H264/90000',
            'a=fmtp:96 packetization-mode=1;profile-level-id=6e0028',
          ]),
        );
        return;
      case 'not-sdp':
        sdp('this is not a session description\r\n');
        return;
      case 'huge': {
        const lines = Array.from({ length: 40_000 }, (_, i) => `a=x-filler:${i}`);
        sdp(sdpText([...H264_SECTION, ...lines]));
        return;
      }
      case 'lying-length':
        socket.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Length: 99999999\r\n\r\nv=0\r\n`);
        return;
      case 'setup-garbage':
        if (method === 'DESCRIBE') sdp(sdpText(H264_SECTION));
        else socket.write('RTSP/1.0 banana\r\n\r\n');
        return;
      case 'forbidden':
        reply('403 Forbidden');
        return;
      default:
        reply('404 Not Found');
    }
  }
}

describe('CameraHub against a hostile RTSP server', { timeout: 60_000 }, () => {
  let hostile: HostileRtspServer;
  let pool: WorkerPool;
  let hub: CameraHub;
  let baseline: CensusCounts;

  before(async () => {
    hostile = await HostileRtspServer.start();
    installCensus();
    pool = await WorkerPool.create({ size: 1, rtcMinPort: 48000, rtcMaxPort: 48999, log });
    hub = new CameraHub({
      pool,
      rtspBase: `rtsp://127.0.0.1:${hostile.port}/`,
      lingerMs: 0,
      log,
      timing: { connectTimeoutMs: 500, backoffBaseMs: 50, backoffMaxMs: 100 },
    });
    baseline = censusCounts();
  });

  after(async () => {
    await hub.close();
    await pool.close();
    await hostile.close();
  });

  it('rejects each bad answer with a clear CameraPullError and leaves nothing behind', async () => {
    const cases: [string, string, RegExp][] = [
      ['garbage', 'ERR_CAMERA_PULL', /malformed RTSP/],
      ['close', 'ERR_CAMERA_PULL', /closed/],
      ['silent', 'ERR_CAMERA_PULL', /did not answer DESCRIBE within 500 ms/],
      ['no-h264', 'ERR_CAMERA_NO_H264', /no H\.264 video track \(it offers audio PCMA\)/],
      ['high10', 'ERR_CAMERA_UNSUPPORTED', /profile-level-id 6e0028/],
      ['not-sdp', 'ERR_CAMERA_PULL', /invalid SDP/],
      ['huge', 'ERR_CAMERA_PULL', /malformed RTSP/],
      ['lying-length', 'ERR_CAMERA_PULL', /malformed RTSP/],
      ['setup-garbage', 'ERR_CAMERA_PULL', /cannot play camera .*malformed RTSP/],
      ['forbidden', 'ERR_CAMERA_PULL', /DESCRIBE with 403/],
    ];
    for (const [behaviour, code, message] of cases) {
      await assert.rejects(
        hub.acquire(behaviour),
        (error: unknown) => {
          assert.ok(error instanceof CameraPullError, `${behaviour}: ${String(error)}`);
          assert.equal(error.code, code, `${behaviour}: ${error.message}`);
          assert.match(error.message, message, behaviour);
          assert.match(
            error.message,
            new RegExp(`rtsp://127\\.0\\.0\\.1:${hostile.port}/${behaviour}`),
          );
          return true;
        },
        behaviour,
      );
      assert.deepEqual(hub.pulled(), [], behaviour);
      await censusBackTo(baseline, behaviour);
    }
    assert.equal(await hub.acquire('unknown'), undefined);
  });

  it('lets concurrent first acquires share one failed attempt, and the next acquire try again', async () => {
    const before = hostile.connections;
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, async () => hub.acquire('no-h264')),
    );
    assert.ok(results.every((result) => result.status === 'rejected'));
    assert.equal(hostile.connections - before, 1, 'one DESCRIBE for ten acquires');
    await assert.rejects(hub.acquire('no-h264'), { code: 'ERR_CAMERA_NO_H264' });
    assert.equal(hostile.connections - before, 2);
  });

  it('refuses acquires, clearly, when the base URL is not rtsp://', async () => {
    const misconfigured = new CameraHub({
      pool,
      rtspBase: 'http://127.0.0.1:8554',
      lingerMs: 0,
      log,
    });
    await assert.rejects(misconfigured.acquire('cam1'), {
      code: 'ERR_CAMERA_PULL',
      message: /^signaling\.cameras\.rtsp: .*not rtsp/,
    });
    await misconfigured.close();
  });
});

/**
 * A source that goes on delivering while its close() runs (a camera whose
 * TEARDOWN takes a while, a source less careful than CameraSource), so
 * packets reach the pull after its socket has closed.
 */
class StreamingThroughClose implements MediaSource {
  state: SourceState = 'idle';
  readonly transport = null;
  readonly reconnects = 0;
  readonly lastError = null;
  deliveredAfterClose = 0;
  #timer: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(readonly description: SourceDescription) {}

  start(listener: SourceListener): void {
    this.state = 'playing';
    let sequence = 0;
    setImmediate(() => {
      listener.ready(this.description);
    });
    this.#timer = setInterval(() => {
      if (this.#closing) this.deliveredAfterClose += 1;
      const payload = Buffer.from([sequence % 30 === 0 ? 0x65 : 0x41, 1, 2, 3]);
      listener.rtp(0, rtpPacket({ sequence: sequence++, payloadType: 96, payload }));
    }, 2);
  }

  async close(): Promise<void> {
    this.#closing = true;
    await sleep(150);
    clearInterval(this.#timer);
    this.state = 'closed';
  }
}

describe('CameraPull closed while its source still delivers', { timeout: 60_000 }, () => {
  let pool: WorkerPool;

  before(async () => {
    pool = await WorkerPool.create({ size: 1, rtcMinPort: 48000, rtcMaxPort: 48999, log });
  });

  after(async () => {
    await pool.close();
  });

  it('drops what arrives after close() as pull_closed and sends nothing on the closed socket', async () => {
    const parsed = parseSdp(sdpText(H264_SECTION));
    assert.ok(parsed.ok);
    const description: SourceDescription = {
      sdp: parsed.sdp,
      tracks: describeTracks(parsed.sdp),
    };
    const url = 'rtsp://127.0.0.1:1/scripted';
    const source = new StreamingThroughClose(description);
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      uncaught.push(error);
    };
    process.on('uncaughtException', onUncaught);
    try {
      const pull = await openCameraPull({
        path: 'scripted',
        url,
        safeUrl: url,
        track: findH264Track(parsed.sdp, url),
        pool,
        log,
        timing: DEFAULT_CAMERA_TIMING,
        startTimeoutMs: 2_000,
        onLost: () => undefined,
        createSource: () => source,
      });
      await waitFor(() => (pull.packets >= 20 ? true : undefined), 3_000);
      await pull.close();
      const fed = pull.packets;
      assert.ok(source.deliveredAfterClose > 0, 'the source delivered during close()');
      assert.deepEqual(uncaught, []);
      assert.equal(pull.drops.pull_closed, source.deliveredAfterClose);
      assert.equal(pull.sendErrors, 0);
      await sleep(50);
      assert.equal(pull.packets, fed);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
