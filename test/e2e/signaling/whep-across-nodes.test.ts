/**
 * WHEP of a room through a signaling node that does not hold it (issue 18,
 * third test), with werift and with Chromium, for both answers a door may
 * give (signaling/CASCADE.md 'Doors'):
 * - sfu-b (httpRedirect on, the default) answers the POST 307 with the
 *   home's URL; the viewer follows it and is served by the home, and B never
 *   holds the room;
 * - sfu-c (signaling.cascade.httpRedirect: false) serves the viewer itself:
 *   it holds the room as a hidden member and the publisher's producer is
 *   piped to it once.
 *
 * Everything real: an in-process control plane with mutual TLS and three
 * `startSignaling` nodes on 127.0.0.51-53 (startSignalingMesh; httpRedirect is
 * per node, which signaling.instances of one `up` cannot express), alice
 * publishing GStreamer's VP8 through werift on sfu-a in a room homed there
 * (GET /placements tells which candidate is), werift WHEP viewers (they
 * follow a 307 themselves) and one headless Chromium whose pages are the
 * demo page of B or C watching `rooms/<room>` through its WHEP form. For B
 * that is the browser following a 307 of a same-origin POST to another
 * origin, with a CORS preflight there: the point Chromium had to show.
 *
 * Werift counts key frames; Chromium's framesDecoded (sampled in the page)
 * must grow. The time from the click to the first decoded frame is printed
 * as a diagnostic, not asserted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { httpUrl } from '../../../src/shared/address.js';
import type { RunningSignaling } from '../../../signaling/index.js';
import { getText } from '../../helpers/http.js';
import { waitFor } from '../../helpers/process.js';
import { startSignalingMesh, wsUrlOf, type SignalingMesh } from '../../helpers/signaling-mesh.js';
import {
  joinRoomHomedOn,
  waitForFullDirectory,
  waitForRoomPlacement,
} from '../../helpers/signaling-mesh-admin.js';
import {
  closeAllChromium,
  launchChromium,
  type ChromiumPeer,
} from '../../helpers/peers/chromium.js';
import {
  DEMO_CHROMIUM_ARGS,
  openDemoPage,
  waitForDemo,
  type DemoSnapshot,
} from '../../helpers/peers/demo-page.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import {
  RtpFanIn,
  WeriftPublisher,
  signalingChannel,
  startFannedVideo,
} from '../../helpers/peers/werift-signaling.js';
import { WhepViewer } from '../../helpers/peers/werift-whip.js';
import { SignalingClient } from '../../helpers/signaling-client.js';

const LOG_LEVEL = process.env['WHEP_ACROSS_TEST_LOG'] ?? 'silent';
const NODES = [
  { id: 'sfu-a', host: '127.0.0.51', rtcPorts: [43610, 43659] as const, httpRedirect: true },
  { id: 'sfu-b', host: '127.0.0.52', rtcPorts: [43660, 43709] as const, httpRedirect: true },
  { id: 'sfu-c', host: '127.0.0.53', rtcPorts: [43710, 43759] as const, httpRedirect: false },
] as const;
/** Room names tried until one is homed on sfu-a (placement hashes the name over three nodes). */
const CANDIDATES = Array.from({ length: 12 }, (_, index) => `whep-across-${index}`);

/**
 * The value of `name` in a node's Prometheus text for the series whose
 * labels include `label` (others, like the registry's role, may be there);
 * 0 when there is none yet.
 */
function metric(text: string, name: string, label: string): number {
  const line = text
    .split('\n')
    .find((entry) => entry.startsWith(`${name}{`) && entry.split('}')[0]?.includes(label));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('WHEP of a room through a node that does not hold it', { timeout: 150_000 }, () => {
  let mesh: SignalingMesh | undefined;
  const clients: SignalingClient[] = [];
  const viewers: WhepViewer[] = [];
  let alice: WeriftPublisher | undefined;
  let source: RtpFanIn | undefined;
  let chromium: ChromiumPeer | undefined;
  let room = '';

  const node = (id: string): RunningSignaling => {
    assert.ok(mesh !== undefined);
    return mesh.node(id);
  };
  const httpBase = (id: string): string => httpUrl(node(id).listen);
  const adminUrl = (): string => {
    assert.ok(mesh !== undefined);
    return mesh.adminUrl;
  };
  const holds = (id: string): boolean =>
    node(id)
      .roomCascade.reports()
      .some((entry) => entry.room === room);
  const pipedIn = (id: string): number | undefined =>
    node(id)
      .roomCascade.stats()
      .find((entry) => entry.room === room)?.pipedIn;
  const metrics = async (id: string): Promise<string> =>
    (await getText(`${httpUrl(node(id).admin)}/metrics`)).text;
  const whepSessions = async (id: string): Promise<number> =>
    metric(await metrics(id), 'streammesh_signaling_whip_whep_sessions', 'endpoint="whep"');
  const whepRedirects = async (id: string): Promise<number> =>
    metric(await metrics(id), 'streammesh_signaling_whip_whep_redirected_total', 'endpoint="whep"');

  const nodeIds = NODES.map((entry) => entry.id);

  before(async () => {
    mesh = await startSignalingMesh({
      prefix: 'whep-across',
      nodes: NODES.map((entry) => ({
        ...entry,
        cascade: `pipeLingerMs: 500, httpRedirect: ${entry.httpRedirect}`,
      })),
      logLevel: LOG_LEVEL,
    });
    // Each node's directory names all three: the doors, and the demo page's
    // connect-src, come from it.
    await waitForFullDirectory(adminUrl(), nodeIds);

    const video = await startFannedVideo({
      codec: 'VP8',
      width: 320,
      height: 240,
      fps: 15,
      bitrateKbps: 300,
      keyframeInterval: 15,
      timeoutMs: 140_000,
    });
    source = video;
    await video.sending();

    // A member joins each candidate room on A; the first homed on A is kept.
    const kept = await joinRoomHomedOn({
      adminUrl: adminUrl(),
      home: 'sfu-a',
      candidates: CANDIDATES,
      peer: 'alice',
      open: async () => {
        const client = await SignalingClient.open(wsUrlOf(node('sfu-a')));
        clients.push(client);
        return client;
      },
    });
    room = kept.room;
    const publisher = await WeriftPublisher.publish(signalingChannel(kept.client));
    alice = publisher;
    video.add((packet) => publisher.writeRtp(packet));
    await waitForRoomPlacement(adminUrl(), nodeIds, room);
    chromium = await launchChromium({ timeoutMs: 140_000, extraArgs: DEMO_CHROMIUM_ARGS });
  });

  after(async () => {
    await closeAllChromium();
    await Promise.all(viewers.map((viewer) => viewer.close().catch(() => undefined)));
    await alice?.close().catch(() => undefined);
    await Promise.all(clients.map((client) => client.close()));
    source?.close();
    await stopAllPeers();
    await mesh?.close();
  });

  /** A werift viewer of alice through `at`: it gets video with key frames; returns it open. */
  const weriftWatches = async (at: string): Promise<WhepViewer> => {
    const viewer = await WhepViewer.watch(`${httpBase(at)}/whep/rooms/${room}/alice`, {
      audio: false,
    });
    viewers.push(viewer);
    await viewer.waitFor(
      (got) => got.video.packets > 10 && got.video.keyframes > 0,
      `WHEP video with key frames through ${at}`,
      15_000,
    );
    return viewer;
  };

  it('werift at B: a 307 to the home, followed; video with key frames; B never holds the room', async () => {
    const viewer = await weriftWatches('sfu-b');
    assert.deepEqual(viewer.redirects, [`${httpBase('sfu-a')}/whep/rooms/${room}/alice`]);
    assert.ok(viewer.location.startsWith(`${httpBase('sfu-a')}/whep/session/`), viewer.location);
    assert.equal(holds('sfu-b'), false, 'B never held the room');
    await viewer.close();
  });

  it('werift at C (httpRedirect off): served there, alice piped in once; video with key frames', async () => {
    const viewer = await weriftWatches('sfu-c');
    assert.deepEqual(viewer.redirects, [], 'no redirect with httpRedirect off');
    assert.ok(viewer.location.startsWith(`${httpBase('sfu-c')}/whep/session/`), viewer.location);
    assert.equal(holds('sfu-c'), true, 'C holds the room for its viewer');
    assert.equal(pipedIn('sfu-c'), 1, 'alice’s producer piped to C once');
    await viewer.close();
    await waitFor(
      () => (holds('sfu-c') ? undefined : true),
      5_000,
      () => 'the room leaves C with its viewer',
    );
  });

  /** The demo page of `at` watching the room through its WHEP form, decoding frames that grow. */
  const chromiumWatches = async (
    at: string,
  ): Promise<{ firstFrameMs: number; close(): Promise<void> }> => {
    assert.ok(chromium !== undefined);
    const owner = `camera:rooms/${room}`;
    const demo = await openDemoPage(
      chromium,
      `${httpBase(at)}/?camera=${encodeURIComponent(`rooms/${room}`)}`,
    );
    const frames = (snapshot: DemoSnapshot): number =>
      snapshot.stats.find(
        (stream) =>
          stream.owner === owner && stream.direction === 'inbound' && stream.kind === 'video',
      )?.frames ?? 0;
    // Input events reach only the tab in front.
    await demo.page.bringToFront();
    const clicked = Date.now();
    await demo.page.click('#watch');
    const first = await waitForDemo(
      demo,
      `Chromium at ${at} decodes the room by WHEP`,
      (snapshot) => snapshot.whep === 'playing' && frames(snapshot) > 0,
      20_000,
    );
    const firstFrameMs = Date.now() - clicked;
    await waitForDemo(
      demo,
      `Chromium at ${at} decodes more frames`,
      (snapshot) => snapshot.whep === 'playing' && frames(snapshot) > frames(first),
      10_000,
    );
    assert.deepEqual(first.errors, [], 'the page shows no error');
    return {
      firstFrameMs,
      close: async () => {
        // Stop, as a user would: the page DELETEs its session.
        await demo.page.bringToFront();
        await demo.page.click('#unwatch');
        await waitForDemo(
          demo,
          `Chromium at ${at} stopped`,
          (snapshot) => snapshot.whep === 'idle',
        );
        await demo.page.close();
      },
    };
  };

  it('Chromium on the demo page of B follows the 307 (cross-origin, preflighted) and decodes', async (t) => {
    const redirectsBefore = await whepRedirects('sfu-b');
    const watching = await chromiumWatches('sfu-b');
    t.diagnostic(`redirect: first frame ${watching.firstFrameMs} ms after the click`);
    assert.equal(await whepRedirects('sfu-b'), redirectsBefore + 1, 'B answered one 307');
    assert.equal(await whepSessions('sfu-a'), 1, 'the session is on the home, A');
    assert.equal(await whepSessions('sfu-b'), 0);
    assert.equal(holds('sfu-b'), false, 'B never held the room');
    await watching.close();
    await waitFor(
      async () => ((await whepSessions('sfu-a')) === 0 ? true : undefined),
      5_000,
      () => 'the page’s session on A ended with the page',
    );
  });

  it('Chromium on the demo page of C (httpRedirect off) is served there, cascaded, and decodes', async (t) => {
    const redirectsBefore = await whepRedirects('sfu-c');
    const watching = await chromiumWatches('sfu-c');
    t.diagnostic(`cascade: first frame ${watching.firstFrameMs} ms after the click`);
    assert.equal(await whepRedirects('sfu-c'), redirectsBefore, 'C redirected nothing');
    assert.equal(await whepSessions('sfu-c'), 1, 'the session is on C');
    assert.equal(holds('sfu-c'), true, 'C holds the room for its viewer');
    assert.equal(pipedIn('sfu-c'), 1, 'alice’s producer piped to C once');
    await watching.close();
    await waitFor(
      () => (holds('sfu-c') ? undefined : true),
      5_000,
      () => 'the room leaves C with the page',
    );
  });
});
