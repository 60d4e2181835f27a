/**
 * WHIP ingest and WHEP egress on a real SignalingServer and WorkerPool,
 * in-process, with werift and headless Chromium as the clients: a WHIP
 * publisher's video reaches WHEP viewers of the room (werift, and Chromium
 * decoding it) and WebSocket peers of the room; trickle and ICE restart by
 * PATCH; DELETE and every other way a session ends leave no mediasoup
 * object behind (census back to its baseline); bad requests get their
 * status and are counted; a flood of garbage leaves the server serving.
 *
 * The camera endpoint (/whep/<path>) is driven here through a CameraSources
 * that hands out a WHIP-published room's producers: the real CameraHub,
 * RTSP in, is tested in cameras.test.ts; this file tests what WHEP does
 * with any source (release exactly once, 404 and 502).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Page } from 'puppeteer-core';
import { formatHostPort } from '../../../src/shared/address.js';
import { SignalingServer, type Rooms } from '../../../signaling/server/index.js';
import {
  WorkerPool,
  censusCounts,
  installCensus,
  type CameraSources,
  type CensusCounts,
  type WatchableSource,
} from '../../../signaling/sfu/index.js';
import { MediaStatsCollector } from '../../../signaling/stats/index.js';
import { whipWhepRoutes } from '../../../signaling/whip-whep/index.js';
import { parseWebrtcSdp, parseSdpFragment } from '../../../signaling/sdp/index.js';
import { at } from '../../helpers/defined.js';
import { closeAllChromium, launchChromium, LOCAL_ORIGIN } from '../../helpers/peers/chromium.js';
import { mulberry32 } from '../../helpers/peers/impaired-sender.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import {
  WhepViewer,
  WhipPublisher,
  postSdp,
  request,
  type HttpAnswer,
} from '../../helpers/peers/werift-whip.js';
import { repoRoot } from '../../helpers/process.js';
import { SignalingClient, metricValue, until } from '../../helpers/signaling-client.js';

const log = pino({ level: 'silent' });
const MAX_SESSIONS = 6;
const CONNECT_TIMEOUT_MS = 2_000;
const chromeOffer = readFileSync(
  join(repoRoot, 'test', 'fixtures', 'sdp', 'chrome-send.sdp'),
  'utf8',
);

/** Waits, bounded, until `condition` holds (for waits longer than signaling-client's 5 s). */
async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('WHIP and WHEP', () => {
  let pool: WorkerPool;
  let server: SignalingServer;
  let registry: Registry;
  let base: string;
  let baseline: CensusCounts;
  const clients: { close(): Promise<unknown> }[] = [];
  /** Camera path -> room whose producers it serves; releases counted per path. */
  const cameraRooms = new Map<string, string>();
  const releases = new Map<string, number>();
  let rooms: Rooms;

  const cameras: CameraSources = {
    acquire: async (path) => {
      if (path === 'broken') throw new Error('RTSP 503 from the proxy');
      const room = cameraRooms.get(path);
      if (room === undefined) return undefined;
      const router = await rooms.router(room);
      if (router === undefined) return undefined;
      const source: WatchableSource = {
        router,
        producers: rooms.producers(room).map((entry) => entry.producer),
        release: () => releases.set(path, (releases.get(path) ?? 0) + 1),
      };
      return source;
    },
  };

  const track = <T extends { close(): Promise<unknown> }>(client: T): T => {
    clients.push(client);
    return client;
  };
  const refused = (endpoint: string, reason: string): Promise<number> =>
    metricValue(
      registry,
      'streammesh_signaling_whip_whep_refused_total',
      `{endpoint="${endpoint}",reason="${reason}"}`,
    ).then((value) => (Number.isNaN(value) ? 0 : value));
  const refusedTotal = async (endpoint: string): Promise<number> => {
    const text = await registry.metrics();
    return text
      .split('\n')
      .filter((line) =>
        line.startsWith(`streammesh_signaling_whip_whep_refused_total{endpoint="${endpoint}",`),
      )
      .reduce((sum, line) => sum + Number(line.split(' ')[1]), 0);
  };
  const sessions = (endpoint: string): Promise<number> =>
    metricValue(registry, 'streammesh_signaling_whip_whep_sessions', `{endpoint="${endpoint}"}`);
  const backToBaseline = async (when: string): Promise<void> => {
    await until(
      () => JSON.stringify(censusCounts()) === JSON.stringify(baseline),
      `${when}: census ${JSON.stringify(censusCounts())} back to ${JSON.stringify(baseline)}`,
    );
  };

  before(async () => {
    installCensus();
    pool = await WorkerPool.create({ size: 2, rtcMinPort: 49000, rtcMaxPort: 49999, log });
    baseline = censusCounts();
    registry = new Registry();
    server = await SignalingServer.start({
      listen: { host: '127.0.0.1', port: 0 },
      pool,
      maxPeersPerRoom: 4,
      rtc: { listenIp: '127.0.0.1' },
      peerLimits: { transports: 4, producers: 4, consumers: 10, incomingBitrate: 5_000_000 },
      log,
      metrics: registry,
      routes: (serverRooms) => {
        rooms = serverRooms;
        return whipWhepRoutes({
          rooms: serverRooms,
          pool,
          rtc: { listenIp: '127.0.0.1' },
          log,
          metrics: registry,
          cameras,
          maxSessions: MAX_SESSIONS,
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
        });
      },
    });
    base = `http://${formatHostPort(server.address)}`;
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    await closeAllChromium();
    await stopAllPeers();
    await server.close();
    await pool.close();
  });

  it('a werift WHIP publisher reaches a werift WHEP viewer and the room; trickle, ICE restart, DELETE', async () => {
    const watcher = track(await SignalingClient.open(`${base.replace('http', 'ws')}/ws`));
    assert.equal((await watcher.request('join', { room: 'stage', peer: 'watcher' })).ok, true);

    const publisher = track(await WhipPublisher.publish(`${base}/whip/stage`, { codec: 'VP8' }));
    assert.match(publisher.location, new RegExp(`^${base}/whip/session/[0-9a-f]{32}$`));
    assert.match(publisher.etag, /^"[0-9a-f]+"$/);
    const joined = await watcher.event('peerJoined');
    const announced = await watcher.event('newProducer');
    assert.equal(announced.data?.['kind'], 'video');
    assert.equal(announced.data['peer'], joined.data?.['peer']);
    assert.match(String(announced.data['peer']), /^whip-[0-9a-f]{12}$/);
    await publisher.connected();

    const viewer = track(await WhepViewer.watch(`${base}/whep/rooms/stage`));
    const answer = parseWebrtcSdp(viewer.answer);
    assert.deepEqual(
      answer.medias.map((media) => [media.kind, media.rejected, media.direction]),
      [
        ['audio', true, 'inactive'],
        ['video', false, 'sendonly'],
      ],
      'no audio in the room: the audio section is turned down',
    );
    assert.deepEqual(
      at(answer.medias, 1).codecs.map((codec) => [codec.payloadType, codec.mimeType]),
      [[120, 'video/VP8']],
      "the viewer's payload type",
    );
    await viewer.connected();
    await viewer.waitFor(
      (got) => got.video.packets > 30 && got.video.keyframes > 0,
      'video packets with a key frame',
    );
    assert.equal(viewer.received.video.mimeType.toLowerCase(), 'video/vp8');
    assert.equal(await sessions('whip'), 1);
    assert.equal(await sessions('whep'), 1);

    // A second viewer whose offer has the same payload types shares the first one's Router.
    const second = track(await WhepViewer.watch(`${base}/whep/rooms/stage`));
    await second.waitFor((got) => got.video.keyframes > 0, 'video at the second viewer');
    assert.equal(censusCounts().routers, baseline.routers + 2, "the room's and the viewers'");
    assert.equal((await second.close())?.status, 200);

    // The stats name the room and both peers, and count the video once (not
    // again as the pipe into the viewers' Router).
    const stats = await new MediaStatsCollector({ log }).sample();
    const inRoom = stats.streams.filter((stream) => stream.room === 'stage');
    assert.deepEqual(inRoom.map(({ direction, peer, kind }) => [direction, peer, kind]).sort(), [
      ['in', String(joined.data?.['peer']), 'video'],
      ['out', `whep-${viewer.location.split('/').pop() ?? ''}`, 'video'],
    ]);

    // Trickle: accepted and ignored (mediasoup is ICE-lite).
    const ufrag = parseWebrtcSdp(viewer.answer).ice.usernameFragment;
    const offered = parseWebrtcSdp(viewer.pc.localDescription?.sdp ?? '');
    const trickle = await viewer.patch(
      [
        `a=ice-ufrag:${offered.ice.usernameFragment}`,
        `a=ice-pwd:${offered.ice.password}`,
        'm=audio 9 UDP/TLS/RTP/SAVPF 0',
        'a=mid:0',
        'a=candidate:1 1 udp 2130706431 127.0.0.1 9999 typ host',
        'a=end-of-candidates',
        '',
      ].join('\r\n'),
    );
    assert.equal(trickle.status, 204);
    const stale = await viewer.patch('a=end-of-candidates\r\n', '"not-the-etag"');
    assert.equal(stale.status, 412);

    // ICE restart: new credentials from the SFU, a new ETag, and media flows on.
    const etagBefore = viewer.etag;
    const restarted = await viewer.restartIce();
    assert.equal(restarted.status, 200, restarted.body);
    assert.equal(restarted.headers.get('content-type'), 'application/trickle-ice-sdpfrag');
    const fragment = parseSdpFragment(restarted.body);
    assert.ok(fragment.ice);
    assert.notEqual(fragment.ice.usernameFragment, ufrag);
    assert.equal(fragment.candidates.length, 2, 'UDP and TCP');
    assert.notEqual(viewer.etag, etagBefore);
    const before = viewer.received.video.packets;
    await viewer.waitFor((got) => got.video.packets > before + 30, 'video after the ICE restart');

    // DELETE ends the viewer; a second DELETE finds nothing.
    const deleted = await viewer.close();
    assert.equal(deleted?.status, 200);
    assert.equal((await request(viewer.location, 'DELETE')).status, 404);
    await until(async () => (await sessions('whep')) === 0, 'no WHEP session');

    // DELETE ends the publisher: its producer closes for the room.
    assert.equal((await publisher.close())?.status, 200);
    const closed = await watcher.event('producerClosed');
    assert.equal(closed.data?.['peer'], joined.data?.['peer']);
    assert.equal((await watcher.event('peerLeft')).data?.['peer'], joined.data?.['peer']);
    assert.equal((await watcher.request('leave')).ok, true);
    await backToBaseline('after DELETE of both sessions');
  });

  it('H.264 from WHIP to a viewer that takes it; a VP8-only viewer is refused with 400', async () => {
    const publisher = track(await WhipPublisher.publish(`${base}/whip/h264`, { codec: 'H264' }));
    await publisher.connected();
    const viewer = track(await WhepViewer.watch(`${base}/whep/rooms/h264`, { video: ['H264'] }));
    await viewer.connected();
    await viewer.waitFor(
      (got) => got.video.packets > 30 && got.video.keyframes > 0,
      'H.264 packets with a key frame',
    );
    assert.equal(viewer.received.video.mimeType.toLowerCase(), 'video/h264');

    const before = await refused('whep', 'no_codec');
    await assert.rejects(
      WhepViewer.watch(`${base}/whep/rooms/h264`, { video: ['VP8'], audio: false }),
      /400 the offer receives video\/VP8; the source sends video\/H264/,
    );
    assert.equal(await refused('whep', 'no_codec'), before + 1);

    // The publisher leaves: the viewer's source is gone, so is its session.
    await publisher.close();
    await until(
      async () => (await sessions('whep')) === 0,
      'the WHEP session ended with its source',
    );
    assert.equal((await request(viewer.location, 'DELETE')).status, 404);
    await viewer.close(false);
    await backToBaseline('after the publisher left');
  });

  it('a camera source is released exactly once, however the session ends; unknown 404, failing 502', async () => {
    const publisher = track(await WhipPublisher.publish(`${base}/whip/lobby`));
    await publisher.connected();
    cameraRooms.set('door', 'lobby');

    const viewer = track(await WhepViewer.watch(`${base}/whep/door`));
    await viewer.connected();
    await viewer.waitFor((got) => got.video.keyframes > 0, 'camera key frame');
    assert.equal(releases.get('door') ?? 0, 0, 'not released while watched');
    await viewer.close();
    await until(() => releases.get('door') === 1, 'released on DELETE');

    // A viewer whose offer has nothing for the source: released at once.
    await assert.rejects(
      WhepViewer.watch(`${base}/whep/door`, { video: ['H264'], audio: false }),
      /400/,
    );
    assert.equal(releases.get('door'), 2);
    // A viewer that never connects: released when the connect timeout ends it.
    const silent = await postSdp(`${base}/whep/door`, await recvOffer());
    assert.equal(silent.status, 201);
    await until(() => releases.get('door') === 3, 'released after the connect timeout');

    assert.equal((await postSdp(`${base}/whep/nowhere`, await recvOffer())).status, 404);
    const broken = await postSdp(`${base}/whep/broken`, await recvOffer());
    assert.equal(broken.status, 502);
    assert.match(broken.body, /camera broken cannot be pulled: RTSP 503/);
    assert.equal(await refused('whep', 'no_camera'), 1);
    assert.equal(await refused('whep', 'camera_unavailable'), 1);
    await publisher.close();
    await backToBaseline('after the camera viewers');
    assert.equal(releases.get('door'), 3);
  });

  it('bad requests get their status and reason, and are counted', async () => {
    const offer = await recvOffer();
    const cases: [string, () => Promise<HttpAnswer>, number, string, string, RegExp][] = [
      [
        'wrong content type',
        () => request(`${base}/whip/r1`, 'POST', chromeOffer, { 'content-type': 'text/plain' }),
        415,
        'whip',
        'content_type',
        /send the body as application\/sdp, not text\/plain/,
      ],
      ['empty body', () => postSdp(`${base}/whip/r1`, ''), 400, 'whip', 'bad_sdp', /empty/],
      [
        'garbage',
        () => postSdp(`${base}/whip/r1`, 'hello, WHIP'),
        400,
        'whip',
        'bad_sdp',
        /sdp_syntax: line 1 is not an SDP line/,
      ],
      [
        'over 64 KiB',
        () => postSdp(`${base}/whip/r1`, `${chromeOffer}a=x:${'x'.repeat(70_000)}\r\n`),
        413,
        'whip',
        'too_large',
        /larger than 65536 bytes/,
      ],
      [
        'a 2 MiB body',
        () => postSdp(`${base}/whep/rooms/r1`, 'v'.repeat(2 * 1024 * 1024)),
        413,
        'whep',
        'too_large',
        /larger than/,
      ],
      [
        'an offer that sends nothing',
        () => postSdp(`${base}/whip/r1`, offer),
        400,
        'whip',
        'bad_sdp',
        /sends no audio or video/,
      ],
      [
        'simulcast',
        () =>
          postSdp(
            `${base}/whip/r1`,
            readFileSync(join(repoRoot, 'test', 'fixtures', 'sdp', 'chrome-simulcast.sdp'), 'utf8'),
          ),
        400,
        'whip',
        'bad_sdp',
        /sdp_unsupported: m-section 0 sends simulcast/,
      ],
      [
        'a bad room name',
        () => postSdp(`${base}/whip/no%20spaces`, chromeOffer),
        400,
        'whip',
        'bad_name',
        /room name is 1-64/,
      ],
      [
        'no such room',
        () => postSdp(`${base}/whep/rooms/nobody`, offer),
        404,
        'whep',
        'no_room',
        /no room nobody/,
      ],
      [
        'unknown session',
        () => request(`${base}/whip/session/${'0'.repeat(32)}`, 'DELETE'),
        404,
        'whip',
        'unknown_session',
        /no whip session/,
      ],
      [
        'not a resource',
        () => postSdp(`${base}/whep/rooms/a/b/c`, offer),
        404,
        'whep',
        'not_found',
        /POST to \/whep\/rooms/,
      ],
      [
        'GET an endpoint',
        () => request(`${base}/whip/r1`, 'GET'),
        405,
        'whip',
        'method',
        /GET is not allowed/,
      ],
      [
        'PUT a session',
        () => request(`${base}/whep/session/${'0'.repeat(32)}`, 'PUT', 'x'),
        405,
        'whep',
        'method',
        /use PATCH, DELETE/,
      ],
    ];
    for (const [name, send, status, endpoint, reason, message] of cases) {
      const before = await refused(endpoint, reason);
      const reply = await send();
      assert.equal(reply.status, status, `${name}: ${reply.body}`);
      assert.match(reply.body, message, name);
      assert.equal(reply.headers.get('access-control-allow-origin'), '*', name);
      assert.equal(await refused(endpoint, reason), before + 1, `${name} counted as ${reason}`);
    }
    // A client that goes away mid-body: its doing (400 bad_sdp), not a logged 500.
    const badSdp = await refused('whip', 'bad_sdp');
    const { hostname, port } = new URL(base);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        const head = `POST /whip/r1 HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/sdp\r\nContent-Length: 1000\r\n\r\n`;
        socket.write(`${head}v=0\r\n`, () => {
          socket.destroy();
          resolve();
        });
      });
      socket.once('error', reject);
    });
    await until(
      async () => (await refused('whip', 'bad_sdp')) === badSdp + 1,
      'the abandoned POST counted as bad_sdp',
    );
    assert.equal(await refused('whip', 'internal'), 0, 'no 500 for a client that went away');

    const wrongType = await request(`${base}/whip/r1`, 'POST', 'x', {
      'content-type': 'text/plain',
    });
    assert.equal(wrongType.headers.get('accept-post'), 'application/sdp');
    assert.match((await request(`${base}/whip/r1`, 'GET')).headers.get('allow') ?? '', /POST/);

    // OPTIONS: what may be done, and what a page on another origin may read.
    const options = await request(`${base}/whip/r1`, 'OPTIONS', undefined, {
      origin: 'http://elsewhere.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    assert.equal(options.status, 204);
    assert.equal(options.headers.get('accept-post'), 'application/sdp');
    assert.match(options.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(options.headers.get('access-control-allow-headers') ?? '', /Content-Type/);
    const sessionOptions = await request(`${base}/whep/session/${'0'.repeat(32)}`, 'OPTIONS');
    assert.equal(sessionOptions.status, 204);
    assert.equal(sessionOptions.headers.get('accept-patch'), 'application/trickle-ice-sdpfrag');
    assert.match(sessionOptions.headers.get('allow') ?? '', /PATCH, DELETE/);
    await backToBaseline('after the bad requests');
  });

  it('a SIGKILLed worker ends the WHIP and WHEP sessions on it', async () => {
    const publisher = track(await WhipPublisher.publish(`${base}/whip/doomed`));
    await publisher.connected();
    const viewer = track(await WhepViewer.watch(`${base}/whep/rooms/doomed`));
    await viewer.waitFor((got) => got.video.packets > 0, 'video');
    const index = rooms.workerIndex('doomed');
    const victim = pool.workers.find((worker) => worker.index === index);
    assert.ok(victim, 'the worker hosting the room');
    process.kill(victim.pid, 'SIGKILL');
    await until(
      async () => (await sessions('whip')) === 0 && (await sessions('whep')) === 0,
      'both sessions ended with the worker',
    );
    assert.equal((await request(publisher.location, 'DELETE')).status, 404);
    assert.equal((await request(viewer.location, 'DELETE')).status, 404);
    await viewer.close(false);
    await publisher.close(false);
    // The pool restarts the worker: the census is whole again.
    await backToBaseline('after the worker died and came back');
  });

  it('PATCH refusals: wrong type 415, garbage fragment 400, stale ETag 412', async () => {
    const reply = await postSdp(`${base}/whip/patchy`, chromeOffer);
    assert.equal(reply.status, 201);
    const location = new URL(reply.headers.get('location') ?? '', base).toString();
    const patch = (body: string, type = 'application/trickle-ice-sdpfrag', ifMatch?: string) =>
      request(location, 'PATCH', body, {
        'content-type': type,
        ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }),
      });
    assert.equal((await patch('a=end-of-candidates\r\n', 'application/sdp')).status, 415);
    const garbage = await patch('v=0\r\nm=audio 9 RTP/AVP 0\r\n');
    assert.equal(garbage.status, 400);
    assert.match(garbage.body, /sdp_syntax: an SDP fragment has no v= line/);
    assert.equal((await patch('a=end-of-candidates\r\n', undefined, '"nope"')).status, 412);
    assert.equal(
      (await patch('a=end-of-candidates\r\n', undefined, reply.headers.get('etag') ?? '')).status,
      204,
    );
    assert.equal(await refused('whip', 'bad_fragment'), 1);
    assert.equal(await refused('whip', 'precondition'), 1);
    assert.equal((await request(location, 'DELETE')).status, 200);
    await backToBaseline('after the PATCH refusals');
  });

  it('sessions that never connect end after the connect timeout; past maxSessions 503', async () => {
    const locations: string[] = [];
    // Four peers fill a room (maxPeersPerRoom), the fifth is refused; two more rooms reach maxSessions.
    for (let index = 0; index < MAX_SESSIONS; index += 1) {
      const reply = await postSdp(`${base}/whip/crowd${index < 4 ? '' : '2'}`, chromeOffer);
      assert.equal(reply.status, 201, reply.body);
      locations.push(new URL(reply.headers.get('location') ?? '', base).toString());
      if (index === 3) {
        const roomFull = await postSdp(`${base}/whip/crowd`, chromeOffer);
        assert.equal(roomFull.status, 503);
        assert.match(roomFull.body, /room crowd is full/);
        assert.equal(await refused('whip', 'room_full'), 1);
      }
    }
    assert.equal(await sessions('whip'), MAX_SESSIONS);
    const full = await postSdp(`${base}/whip/other`, chromeOffer);
    assert.equal(full.status, 503);
    assert.equal(full.headers.get('retry-after'), '5');
    assert.equal(await refused('whip', 'too_many_sessions'), 1);
    // No DELETE: nobody connects, so the connect timeout ends them all.
    await eventually(
      () => censusCounts().transports === baseline.transports,
      'timed out sessions closed',
      CONNECT_TIMEOUT_MS + 5_000,
    );
    assert.equal(await sessions('whip'), 0);
    assert.equal((await request(at(locations, 0), 'DELETE')).status, 404);
    await backToBaseline('after the connect timeouts');
  });

  it('200 garbage POSTs are refused and a good session works after them', async () => {
    const next = mulberry32(7);
    const before = await refusedTotal('whip');
    const lines = chromeOffer.split('\n');
    const bodies = Array.from({ length: 200 }, (_, index) => {
      switch (index % 4) {
        case 0:
          return Buffer.from(
            Array.from({ length: 1 + Math.floor(next() * 2000) }, () => Math.floor(next() * 256)),
          ).toString('latin1');
        case 1:
          return chromeOffer.slice(0, Math.floor(next() * chromeOffer.length));
        case 2:
          return lines.filter(() => next() > 0.3).join('\n');
        default:
          return `v=0\r\n${'a=x\r\n'.repeat(Math.floor(next() * 100))}`;
      }
    });
    const answers = await Promise.all(
      bodies.map((body, index) =>
        index % 10 === 9
          ? request(`${base}/whip/flood`, 'POST', body, { 'content-type': 'text/plain' })
          : postSdp(`${base}/whip/flood`, body),
      ),
    );
    const statuses = new Set(answers.map((answer) => answer.status));
    // Some line drops leave a valid offer: those get sessions (closed below).
    for (const status of statuses)
      assert.ok([201, 400, 415, 503].includes(status), `status ${status}`);
    const created = answers.filter((answer) => answer.status === 201);
    assert.ok(
      created.length < 200 && created.length < answers.length - 150,
      `${created.length} created`,
    );
    await Promise.all(
      created.map((answer) =>
        request(new URL(answer.headers.get('location') ?? '', base).toString(), 'DELETE'),
      ),
    );
    assert.equal(
      (await refusedTotal('whip')) - before,
      answers.length - created.length,
      'every refusal counted',
    );
    await backToBaseline('after the flood');

    const publisher = track(await WhipPublisher.publish(`${base}/whip/after-flood`));
    await publisher.connected();
    const viewer = track(await WhepViewer.watch(`${base}/whep/rooms/after-flood`));
    await viewer.waitFor((got) => got.video.packets > 10, 'video after the flood');
    await viewer.close();
    await publisher.close();
    await backToBaseline('after the good session');
  });

  it('Chromium watches a werift WHIP publisher through WHEP from another origin and decodes frames', async () => {
    const publisher = track(await WhipPublisher.publish(`${base}/whip/browser`));
    await publisher.connected();
    // The page's origin is served by interception, so Chromium takes it for a
    // public one, and Local Network Access would ask the user before letting
    // it reach 127.0.0.1; there is no user here. CORS is still enforced.
    const chromium = await launchChromium({
      timeoutMs: 60_000,
      extraArgs: ['--disable-features=LocalNetworkAccessChecks'],
    });
    const page = await chromium.newPage();
    await servePage(page, base);
    const location = await page.evaluate(
      (url) => (globalThis as unknown as PageApi).watch(url),
      `${base}/whep/rooms/browser`,
    );
    assert.match(location, /\/whep\/session\/[0-9a-f]{32}$/);
    let stats: VideoStats = { framesDecoded: 0, mimeType: '', connectionState: '' };
    const deadline = Date.now() + 15_000;
    while (stats.framesDecoded < 10 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      stats = await page.evaluate(() => (globalThis as unknown as PageApi).videoStats());
    }
    assert.ok(stats.framesDecoded >= 10, JSON.stringify(stats));
    assert.equal(stats.mimeType, 'video/VP8');
    assert.equal(stats.connectionState, 'connected');
    assert.equal(await sessions('whep'), 1);
    assert.equal(await page.evaluate(() => (globalThis as unknown as PageApi).stop()), 200);
    await until(async () => (await sessions('whep')) === 0, 'the page DELETEd its session');

    // A page that closes its PeerConnection and says nothing: its DTLS
    // close_notify ends the session, or, when that datagram does not make it,
    // ICE consent expiring (mediasoup: 30 s) and the grace after it.
    const again = await page.evaluate(
      (url) => (globalThis as unknown as PageApi).watch(url),
      `${base}/whep/rooms/browser`,
    );
    await until(async () => (await sessions('whep')) === 1, 'a second session');
    await page.evaluate(() => (globalThis as unknown as PageApi).vanish());
    await eventually(
      async () => (await sessions('whep')) === 0,
      'the session of the vanished page ended',
      30_000 + CONNECT_TIMEOUT_MS + 5_000,
    );
    assert.equal((await request(new URL(again, base).toString(), 'DELETE')).status, 404);
    await chromium.close();
    await publisher.close();
    await backToBaseline('after the Chromium viewer');
  });
});

/** A werift recvonly offer (audio and video), not connected to anything. */
async function recvOffer(): Promise<string> {
  const { RTCPeerConnection } = await import('werift');
  const pc = new RTCPeerConnection({ iceUseIpv6: false, bundlePolicy: 'max-bundle' });
  try {
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    if (pc.iceGatheringState !== 'complete') {
      await pc.iceGatheringStateChange.watch((state) => state === 'complete', 5_000);
    }
    return pc.localDescription?.sdp ?? '';
  } finally {
    await pc.close();
  }
}

interface VideoStats {
  readonly framesDecoded: number;
  readonly mimeType: string;
  readonly connectionState: string;
}

/** The page's functions (PAGE_SCRIPT), called in page.evaluate callbacks. */
interface PageApi {
  watch(url: string): Promise<string>;
  videoStats(): Promise<VideoStats>;
  stop(): Promise<number>;
  vanish(): void;
}

/**
 * A WHEP client as a page would have it: fetch() POSTs the offer from
 * http://localhost to the signaling node on 127.0.0.1 (another origin, so
 * CORS preflights the POST and the DELETE), and getStats() tells decoding.
 */
const PAGE_SCRIPT = String.raw`
let pc;
let session;
window.watch = async (url) => {
  pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  await pc.setLocalDescription();
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
    setTimeout(resolve, 3000);
  });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp' },
    body: pc.localDescription.sdp,
  });
  const body = await response.text();
  if (response.status !== 201) throw new Error(response.status + ' ' + body);
  session = new URL(response.headers.get('location'), url).toString();
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  return session;
};
window.videoStats = async () => {
  const report = await pc.getStats();
  let framesDecoded = 0;
  let mimeType = '';
  report.forEach((entry) => {
    if (entry.type === 'inbound-rtp' && entry.kind === 'video') {
      framesDecoded = entry.framesDecoded || 0;
      mimeType = report.get(entry.codecId)?.mimeType || '';
    }
  });
  return { framesDecoded, mimeType, connectionState: pc.connectionState };
};
window.vanish = () => pc.close();
window.stop = async () => {
  const response = await fetch(session, { method: 'DELETE' });
  pc.close();
  return response.status;
};
`;

/** Serves PAGE_SCRIPT at LOCAL_ORIGIN and lets the page reach the signaling node only. */
async function servePage(page: Page, signaling: string): Promise<void> {
  await page.setRequestInterception(true);
  page.on('request', (intercepted) => {
    if (intercepted.isInterceptResolutionHandled()) return;
    if (intercepted.url() === LOCAL_ORIGIN) {
      void intercepted.respond({
        status: 200,
        contentType: 'text/html',
        body: `<!doctype html><script>${PAGE_SCRIPT}</script>`,
      });
    } else if (intercepted.url().startsWith(signaling)) {
      void intercepted.continue();
    } else {
      void intercepted.abort('blockedbyclient');
    }
  });
  await page.goto(LOCAL_ORIGIN);
}
