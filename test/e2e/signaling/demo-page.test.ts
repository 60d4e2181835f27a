/**
 * The demo page served by the signaling listener: the static route (page,
 * bundle, caching, no traversal), then two headless Chromium tabs that load
 * it over HTTP, join one room through its form with their fake cameras (one
 * with a display name of HTML markup, shown as text by the other), and
 * each decode the other's video through the mediasoup SFU, showing the
 * other by display name (tile and stats), never by peer id; one tab closing
 * is a peerLeft for the other, a killed worker a re-join, and the mediasoup
 * census ends where it started. A third tab, a first-time user with a guest
 * name, sees the getting-started box, and a full room and an over-long name
 * refused in the error area in the server's words, which the next successful
 * join clears.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { formatHostPort } from '../../../src/shared/address.js';
import { demoRoute } from '../../../signaling/demo/index.js';
import { SignalingServer } from '../../../signaling/server/index.js';
import {
  WorkerPool,
  censusCounts,
  installCensus,
  type CensusCounts,
} from '../../../signaling/sfu/index.js';
import { at } from '../../helpers/defined.js';
import { SignalingClient, until } from '../../helpers/signaling-client.js';
import {
  closeAllChromium,
  launchChromium,
  requireChromium,
  type ChromiumPeer,
} from '../../helpers/peers/chromium.js';
import {
  DEMO_CHROMIUM_ARGS,
  clickJoin,
  errorArea,
  fillInput,
  inboundVideo,
  localCaption,
  openDemoPage,
  peerTile,
  statsOwners,
  textOf,
  waitForDemo,
  type DemoPage,
  type DemoSnapshot,
} from '../../helpers/peers/demo-page.js';

const log = pino({ level: 'silent' });
const TIMEOUT_MS = 5_000;

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request with `path` sent as is (fetch would resolve the dots of a traversal first). */
function rawRequest(
  base: string,
  path: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: url.hostname, port: url.port, path, method, headers, timeout: TIMEOUT_MS },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        response.on('error', reject);
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${path} timed out`)));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** The census less `baseline`, field by field. */
function censusAbove(baseline: CensusCounts): CensusCounts {
  const now = censusCounts();
  return {
    workers: now.workers - baseline.workers,
    routers: now.routers - baseline.routers,
    transports: now.transports - baseline.transports,
    producers: now.producers - baseline.producers,
    consumers: now.consumers - baseline.consumers,
  };
}

/**
 * Bob's display name comes from another user, so it is hostile markup: the
 * tile must show it as text (were it parsed as HTML, its caption's text
 * would lose the tag).
 */
const BOB_NAME = '<img src=x onerror="document.title=1">bob';

const NOTHING: CensusCounts = { workers: 0, routers: 0, transports: 0, producers: 0, consumers: 0 };
/** Two peers in one room: two transports, two producers (camera, microphone) and two consumers each. */
const IN_CALL: CensusCounts = { ...NOTHING, routers: 1, transports: 4, producers: 4, consumers: 4 };

describe('demo page', { timeout: 120_000 }, () => {
  let pool: WorkerPool;
  let server: SignalingServer;
  let base: string;
  let baseline: CensusCounts;

  before(async () => {
    installCensus();
    pool = await WorkerPool.create({
      size: 1,
      rtcMinPort: 47000,
      rtcMaxPort: 47999,
      log,
      restartBackoff: { baseMs: 50, maxMs: 200 },
    });
    baseline = censusCounts();
    server = await SignalingServer.start({
      listen: { host: '127.0.0.1', port: 0 },
      pool,
      maxPeersPerRoom: 4,
      rtc: { listenIp: '127.0.0.1' },
      peerLimits: { transports: 4, producers: 4, consumers: 20, incomingBitrate: 10_000_000 },
      log,
      metrics: new Registry(),
      routes: () => [demoRoute()],
    });
    base = `http://${formatHostPort(server.address)}`;
  });

  after(async () => {
    await closeAllChromium();
    await server.close();
    await pool.close();
  });

  describe('static route', () => {
    let page: RawResponse;
    let bundlePath: string;

    before(async () => {
      page = await rawRequest(base, '/');
      bundlePath = /<script type="module" src="([^"]+)"/.exec(page.body)?.[1] ?? '';
    });

    it('serves the page at / as HTML that the browser revalidates', () => {
      assert.equal(page.status, 200);
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(page.headers['cache-control'], 'no-cache');
      assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
      assert.match(bundlePath, /^\/demo\/app-[A-Z0-9]+\.js$/);
    });

    it('serves the hashed bundle and stylesheet as immutable', async () => {
      const bundle = await rawRequest(base, bundlePath);
      assert.equal(bundle.status, 200);
      assert.equal(bundle.headers['content-type'], 'application/javascript; charset=utf-8');
      assert.equal(bundle.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.ok(bundle.body.length > 10_000, `a bundle of ${bundle.body.length} bytes`);
      // mediasoup-client is in it: its handler for Chrome's unified plan.
      assert.match(bundle.body, /Chrome111/);
      const stylePath = /<link rel="stylesheet" href="([^"]+)"/.exec(page.body)?.[1] ?? '';
      const style = await rawRequest(base, stylePath);
      assert.equal(style.status, 200);
      assert.equal(style.headers['content-type'], 'text/css; charset=utf-8');
    });

    it('answers 304 to a matching If-None-Match, and HEAD without a body', async () => {
      const etag = String(page.headers['etag']);
      assert.equal((await rawRequest(base, '/', 'GET', { 'if-none-match': etag })).status, 304);
      const head = await rawRequest(base, bundlePath, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.ok(Number(head.headers['content-length']) > 10_000);
    });

    it('serves nothing outside the built page: traversal and unknown paths are 404', async () => {
      for (const path of [
        '/demo/../../package.json',
        '/demo/..%2f..%2fpackage.json',
        '/demo/%2e%2e/%2e%2e/package.json',
        '/demo/../signaling/demo/route.js',
        '/demo/',
        '/demo/index.html',
        '/demo/nope.js',
        '/index.html',
        '/nope',
        '/../package.json',
      ]) {
        const response = await rawRequest(base, path);
        assert.equal(response.status, 404, `${path}: ${response.status}`);
        assert.doesNotMatch(response.body, /streammesh|"name"/, path);
      }
    });

    it('refuses methods other than GET and HEAD', async () => {
      const response = await rawRequest(base, '/', 'POST');
      assert.equal(response.status, 405);
      assert.equal(response.headers['allow'], 'GET, HEAD');
    });
  });

  describe('two Chromium pages in one room', () => {
    let chromium: ChromiumPeer;
    let alice: DemoPage;
    let bob: DemoPage;
    let alicePeer: string;
    let bobPeer: string;

    before(async () => {
      requireChromium();
      chromium = await launchChromium({ timeoutMs: 110_000, extraArgs: DEMO_CHROMIUM_ARGS });
      alice = await openDemoPage(chromium, `${base}/?room=t1&name=alice`);
      bob = await openDemoPage(chromium, `${base}/?room=t1&name=${encodeURIComponent(BOB_NAME)}`);
    });

    /** Both pages decode the other's video with little loss and show bitrate and RTT. */
    const bothDecoding = async (): Promise<[DemoSnapshot, DemoSnapshot]> => {
      const decoding = (other: string) => (snapshot: DemoSnapshot) => {
        const video = inboundVideo(snapshot, other);
        return (
          video !== undefined &&
          (video.frames ?? 0) > 0 &&
          video.bitrateBps > 0 &&
          video.roundTripTimeMs !== null
        );
      };
      return Promise.all([
        waitForDemo(alice, `alice decodes ${bobPeer}`, decoding(bobPeer), 30_000),
        waitForDemo(bob, `bob decodes ${alicePeer}`, decoding(alicePeer), 30_000),
      ]);
    };

    it('both join through the form and each decodes the other', async () => {
      await clickJoin(alice);
      await clickJoin(bob);
      const [aliceJoined, bobJoined] = await Promise.all([
        waitForDemo(alice, 'alice joined', (s) => s.joined && s.peers.length === 1),
        waitForDemo(bob, 'bob joined', (s) => s.joined && s.peers.length === 1),
      ]);
      alicePeer = aliceJoined.peer ?? '';
      bobPeer = bobJoined.peer ?? '';
      assert.equal(aliceJoined.room, 't1');
      assert.deepEqual(aliceJoined.peers, [bobPeer]);
      assert.deepEqual(bobJoined.peers, [alicePeer]);

      const snapshots = await bothDecoding();
      for (const [snapshot, other] of [
        [snapshots[0], bobPeer],
        [snapshots[1], alicePeer],
      ] as const) {
        const video = inboundVideo(snapshot, other);
        assert.ok(video !== undefined);
        assert.ok(video.lossRatio <= 0.02, `loss ${JSON.stringify(video)}`);
        assert.ok(video.frameWidth !== null && video.frameWidth > 0, JSON.stringify(video));
        assert.ok(video.roundTripTimeMs !== null && video.roundTripTimeMs >= 0);
        assert.ok(video.jitterMs !== null, JSON.stringify(video));
        // What it sends, and the other's audio, are sampled as well.
        const sent = snapshot.stats.filter((stream) => stream.owner === 'me');
        assert.deepEqual(sent.map((stream) => stream.kind).sort(), ['audio', 'video']);
        assert.ok(
          snapshot.stats.some(
            (stream) => stream.owner === other && stream.kind === 'audio' && stream.packets > 0,
          ),
          JSON.stringify(snapshot.stats),
        );
      }

      // Each tile is captioned with the other's display name (as text, not
      // the peer id), and its video element plays.
      const bobTile = await peerTile(alice.page, bobPeer);
      assert.ok(bobTile !== null, `alice shows no tile for ${bobPeer}`);
      assert.equal(bobTile.caption, BOB_NAME);
      assert.ok(bobTile.videoWidth > 0, JSON.stringify(bobTile));
      assert.equal((await peerTile(bob.page, alicePeer))?.caption, 'alice');
      // Each knows the name the other sees, and shows it on its own tile.
      assert.deepEqual(
        snapshots.map((snapshot) => snapshot.displayName),
        ['alice', BOB_NAME],
      );
      assert.equal(await localCaption(alice.page), 'alice (me)');
      assert.equal(await localCaption(bob.page), `${BOB_NAME} (me)`);
      // The stats table names whose stream it is the same way.
      const aliceRows = await statsOwners(alice.page);
      assert.ok(aliceRows.includes(`⇣ ${BOB_NAME}`), JSON.stringify(aliceRows));
      assert.ok(!aliceRows.some((row) => row.includes(bobPeer)), JSON.stringify(aliceRows));
      assert.ok((await statsOwners(bob.page)).includes('⇣ alice'));
      // Nothing went wrong, so the error area is hidden.
      assert.deepEqual(await errorArea(alice.page), { visible: false, lines: [] });
      assert.deepEqual(snapshots[0].errors, []);

      assert.deepEqual(censusAbove(baseline), IN_CALL);
    });

    it("rejoins after the room's worker dies and decodes again", async () => {
      const victim = at(pool.workers, 0);
      const before = (await waitForDemo(alice, 'alice joined', (s) => s.joined)).events.length;
      process.kill(victim.pid, 'SIGKILL');
      const rejoined = await Promise.all(
        [alice, bob].map((demo) =>
          waitForDemo(
            demo,
            'a reconnect and a new join',
            (s) => {
              const recent = s.events.slice(before);
              const reconnect = recent.findIndex((event) => event.name === 'reconnect');
              return (
                s.joined &&
                reconnect >= 0 &&
                recent.slice(reconnect).some((event) => event.name === 'joined')
              );
            },
            15_000,
          ),
        ),
      );
      // The same names again: the other's tile and stats carry on under it.
      assert.deepEqual(
        rejoined.map((snapshot) => snapshot.peer),
        [alicePeer, bobPeer],
      );
      await bothDecoding();
      await until(
        () => censusAbove(baseline).consumers === 4,
        'the new room has 4 consumers again',
      );
      assert.deepEqual(censusAbove(baseline), IN_CALL);
    });

    it('a closed page is a peerLeft for the other, and leaves nothing behind', async () => {
      await bob.page.close();
      const left = await waitForDemo(
        alice,
        `alice sees ${bobPeer} leave`,
        (s) => s.peers.length === 0 && inboundVideo(s, bobPeer) === undefined,
      );
      assert.ok(
        left.events.some((event) => event.name === 'peerLeft' && event.peer === bobPeer),
        JSON.stringify(left.events),
      );
      assert.equal(await peerTile(alice.page, bobPeer), null);
      await until(() => censusAbove(baseline).consumers === 0, "bob's consumers closed");
      assert.deepEqual(censusAbove(baseline), {
        ...NOTHING,
        routers: 1,
        transports: 2,
        producers: 2,
      });

      await alice.page.close();
      await until(
        () => JSON.stringify(censusAbove(baseline)) === JSON.stringify(NOTHING),
        'the census is back at its baseline',
      );
      assert.equal(server.connections, 0);
    });

    it('a first-time user: a guest name, getting started, refusals in the error area', async () => {
      // The room is full: four peers (plain WebSocket clients) hold every place.
      const holders = await Promise.all(
        Array.from({ length: 4 }, () => SignalingClient.open(`${base.replace('http', 'ws')}/ws`)),
      );
      try {
        for (const [index, holder] of holders.entries()) {
          const joined = await holder.request('join', { room: 'full', displayName: `h${index}` });
          assert.equal(joined.ok, true, JSON.stringify(joined));
        }
        const carol = await openDemoPage(chromium, `${base}/?room=full`);
        const start = await carol.page.evaluate(() => {
          const document = (
            globalThis as unknown as {
              document: {
                getElementById(id: string): {
                  value?: string;
                  open?: boolean;
                  href?: string;
                } | null;
              };
            }
          ).document;
          return {
            name: document.getElementById('name')?.value ?? '',
            open: document.getElementById('getting-started')?.open ?? false,
            secondTab: document.getElementById('second-tab')?.href ?? '',
          };
        });
        assert.match(start.name, /^guest-[1-9]\d{3}$/);
        assert.equal(start.open, true, 'getting started is open on a first visit');
        // The second-tab link opens the same room under a name of its own.
        assert.equal(start.secondTab, `${base}/?room=full`);

        await clickJoin(carol);
        const refused = await waitForDemo(
          carol,
          'the full room refused',
          (s) => s.errors.length > 0,
        );
        assert.equal(refused.joined, false);
        const full = await errorArea(carol.page);
        assert.equal(full.visible, true);
        assert.equal(full.lines.length, 1, JSON.stringify(full.lines));
        assert.match(
          at(full.lines, 0),
          /^Could not join room “full”: room full is full \(4 peers\) \(limit_exceeded\)/,
        );
        assert.deepEqual(refused.errors, full.lines);
        // The status line says where the page is, not what went wrong.
        assert.equal(await textOf(carol.page, '#status'), 'Not in a room.');

        // A name the server refuses (the field's maxlength bypassed, as a
        // hostile client would): the line is replaced, in the server's words.
        await fillInput(carol, 'room', 'roomy');
        await fillInput(carol, 'name', 'x'.repeat(65));
        await clickJoin(carol);
        const badName = await waitForDemo(carol, 'the long name refused', (s) =>
          s.errors.some((line) => line.includes('displayName')),
        );
        assert.deepEqual(badName.errors, [
          'Could not join room “roomy”: displayName: must be at most 64 characters (bad_message) — check the room name and your name',
        ]);

        // A join that works clears the area.
        await fillInput(carol, 'name', '  carol\u202E ');
        await clickJoin(carol);
        const joined = await waitForDemo(carol, 'carol joined', (s) => s.joined);
        assert.deepEqual(joined.errors, []);
        assert.deepEqual(await errorArea(carol.page), { visible: false, lines: [] });
        // The name as the server cleaned it is the one shown.
        assert.equal(joined.displayName, 'carol');
        assert.equal(await localCaption(carol.page), 'carol (me)');
        await carol.page.close();
      } finally {
        await Promise.all(holders.map((holder) => holder.close()));
      }
      await until(() => server.connections === 0, 'every connection closed');
    });
  });
});
