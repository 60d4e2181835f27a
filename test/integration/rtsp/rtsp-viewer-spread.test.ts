/**
 * RTSP UDP viewers spread over the media workers (issue 20, point 3),
 * through a real proxy and control plane in this process (proxy.workers: 2,
 * the demo camera), with real RTSP clients and UDP receivers on 127.0.0.1:
 *
 *   - 6 UDP viewers of one camera land on both workers, 3 each: /streams
 *     names each session's worker and each worker's own count is
 *     streammesh_proxy_worker_rtsp_viewer_tracks (the pairs are open in the
 *     workers, not on main);
 *   - every viewer receives the path's numbering in order with no gap, and
 *     over the window all of them watched, the same packets whichever
 *     worker carries it; sender reports reach them too;
 *   - their RTCP receiver reports reach the session on main: the sessions
 *     (sessionTimeoutSec 5) live only because of them; a viewer whose pair
 *     gets datagrams only from a foreign address (127.0.0.2) is not kept
 *     alive by them: they are dropped (the pair is connected to the client,
 *     so the kernel drops them before any count, on main as in a worker)
 *     and its session times out;
 *   - a viewer flooding its own RTCP port (10,000 datagrams in 0.5 s) costs
 *     nobody a packet (the worker hands main a few a turn);
 *   - a viewer that leaves (TEARDOWN) has its pair closed: both ports can
 *     be bound again;
 *   - a media worker that crashes: its viewers are opened again on its
 *     successor on the same ports and go on from the next keyframe (a gap,
 *     measured; what was sent while the worker was down is counted as
 *     udpLost), and the other worker's viewers lose nothing.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { startProxy, type RunningProxy } from '../../../rtp-proxy/index.js';
import { rtpHeaderLength } from '../../../src/protocol/rtp/index.js';
import { h264StartsKeyframe } from '../../../src/protocol/video/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { parseConfigText } from '../../../src/config/index.js';
import { httpUrl } from '../../../src/shared/address.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import type { NodeView } from '../../helpers/in-process-mesh.js';
import { getJson, getText } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { UdpPeer, sleep } from '../../helpers/udp.js';
import { metric } from '../../helpers/exposition.js';

const WORKERS = 2;
const VIEWERS = 6;
const PROXY_ID = 'proxy-rtsp-spread';

interface SessionView {
  readonly session: string;
  readonly transport: string | null;
  readonly playing: boolean;
  readonly packetsSent: number;
  readonly udpLost: number;
  readonly workers: readonly number[];
}

interface RtspView {
  readonly sessions: readonly SessionView[];
  readonly timedOutSessions: number;
  readonly defects: Record<string, number>;
  readonly viewerSpread: {
    readonly viewerTracks: readonly number[];
    readonly reopened: number;
    readonly reopenFailed: number;
  } | null;
}

/** A control plane and a proxy in this process (as relay/workers.test.ts makes them). */
class SpreadMesh {
  readonly #adminToken = newAdminToken();
  plane: RunningControlPlane | undefined;
  proxy: RunningProxy | undefined;

  static async start(proxyYaml: string): Promise<SpreadMesh> {
    const mesh = new SpreadMesh();
    const grpcPort = await freePort();
    const text = [
      'logLevel: silent',
      'controlPlane:',
      '  admin: 127.0.0.1:0',
      `  grpc: 127.0.0.1:${grpcPort}`,
      '  heartbeatIntervalMs: 200',
      'proxy:',
      `  id: ${PROXY_ID}`,
      '  admin: 127.0.0.1:0',
      ...proxyYaml.split('\n').map((line) => `  ${line}`),
      'signaling:',
      '  admin: 127.0.0.1:0',
      '  listen: 127.0.0.1:0',
    ].join('\n');
    const log = createLogger('test', 'silent');
    mesh.plane = await startControlPlane({
      config: parseConfigText(text, 'control plane'),
      log,
      credentials: AdminCredentials.ofToken(mesh.#adminToken),
      placementGraceMs: 10 * 60_000,
    });
    mesh.proxy = await startProxy(parseConfigText(text, 'proxy'), log);
    await waitFor(
      async () => (((await mesh.#node())?.ackedVersion ?? '') === '' ? undefined : true),
      30_000,
      () => 'the proxy to acknowledge its first config',
    );
    return mesh;
  }

  async #node(): Promise<NodeView | undefined> {
    assert.ok(this.plane);
    const { body } = await getJson<{ nodes: NodeView[] }>(`${httpUrl(this.plane.admin)}/nodes`);
    return body.nodes.find((node) => node.id === PROXY_ID);
  }

  get proxyUrl(): string {
    assert.ok(this.proxy);
    return httpUrl(this.proxy.admin);
  }

  async close(): Promise<void> {
    await this.proxy?.close();
    await this.plane?.close();
  }
}

/** One UDP viewer: its RTSP connection, its RTP and RTCP receivers, and what the proxy answered. */
class Viewer {
  readonly client: RtspTestClient;
  readonly rtp: UdpPeer;
  readonly rtcp: UdpPeer;
  readonly session: string;
  readonly serverPort: number;
  #reports: NodeJS.Timeout | undefined;

  private constructor(
    client: RtspTestClient,
    pair: [UdpPeer, UdpPeer],
    session: string,
    serverPort: number,
  ) {
    this.client = client;
    [this.rtp, this.rtcp] = pair;
    this.session = session;
    this.serverPort = serverPort;
  }

  /** DESCRIBE, SETUP (UDP) and, when `play`, PLAY; RTCP receiver reports every second when `report`. */
  static async watch(url: string, port: number, play = true, report = true): Promise<Viewer> {
    const client = await RtspTestClient.connect(port);
    const described = await client.request('DESCRIBE', url, { Accept: 'application/sdp' });
    assert.equal(described?.status, 200);
    const pair = await UdpPeer.bindPair();
    const setup = await client.request('SETUP', `${url}/trackID=0`, {
      Transport: `RTP/AVP;unicast;client_port=${pair[0].port}-${pair[1].port}`,
    });
    assert.equal(setup?.status, 200, setup?.headers.get('X-Streammesh-Reason') ?? '');
    const session = (setup.headers.get('Session') ?? '').split(';')[0] ?? '';
    const serverPort = Number(/server_port=(\d+)/.exec(setup.headers.get('Transport') ?? '')?.[1]);
    assert.ok(session !== '' && serverPort > 0);
    const viewer = new Viewer(client, pair, session, serverPort);
    if (play) {
      const played = await client.request('PLAY', url, { Session: session });
      assert.equal(played?.status, 200);
    }
    if (report) viewer.#startReports();
    return viewer;
  }

  /** An RTCP receiver report (empty) to the proxy's RTCP port, every second: a sign of life. */
  #startReports(): void {
    const rr = Buffer.from([0x80, 201, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78]);
    this.#reports = setInterval(() => {
      this.rtcp.socket.send(rr, this.serverPort + 1, '127.0.0.1');
    }, 1000);
  }

  sequences(): number[] {
    return this.rtp.received.map(({ packet }) => packet.readUInt16BE(2));
  }

  senderReports(): number {
    return this.rtcp.received.filter(({ packet }) => packet[1] === 200).length;
  }

  close(): void {
    clearInterval(this.#reports);
    this.client.close();
    this.rtp.close();
    this.rtcp.close();
  }
}

/** Sequence numbers unwrapped around `base` (a window far shorter than 32768 packets). */
function unwrap(sequences: readonly number[], base: number): number[] {
  return sequences.map((s) => base + ((((s - base + 32768) & 0xffff) - 32768) | 0));
}

/** Where a viewer's numbering jumps (each step must be +1). */
function gaps(sequences: readonly number[]): { at: number; step: number }[] {
  const found: { at: number; step: number }[] = [];
  for (let i = 1; i < sequences.length; i += 1) {
    const step = ((sequences[i] ?? 0) - (sequences[i - 1] ?? 0) + 0x10000) & 0xffff;
    if (step !== 1) found.push({ at: i, step });
  }
  return found;
}

/** Whether both ports of the pair at `port` can be bound (nobody holds them). */
async function pairBindable(port: number): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([UdpPeer.bind(port), UdpPeer.bind(port + 1)]);
    a.close();
    b.close();
    return true;
  } catch {
    return false;
  }
}

describe('RTSP UDP viewers spread over 2 media workers', { timeout: 180_000 }, () => {
  let mesh: SpreadMesh;
  let rtspPort: number;
  let url: string;
  const viewers: Viewer[] = [];
  const rtsp = async (): Promise<RtspView> =>
    (await getJson<{ rtsp: RtspView }>(`${mesh.proxyUrl}/streams`)).body.rtsp;
  const sessionOf = async (viewer: Viewer): Promise<SessionView | undefined> =>
    (await rtsp()).sessions.find((s) => s.session === viewer.session);
  const workerOf = async (viewer: Viewer): Promise<number> => {
    const found = await sessionOf(viewer);
    assert.ok(found, `session ${viewer.session} in /streams`);
    assert.equal(found.workers.length, 1, `session ${viewer.session} on one worker`);
    return found.workers[0] ?? -1;
  };
  const onWorker = async (worker: number): Promise<Viewer[]> => {
    const found: Viewer[] = [];
    for (const viewer of viewers) if ((await workerOf(viewer)) === worker) found.push(viewer);
    return found;
  };

  before(async () => {
    rtspPort = await freePort();
    const rtpStart = 2 * (21_000 + Math.floor(Math.random() * 2_000));
    mesh = await SpreadMesh.start(
      [
        `workers: ${WORKERS}`,
        'mediaAddress: 127.0.0.1',
        `rtpPorts: { start: ${rtpStart}, end: ${rtpStart + 199} }`,
        `rtsp: { listen: 127.0.0.1:${rtspPort}, demo: true, sessionTimeoutSec: 5 }`,
      ].join('\n'),
    );
    url = `rtsp://127.0.0.1:${rtspPort}/demo`;
    for (let i = 0; i < VIEWERS; i += 1) viewers.push(await Viewer.watch(url, rtspPort));
  });

  after(async () => {
    for (const viewer of viewers) viewer.close();
    await mesh.close();
  });

  it('puts the viewers on both workers, 3 each, as the workers count them', async () => {
    assert.equal(mesh.proxy?.relay.workers, WORKERS);
    const placed = await Promise.all(viewers.map((viewer) => workerOf(viewer)));
    assert.deepEqual(
      [placed.filter((w) => w === 0).length, placed.filter((w) => w === 1).length],
      [3, 3],
      `workers of the viewers: ${placed.join(',')}`,
    );
    assert.deepEqual((await rtsp()).viewerSpread?.viewerTracks, [3, 3]);
    // The workers' own count: the pairs are open there.
    await waitFor(async () => {
      const { text } = await getText(`${mesh.proxyUrl}/metrics`);
      const counts = [0, 1].map((worker) =>
        metric(text, 'streammesh_proxy_worker_rtsp_viewer_tracks', { worker: String(worker) }),
      );
      return counts[0] === 3 && counts[1] === 3 ? true : undefined;
    }, 5_000);
  });

  it('every viewer gets the stream in order, no gap, the same packets on either worker', async () => {
    await waitFor(
      () => (viewers.every((viewer) => viewer.rtp.received.length >= 100) ? true : undefined),
      20_000,
      () => `100 packets each: ${viewers.map((v) => v.rtp.received.length).join(',')}`,
    );
    await sleep(6_000); // past the session timeout: RTCP from the viewers kept the sessions
    const sequences = viewers.map((viewer) => viewer.sequences());
    for (const [index, list] of sequences.entries()) {
      assert.deepEqual(gaps(list), [], `viewer ${index}: numbering continuous and in order`);
    }
    // Over the window every viewer watched, each got exactly the same packets.
    const base = sequences[0]?.[0] ?? 0;
    const unwrapped = sequences.map((list) => unwrap(list, base));
    const from = Math.max(...unwrapped.map((list) => list[0] ?? 0));
    const to = Math.min(...unwrapped.map((list) => list.at(-1) ?? 0));
    assert.ok(to - from > 200, `a common window of ${to - from} packets`);
    const counts = unwrapped.map((list) => list.filter((s) => s >= from && s <= to).length);
    assert.deepEqual(
      counts,
      counts.map(() => to - from + 1),
    );
    for (const viewer of viewers) assert.ok(viewer.senderReports() >= 1, 'a sender report each');
    const view = await rtsp();
    assert.equal(view.timedOutSessions, 0);
    assert.equal(view.sessions.filter((s) => s.playing).length, VIEWERS);
  });

  it('drops datagrams from a foreign address to a viewer pair; they keep no session alive', async () => {
    const stranger = await Viewer.watch(url, rtspPort, false, false);
    const foreign = createSocket('udp4');
    await new Promise<void>((resolve) => foreign.bind(0, '127.0.0.2', resolve));
    const before = await rtsp();
    const flood = setInterval(() => {
      for (const port of [stranger.serverPort, stranger.serverPort + 1]) {
        foreign.send(Buffer.from([0x80, 201, 0, 1, 1, 2, 3, 4]), port, '127.0.0.1');
      }
    }, 200);
    try {
      // Its session ends by its timeout (5 s) whatever the stranger sends.
      await waitFor(
        async () => ((await sessionOf(stranger)) === undefined ? true : undefined),
        12_000,
        () => 'the stranger-fed session to time out',
      );
    } finally {
      clearInterval(flood);
      foreign.close();
      stranger.close();
    }
    const now = await rtsp();
    assert.equal(now.timedOutSessions, before.timedOutSessions + 1);
    // The others, whose RTCP arrives, live on.
    assert.equal(now.sessions.filter((s) => s.playing).length, VIEWERS);
    await waitFor(
      async () => ((await pairBindable(stranger.serverPort)) ? true : undefined),
      5_000,
    );
  });

  it('carries on when a viewer floods its own RTCP port: nobody loses a packet', async () => {
    const flooder = viewers[0];
    assert.ok(flooder);
    const rr = Buffer.from([0x80, 201, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78]);
    for (let burst = 0; burst < 20; burst += 1) {
      for (let i = 0; i < 500; i += 1) {
        flooder.rtcp.socket.send(rr, flooder.serverPort + 1, '127.0.0.1');
      }
      await sleep(25);
    }
    await sleep(1_000);
    for (const [index, viewer] of viewers.entries()) {
      assert.deepEqual(gaps(viewer.sequences()), [], `viewer ${index}: no gap`);
    }
    assert.equal((await rtsp()).sessions.filter((s) => s.playing).length, VIEWERS);
  });

  it('closes the pair of a viewer that leaves: its ports can be bound again', async () => {
    const leaving = viewers.pop();
    assert.ok(leaving);
    const worker = await workerOf(leaving);
    assert.equal(await pairBindable(leaving.serverPort), false, 'held while watching');
    const torn = await leaving.client.request('TEARDOWN', url, { Session: leaving.session });
    assert.equal(torn?.status, 200);
    leaving.close();
    await waitFor(
      async () => ((await pairBindable(leaving.serverPort)) ? true : undefined),
      5_000,
      () => `ports ${leaving.serverPort}-${leaving.serverPort + 1} free`,
    );
    await waitFor(async () => {
      const { text } = await getText(`${mesh.proxyUrl}/metrics`);
      return metric(text, 'streammesh_proxy_worker_rtsp_viewer_tracks', {
        worker: String(worker),
      }) === 2
        ? true
        : undefined;
    }, 5_000);
  });

  it('reopens a crashed worker’s viewers on its successor on the same ports; the other worker’s lose nothing', async () => {
    const relay = mesh.proxy?.relay;
    assert.ok(relay);
    const crashed = 0;
    const hit = await onWorker(crashed);
    const spared = await onWorker(1 - crashed);
    assert.ok(hit.length > 0 && spared.length > 0);
    const before = (await rtsp()).viewerSpread?.reopened ?? 0;
    const mark = viewers.map((viewer) => viewer.rtp.received.length);

    const crashedAt = performance.now();
    await relay.testHooks.crash(crashed);
    await waitFor(
      async () =>
        ((await rtsp()).viewerSpread?.reopened ?? 0) >= before + hit.length ? true : undefined,
      20_000,
      () => 'the crashed worker’s viewers reopened',
    );
    const reopenedMs = Math.round(performance.now() - crashedAt);
    // They receive again, on the same ports (their server ports did not change).
    const resumed = hit.map((viewer) => viewer.rtp.received.length);
    await waitFor(
      () =>
        hit.every((viewer, i) => viewer.rtp.received.length > (resumed[i] ?? 0) + 50)
          ? true
          : undefined,
      15_000,
      () => 'packets after the reopen',
    );
    for (const viewer of hit) assert.equal(await workerOf(viewer), crashed);
    // The other worker's viewers: not one packet missing across the crash.
    for (const viewer of spared) {
      assert.deepEqual(gaps(viewer.sequences()), [], 'a spared viewer has no gap');
    }
    // The crashed worker's viewers: one gap each (the restart, then the wait
    // for a keyframe so that their decoders restart clean), then in order again.
    const lostInGap = hit.map((viewer) => {
      // From the last packet before the crash.
      const from = Math.max(0, (mark[viewers.indexOf(viewer)] ?? 0) - 1);
      const found = gaps(viewer.sequences().slice(from));
      assert.ok(found.length <= 1, `one gap at most: ${JSON.stringify(found)}`);
      const [gap] = found;
      if (gap !== undefined) {
        const first = viewer.rtp.received[from + gap.at]?.packet;
        assert.ok(first, 'a packet after the gap');
        assert.ok(
          h264StartsKeyframe(first.subarray(rtpHeaderLength(first))),
          'it resumes at a keyframe',
        );
      }
      return found.reduce((sum, { step }) => sum + step - 1, 0);
    });
    const sessions = await Promise.all(hit.map((viewer) => sessionOf(viewer)));
    const counted = sessions.map((s) => s?.udpLost ?? -1);
    console.log(
      `worker ${crashed} crashed: its ${hit.length} viewers reopened ${reopenedMs} ms after the crash; ` +
        `packets lost in the gap ${lostInGap.join(',')} (counted as udpLost ${counted.join(',')}); ` +
        `the ${spared.length} viewers of worker ${1 - crashed}: none lost`,
    );
    // What the path sent them while their worker was known to be down is
    // counted as udpLost; what the dying thread had not sent yet cannot be;
    // what they skipped waiting for the keyframe is the path's waiting_keyframe.
    counted.forEach((lost, i) => {
      assert.ok(lost >= 0 && lost <= (lostInGap[i] ?? 0), `udpLost ${lost} of ${lostInGap[i]}`);
    });
    assert.equal((await rtsp()).viewerSpread?.reopenFailed, 0);
    const { text } = await getText(`${mesh.proxyUrl}/metrics`);
    assert.equal(
      metric(text, 'streammesh_proxy_rtsp_viewer_reopens_total', { result: 'reopened' }),
      hit.length,
    );
    assert.equal((await rtsp()).timedOutSessions, 1); // the stranger's only
  });
});
