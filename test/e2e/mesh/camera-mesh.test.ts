/**
 * The camera mesh with real processes, as across machines: a control plane,
 * three `streammesh proxy` processes on their own loopback addresses
 * (127.0.0.11-13, the same RTSP port) and GStreamer's RTSP server as the
 * camera, which prints each RTSP session it creates.
 *
 * - Viewers decode the camera through all three proxies: the camera sees one
 *   session; the owner sends one hop per edge (not per viewer).
 * - The control plane's /streams/cam1/hops shows camera -> owner -> edges ->
 *   viewers with figures per hop.
 * - The control plane SIGKILLed and started again under live viewers: no
 *   packet missing at the edges' viewers, the same placements after.
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
import { startStreammesh, waitFor, type Running } from '../../helpers/process.js';
import { startRtspCamera, type RtspCamera } from '../../helpers/peers/rtsp-camera.js';
import { decodeRtsp } from '../../helpers/peers/rtsp-viewers.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import { RtspSequenceViewer } from '../../helpers/rtsp-sequence-viewer.js';
import type { PlacementsView } from '../../../src/control-plane/placement/index.js';

after(stopAllPeers);

const PROXIES = [
  { id: 'proxy-a', host: '127.0.0.11' },
  { id: 'proxy-b', host: '127.0.0.12' },
  { id: 'proxy-c', host: '127.0.0.13' },
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

describe('camera mesh across processes', () => {
  const token = newAdminToken();
  const env = { STREAMMESH_ADMIN_TOKEN: token };
  const proxies = new Map<string, ProxyProcess>();
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
        await waitReady(url, () => running.stderr(), 20_000);
      }),
    );
  });

  after(async () => {
    for (const viewer of viewers) viewer.close();
    await Promise.all([
      ...[...proxies.values()].map(({ running }) => running.stop('SIGTERM', 5_000)),
      controlPlane?.stop('SIGTERM', 5_000),
      camera?.stop(),
    ]);
  });

  it('viewers through three proxies decode the camera, which sees one session', async (t) => {
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
    const results = await Promise.all([...decodes, extra]);
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
