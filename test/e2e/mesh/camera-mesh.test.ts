/**
 * The camera mesh with real processes, as across machines: a control plane,
 * five `streammesh proxy` processes on their own loopback addresses
 * (127.0.0.11-15, the same RTSP port) and GStreamer's RTSP server as the
 * camera, which prints each RTSP session it creates.
 *
 * - Viewers decode the camera through every proxy: the camera sees one
 *   session; the owner sends one hop per edge (not per viewer).
 * - The control plane's /streams/cam1/hops shows camera -> owner -> edges ->
 *   viewers with figures per hop.
 * - The control plane SIGKILLed and started again under live viewers: no
 *   packet missing at the edges' viewers, the same placements after.
 * - `streammesh drain <owner>`: the camera moves to another proxy with no
 *   gap and no hole in the numbering at the edges' viewers; the drained
 *   proxy is not ready and refuses a new viewer with 503, its own viewer
 *   plays on.
 * - SIGTERM on the (new) owner: the same handover, then the proxy exits by
 *   itself once it holds nothing.
 * - The owner SIGKILLed under live edge viewers: the camera is placed on a
 *   live proxy, which pulls it, the edges take the new hop, and their
 *   viewers go on with the same SSRC and no hole in the numbering; the gap
 *   they saw is measured and reported.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, tryGetJson, waitReady } from '../../helpers/http.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { freePort } from '../../helpers/ports.js';
import { runStreammesh, startStreammesh, waitFor, type Running } from '../../helpers/process.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { startRtspCamera, type RtspCamera } from '../../helpers/peers/rtsp-camera.js';
import { decodeRtsp, gstRtspViewer } from '../../helpers/peers/rtsp-viewers.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import { RtspSequenceViewer } from '../../helpers/rtsp-sequence-viewer.js';
import type { PlacementsView } from '../../../src/control-plane/placement/index.js';

after(stopAllPeers);

// Five: a drained proxy stays drained, a SIGTERMed one goes, and the
// failover at the end still needs an owner and an edge besides the killed one.
const PROXIES = [
  { id: 'proxy-a', host: '127.0.0.11' },
  { id: 'proxy-b', host: '127.0.0.12' },
  { id: 'proxy-c', host: '127.0.0.13' },
  { id: 'proxy-d', host: '127.0.0.14' },
  { id: 'proxy-e', host: '127.0.0.15' },
] as const;
const SESSION = 'camera/cam1';

interface ProxyProcess {
  readonly id: string;
  readonly host: string;
  readonly running: Running;
  readonly url: string;
}

interface HopsView {
  readonly sending: readonly {
    readonly hopId: string;
    readonly peer: string;
    readonly rtpPackets: number;
  }[];
  readonly receiving: readonly {
    readonly session: string;
    readonly active: string | null;
    readonly drops: Record<string, number>;
  }[];
}

interface StreamHopsView {
  readonly owner: string;
  readonly hops: readonly {
    readonly from: string;
    readonly to: string;
    readonly kind: string;
    readonly lossFraction?: number;
    readonly jitterMs?: number;
    readonly packets?: number;
    readonly viewers?: number;
  }[];
}

function configText(ports: { admin: number; grpc: number; rtsp: number }, camera: string): string {
  return [
    'logLevel: info',
    'controlPlane:',
    `  admin: 127.0.0.1:${ports.admin}`,
    `  grpc: 127.0.0.1:${ports.grpc}`,
    '  heartbeatIntervalMs: 200',
    '  staleAfterMissedHeartbeats: 3',
    // Rotations under the running stream, every 2 s (default an hour).
    '  hopKeyRotationSec: 2',
    'proxy:',
    '  admin: 127.0.0.1:0',
    '  drainTimeoutSec: 20',
    '  rtsp:',
    `    listen: 127.0.0.1:${ports.rtsp}`,
    '    demo: false',
    '    paths:',
    `      cam1: { source: "${camera}", transport: tcp }`,
    'signaling:',
    '  admin: 127.0.0.1:0',
    '  listen: 127.0.0.1:0',
  ].join('\n');
}

/**
 * A handover the viewers did not see: one SSRC, no hole in the numbering,
 * no silence of 500 ms in [from, to). Returns the longest silences (ms).
 */
function noGapAt(viewers: readonly RtspSequenceViewer[], from: number, to: number): string {
  for (const viewer of viewers) {
    assert.equal(viewer.ssrcs().size, 1);
    assert.equal(
      viewer.missing(from, to),
      0,
      `no packet missing: ${viewer.holes(from, to).join('; ')}`,
    );
    assert.ok(
      viewer.longestSilenceMs(from, to) < 500,
      `gap ${viewer.longestSilenceMs(from, to)} ms`,
    );
  }
  return viewers.map((viewer) => Math.round(viewer.longestSilenceMs(from, to))).join(', ');
}

describe('camera mesh across processes', () => {
  const token = newAdminToken();
  const env = { STREAMMESH_ADMIN_TOKEN: token };
  const proxies = new Map<string, ProxyProcess>();
  const drainedProxies: ProxyProcess[] = [];
  const viewers: RtspSequenceViewer[] = [];
  let camera: RtspCamera | undefined;
  let controlPlane: Running | undefined;
  let configFile = '';
  let planeUrl = '';
  let rtspPort = 0;

  const startPlane = async (): Promise<void> => {
    controlPlane = startStreammesh(['control-plane', '--config', configFile], env);
    await waitReady(planeUrl, () => controlPlane?.stderr() ?? '');
  };

  /** The camera's owner, once the control plane has placed it and is not restoring. */
  const owner = async (unlike?: string): Promise<string> =>
    waitFor(
      async () => {
        const view = await tryGetJson<PlacementsView>(`${planeUrl}/placements`);
        if (view === undefined || view.body.restoring) return undefined;
        const node = view.body.placements.find(({ key }) => key === SESSION)?.node;
        return node !== undefined && node !== unlike && proxies.has(node) ? node : undefined;
      },
      20_000,
      () => 'the control plane to place cam1 on a live proxy',
    );

  const hopsOf = async (id: string): Promise<HopsView> =>
    (await getJson<HopsView>(`${proxies.get(id)?.url ?? ''}/hops`)).body;

  before(async () => {
    const cameraPort = await freePort();
    camera = await startRtspCamera({ port: cameraPort, path: 'test', timeoutMs: 300_000 });
    const ports = { admin: await freePort(), grpc: await freePort(), rtsp: await freePort() };
    rtspPort = ports.rtsp;
    configFile = writeTempConfig(configText(ports, camera.url));
    planeUrl = `http://127.0.0.1:${ports.admin}`;
    await startPlane();
    await Promise.all(
      PROXIES.map(async ({ id, host }) => {
        const port = await freePort();
        const running = startStreammesh(['proxy', '--config', configFile], {
          ...env,
          STREAMMESH_PROXY_ID: id,
          STREAMMESH_PROXY_BIND_HOST: host,
          STREAMMESH_PROXY_ADMIN: `127.0.0.1:${port}`,
        });
        const url = `http://${host}:${port}`;
        proxies.set(id, { id, host, running, url });
        // Three proxies start at once, each loading proxy.workers media
        // workers, a spare and as many L7 threads (one per core by default):
        // on 2 busy cores that takes them longer than 20 s together.
        await waitReady(url, () => running.stderr(), 60_000);
      }),
    );
  });

  after(async () => {
    for (const viewer of viewers) viewer.close();
    await Promise.all([
      ...[...proxies.values(), ...drainedProxies].map(({ running }) =>
        running.stop('SIGINT', 5_000),
      ),
      controlPlane?.stop('SIGTERM', 5_000),
      camera?.stop(),
    ]);
  });

  it('viewers through every proxy decode the camera, which sees one session', async (t) => {
    const ownerId = await owner();
    const decodes = [...proxies.values()].map(
      ({ host }) => decodeRtsp(`rtsp://${host}:${rtspPort}/cam1`, 'tcp', 4).result,
    );
    // A second viewer on one edge: still one hop to that edge.
    const edges = [...proxies.keys()].filter((id) => id !== ownerId);
    const extra = decodeRtsp(
      `rtsp://${proxies.get(edges[0] ?? '')?.host ?? ''}:${rtspPort}/cam1`,
      'tcp',
      4,
    ).result;
    // And a GStreamer viewer (rtspsrc over UDP) on another edge.
    const gst = gstRtspViewer(
      `rtsp://${proxies.get(edges[1] ?? '')?.host ?? ''}:${rtspPort}/cam1`,
      'udp',
      50,
    );
    const results = await Promise.all([...decodes, extra]);
    const gstResult = await gst;
    assert.ok(
      gstResult.decoded,
      `GStreamer decoded 50 frames through an edge:\n${gstResult.output}`,
    );
    results.forEach((result, index) => {
      assert.ok(
        result.frames >= 25,
        `viewer ${index} decoded ${result.frames} frames:\n${result.output}`,
      );
    });
    assert.equal(camera?.sessions(), 1, 'the camera sees one session for the whole mesh');
    const sending = (await hopsOf(ownerId)).sending;
    assert.deepEqual(
      sending.map(({ peer }) => peer).sort(),
      [...edges].sort(),
      'the owner sends one hop per edge',
    );
    for (const edge of edges)
      assert.deepEqual((await hopsOf(edge)).sending, [], `${edge} sends none`);
    t.diagnostic(
      `owner ${ownerId}; frames decoded per viewer: ${results.map((r) => r.frames).join(', ')}`,
    );
  });

  it("the control plane shows the stream's whole path with figures per hop", async () => {
    const ownerId = await owner();
    const viewer = await RtspSequenceViewer.play(
      proxies.get([...proxies.keys()].find((id) => id !== ownerId) ?? '')?.host ?? '',
      rtspPort,
      'cam1',
    );
    viewers.push(viewer);
    const view = await waitFor(
      async () => {
        const got = await tryGetJson<StreamHopsView>(`${planeUrl}/streams/cam1/hops`);
        const hops = got?.body.hops ?? [];
        const proxyHop = hops.find(({ kind }) => kind === 'proxy');
        return (proxyHop?.packets ?? 0) > 0 && hops.some(({ kind }) => kind === 'viewers')
          ? got?.body
          : undefined;
      },
      15_000,
      () => 'a hop view with packets on a proxy hop',
    );
    assert.equal(view.owner, ownerId);
    assert.deepEqual(view.hops[0] && { from: view.hops[0].from, to: view.hops[0].to }, {
      from: 'camera',
      to: ownerId,
    });
    for (const hop of view.hops.filter(({ kind }) => kind === 'proxy')) {
      assert.equal(hop.from, ownerId);
      assert.equal(typeof hop.lossFraction, 'number');
      assert.equal(typeof hop.jitterMs, 'number');
    }
  });

  it('a control plane SIGKILLed and restarted under live viewers loses no packet and keeps the placements', async (t) => {
    const ownerId = await owner();
    const before = (await getJson<PlacementsView>(`${planeUrl}/placements`)).body.placements;
    const edgeViewers = await Promise.all(
      [...proxies.values()]
        .filter(({ id }) => id !== ownerId)
        .map(({ host }) => RtspSequenceViewer.play(host, rtspPort, 'cam1')),
    );
    viewers.push(...edgeViewers);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const from = performance.now();
    await controlPlane?.stop('SIGKILL', 2_000);
    await startPlane();
    await owner();
    // Past the restart and a few key rotations of the restored hops.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const to = performance.now();
    const after = (await getJson<PlacementsView>(`${planeUrl}/placements`)).body.placements;
    assert.deepEqual(after, before);
    for (const { id } of proxies.values())
      t.diagnostic(`${id} /hops: ${JSON.stringify(await hopsOf(id))}`);
    for (const viewer of edgeViewers) {
      assert.equal(viewer.missing(from, to), 0, 'no packet missing at an edge viewer');
      assert.ok(viewer.longestSilenceMs(from, to) < 1_000, 'the stream did not stop');
      assert.equal(viewer.ssrcs().size, 1);
    }
    t.diagnostic(
      `longest silence at the edge viewers across the restart: ${edgeViewers
        .map((viewer) => Math.round(viewer.longestSilenceMs(from, to)))
        .join(', ')} ms`,
    );
  });

  /**
   * Viewers on every proxy but the owner (and those in `skip`), running
   * while `act` moves the camera; returns them and the time span to check.
   */
  const watchEdgesThrough = async (
    ownerId: string,
    act: () => Promise<void>,
  ): Promise<{ edgeViewers: RtspSequenceViewer[]; from: number; to: number }> => {
    const edges = [...proxies.values()].filter(({ id }) => id !== ownerId);
    const edgeViewers = await Promise.all(
      edges.map(({ host }) => RtspSequenceViewer.play(host, rtspPort, 'cam1')),
    );
    viewers.push(...edgeViewers);
    await waitFor(
      () => (edgeViewers.every((viewer) => viewer.packets.length > 50) ? true : undefined),
      15_000,
      () => 'every edge viewer to play',
    );
    const from = performance.now();
    await act();
    return { edgeViewers, from, to: performance.now() };
  };

  const placementOf = async (): Promise<{ node: string; reason: string } | undefined> =>
    (await tryGetJson<PlacementsView>(`${planeUrl}/placements`))?.body.placements.find(
      ({ key }) => key === SESSION,
    );

  it('`streammesh drain` hands the camera over with no gap at the edges; the drained proxy refuses new viewers', async (t) => {
    const ownerId = await owner();
    const drained = proxies.get(ownerId);
    assert.ok(drained !== undefined);
    const sessionsBefore = camera?.sessions() ?? 0;
    const { edgeViewers, from, to } = await watchEdgesThrough(ownerId, async () => {
      const ownViewer = await RtspSequenceViewer.play(drained.host, rtspPort, 'cam1');
      viewers.push(ownViewer);
      const result = await runStreammesh(
        ['drain', ownerId, '--deadline', '30s', '--config', configFile],
        env,
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^${ownerId} draining until \\d{4}-`, 'm'));
      const moved = await waitFor(
        async () => {
          const placement = await placementOf();
          return placement !== undefined && placement.node !== ownerId ? placement : undefined;
        },
        15_000,
        () => 'cam1 to move off the drained proxy',
      );
      assert.equal(moved.reason, 'node_drained');
      // The handover: the new owner pulls, the edges switch, the old owner's hops go.
      await waitFor(
        async () => ((await hopsOf(ownerId)).sending.length === 0 ? true : undefined),
        15_000,
        () => 'the drained proxy to stop feeding hops',
      );
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const readyz = await tryGetJson<{ reason?: string }>(`${drained.url}/readyz`);
      assert.equal(readyz?.status, 503, 'a draining proxy is not ready');
      assert.match(JSON.stringify(readyz.body), /draining until/);
      const client = await RtspTestClient.connect(rtspPort, drained.host);
      const refused = await client.request('DESCRIBE', `rtsp://${drained.host}:${rtspPort}/cam1`);
      client.close();
      assert.equal(refused?.status, 503, 'a new viewer is refused');
      assert.ok(
        ownViewer.between(performance.now() - 1_000, Infinity).length > 10,
        "the drained proxy's own viewer plays on",
      );
    });
    const silences = noGapAt(edgeViewers, from, to);
    assert.equal(
      (camera?.sessions() ?? 0) - sessionsBefore,
      1,
      'the new owner pulled the camera once',
    );
    t.diagnostic(`drained ${ownerId}; longest silence at the edge viewers: ${silences} ms`);
    // The drained proxy stays out of the rest (it takes no session).
    proxies.delete(ownerId);
    drainedProxies.push(drained);
  });

  it('SIGTERM on the owner drains it: the edges switch with no gap, then it exits by itself', async (t) => {
    const ownerId = await owner();
    const leaving = proxies.get(ownerId);
    assert.ok(leaving !== undefined);
    let exit: { code: number | null; ms: number } | undefined;
    const { edgeViewers, from, to } = await watchEdgesThrough(ownerId, async () => {
      // SIGKILL only if it has not gone by itself within 25 s (its drain is 20 s at most).
      exit = await leaving.running.stop('SIGTERM', 25_000);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    });
    proxies.delete(ownerId);
    assert.equal(leaving.running.child.signalCode, null, 'it exited by itself, not by SIGKILL');
    assert.equal(exit?.code, 0);
    const placement = await placementOf();
    assert.ok(placement !== undefined && proxies.has(placement.node));
    const silences = noGapAt(edgeViewers, from, to);
    t.diagnostic(`SIGTERM ${ownerId}; longest silence at the edge viewers: ${silences} ms`);
  });

  it('the owner SIGKILLed: the camera moves, the edge viewers resume with the same SSRC and numbering', async (t) => {
    const ownerId = await owner();
    const edges = [...proxies.values()].filter(({ id }) => id !== ownerId);
    const edgeViewers = await Promise.all(
      edges.map(({ host }) => RtspSequenceViewer.play(host, rtspPort, 'cam1')),
    );
    viewers.push(...edgeViewers);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const sessionsBefore = camera?.sessions() ?? 0;
    const killedAt = performance.now();
    await proxies.get(ownerId)?.running.stop('SIGKILL', 2_000);
    proxies.delete(ownerId);
    const newOwner = await owner(ownerId);
    // Media again at every edge viewer (the new owner's edges, and the new owner itself).
    await waitFor(
      () =>
        edgeViewers.every((viewer) => viewer.between(killedAt + 500, Infinity).length > 50)
          ? true
          : undefined,
      20_000,
      () => 'the edge viewers to receive again',
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const to = performance.now();
    const gaps = edgeViewers.map((viewer) =>
      Math.round(viewer.longestSilenceMs(killedAt - 1_000, to)),
    );
    for (const viewer of edgeViewers) {
      assert.equal(viewer.ssrcs().size, 1, 'the viewer keeps one SSRC');
      assert.equal(
        viewer.missing(killedAt - 1_000, to),
        0,
        `the numbering continues (killed at ${Math.round(killedAt)}): ${viewer.holes(killedAt - 1_000, to).join('; ')}`,
      );
    }
    assert.equal(
      (camera?.sessions() ?? 0) - sessionsBefore,
      1,
      'the new owner pulls the camera once',
    );
    t.diagnostic(
      `owner ${ownerId} killed; ${newOwner} took cam1; gap at the edge viewers: ${gaps.join(', ')} ms`,
    );
    // Target: under 2 s plus the camera's own connect time; bounded here at 5 s on a loaded machine.
    for (const gap of gaps) assert.ok(gap < 5_000, `gap ${gap} ms`);
  });
});
