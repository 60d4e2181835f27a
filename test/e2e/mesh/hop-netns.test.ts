/**
 * The camera mesh across separate network stacks: three `streammesh proxy`
 * processes, each in its own network namespace joined to the root one by a
 * veth pair on one bridge (test/helpers/netns.ts), so each hop between them
 * is a real link of its own that can lose packets, be captured on and
 * receive forged datagrams. The control plane, the GStreamer camera and the
 * viewers stay in the root namespace; the proxies reach them at the bridge's
 * address (the camera binds loopback only, so a TCP forward in this process
 * exposes it there).
 *
 * - Loss on one hop: iptables drops ~5% of the UDP arriving at edge B from
 *   the owner (statistic match in B's namespace: this kernel has no
 *   sch_netem, so no `tc netem`; this is the nearest honest lossy link, loss
 *   only). The control plane's /streams/cam1/hops shows it on owner -> B
 *   alone: lossFraction there is the edge's own measurement, lost/expected
 *   since its receiver of the hop began (cumulative, not the last interval),
 *   so the rule goes in before the edges' viewers start their hops.
 * - SRTP on the wire: captures of the camera -> owner leg and of the
 *   owner -> C hop, at the same time: the camera's SPS (from its SDP) is in
 *   the first and in no datagram of the second, nor is any payload a plain
 *   viewer at C gets; decoded as RTP (`-d udp.port==...,rtp`), the hop's
 *   payloads do not start with the camera's NAL headers (beyond chance).
 * - Hostile bytes at both ends of a hop: garbage, a truncated packet, a
 *   replayed datagram, one with a wrong MKI, one tampered with; sent plainly
 *   from the root namespace (dropped as unknown_source) and with the hop
 *   peer's address forged (raw socket), so they reach the SRTP checks. Each
 *   is counted under its reason in /hops, the edges' viewers lose no packet
 *   and no second of picture, and no proxy dies.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, tryGetJson, waitReady } from '../../helpers/http.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import {
  forwardTcp,
  netnsUnavailable,
  NetnsLab,
  sendForgedUdp,
  type NetnsNode,
} from '../../helpers/netns.js';
import { freePort } from '../../helpers/ports.js';
import { startStreammesh, waitFor, type Running } from '../../helpers/process.js';
import { requirePeer, spawnPeer, stopAllPeers } from '../../helpers/peers/process.js';
import { startRtspCamera, type RtspCamera } from '../../helpers/peers/rtsp-camera.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { RtspSequenceViewer } from '../../helpers/rtsp-sequence-viewer.js';
import type { PlacementsView } from '../../../src/control-plane/placement/index.js';
import { rtpHeaderLength } from '../../../src/protocol/rtp/index.js';

after(stopAllPeers);

const PROXY_IDS = ['proxy-a', 'proxy-b', 'proxy-c'] as const;
const SESSION = 'camera/cam1';
/** Each proxy has a network stack of its own: the same ports in every namespace. */
const RTSP_PORT = 8554;
const ADMIN_PORT = 9901;
/** The loss put on owner -> B. */
const LOSS = 0.05;
/** The hop's SRTP MKI: 4 bytes, the last of every datagram with AEAD_AES_128_GCM. */
const MKI_LENGTH = 4;

interface Proxy {
  readonly id: string;
  readonly node: NetnsNode;
  readonly running: Running;
  readonly url: string;
}

type Drops = Readonly<Record<string, number>>;

interface HopFigures {
  readonly hopId: string;
  readonly peer: string;
  readonly rtpPackets: number;
  readonly lossFraction: number;
  readonly drops: Drops;
}

interface HopsView {
  /** The owner's hop socket. */
  readonly address: string | null;
  readonly sending: readonly HopFigures[];
  readonly receiving: readonly {
    readonly session: string;
    readonly address: string | null;
    readonly active: string | null;
    readonly hops: readonly HopFigures[];
    readonly drops: Drops;
  }[];
  readonly drops: Drops;
}

interface StreamHopsView {
  readonly owner: string | null;
  readonly hops: readonly {
    readonly from: string;
    readonly to: string;
    readonly kind: string;
    readonly lossFraction?: number | null;
    readonly packets?: number | null;
  }[];
}

interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** One UDP datagram read back from a capture. */
interface Datagram {
  readonly from: Endpoint;
  readonly to: Endpoint;
  readonly payload: Buffer;
}

function endpoint(address: string): Endpoint {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number.parseInt(address.slice(at + 1), 10) };
}

/** RTCP packet types 200-204 in the second byte (RFC 5761 §4): the rest of a hop is RTP. */
function isRtcp(datagram: Buffer): boolean {
  const type = datagram[1] ?? 0;
  return type >= 200 && type <= 204;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function configText(grpc: string, admin: number, camera: string): string {
  return [
    'logLevel: info',
    'controlPlane:',
    `  admin: 127.0.0.1:${admin}`,
    `  grpc: ${grpc}`,
    '  heartbeatIntervalMs: 200',
    '  staleAfterMissedHeartbeats: 3',
    'proxy:',
    '  admin: 127.0.0.1:0',
    '  rtsp:',
    // STREAMMESH_PROXY_BIND_HOST moves it to the proxy's namespace address.
    `    listen: 127.0.0.1:${RTSP_PORT}`,
    '    demo: false',
    '    paths:',
    `      cam1: { source: "${camera}", transport: tcp }`,
    'signaling:',
    '  admin: 127.0.0.1:0',
    '  listen: 127.0.0.1:0',
  ].join('\n');
}

/** Runs tshark on `iface` for `seconds` with a capture filter; the pcapng's path. */
async function capture(iface: string, filter: string, seconds: number): Promise<string> {
  requirePeer('tshark');
  const file = join(await mkdtemp(join(tmpdir(), 'streammesh-netns-cap-')), 'cap.pcapng');
  const peer = spawnPeer(
    'tshark',
    ['-i', iface, '-f', filter, '-a', `duration:${seconds}`, '-w', file],
    { timeoutMs: (seconds + 20) * 1000 },
  );
  await peer.waitForStderr(/Capturing on|Capture started/, 15_000);
  const exit = await peer.exited;
  assert.ok(!exit.timedOut, `tshark on ${iface} outlived its bound:\n${exit.stderr}`);
  return file;
}

async function tsharkFields(file: string, args: readonly string[]): Promise<string[][]> {
  const exit = await spawnPeer(
    'tshark',
    ['-r', file, ...args, '-T', 'fields', '-E', 'separator=,'],
    {
      timeoutMs: 60_000,
    },
  ).exited;
  assert.equal(exit.code, 0, `tshark ${args.join(' ')}:\n${exit.stderr}`);
  return exit.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.trim().split(','));
}

async function udpDatagrams(file: string): Promise<Datagram[]> {
  const rows = await tsharkFields(file, [
    ...['-Y', 'udp', '-e', 'ip.src', '-e', 'udp.srcport', '-e', 'ip.dst', '-e', 'udp.dstport'],
    ...['-e', 'udp.payload'],
  ]);
  return rows.map(([src, sport, dst, dport, hex]) => ({
    from: { host: src ?? '', port: Number.parseInt(sport ?? '', 10) },
    to: { host: dst ?? '', port: Number.parseInt(dport ?? '', 10) },
    payload: Buffer.from(hex ?? '', 'hex'),
  }));
}

/** The first SPS of the camera's SDP (sprop-parameter-sets), as it travels in RTP. */
async function cameraSps(url: string, port: number): Promise<Buffer> {
  const client = await RtspTestClient.connect(port, '127.0.0.1');
  try {
    const described = await client.request('DESCRIBE', url, { Accept: 'application/sdp' });
    assert.equal(described?.status, 200, `DESCRIBE ${url}`);
    const sprop = /sprop-parameter-sets=([^,;\s]+)/.exec(described.body.toString('utf8'))?.[1];
    assert.ok(sprop !== undefined, 'the camera announces its SPS in its SDP');
    const sps = Buffer.from(sprop, 'base64');
    assert.equal((sps[0] ?? 0) & 0x1f, 7, 'the first sprop parameter set is an SPS');
    return sps;
  } finally {
    client.close();
  }
}

/** A plain RTSP viewer at `host` for `ms`: the RTP payloads of track 0 it got. */
async function plainPayloads(host: string, ms: number): Promise<Buffer[]> {
  const url = `rtsp://${host}:${RTSP_PORT}/cam1`;
  const client = await RtspTestClient.connect(RTSP_PORT, host);
  try {
    assert.equal((await client.request('DESCRIBE', url))?.status, 200);
    const setup = await client.request('SETUP', `${url}/trackID=0`, {
      Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
    });
    const session = setup?.headers.get('Session')?.split(';')[0] ?? '';
    assert.equal((await client.request('PLAY', url, { Session: session }))?.status, 200);
    await sleep(ms);
    return client.frames
      .filter(({ channel, payload }) => channel === 0 && payload.length > 12)
      .map(({ payload }) => payload.subarray(rtpHeaderLength(payload)));
  } finally {
    client.close();
  }
}

/** Sums of `after` minus `before`, per reason. */
function delta(before: Drops, after: Drops): Record<string, number> {
  const out: Record<string, number> = {};
  for (const reason of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const grew = (after[reason] ?? 0) - (before[reason] ?? 0);
    if (grew !== 0) out[reason] = grew;
  }
  return out;
}

describe('camera mesh across network namespaces', { skip: netnsUnavailable() ?? false }, () => {
  const token = newAdminToken();
  const env = { STREAMMESH_ADMIN_TOKEN: token };
  const proxies = new Map<string, Proxy>();
  /** One RtspSequenceViewer per edge, started once, watched by the tests that follow. */
  const viewers = new Map<string, RtspSequenceViewer>();
  const cleanups: (() => void)[] = [];
  let lab: NetnsLab | undefined;
  let camera: RtspCamera | undefined;
  let cameraForward: Awaited<ReturnType<typeof forwardTcp>> | undefined;
  let controlPlane: Running | undefined;
  let planeUrl = '';
  let cameraPort = 0;
  /** Datagrams of the owner -> C hop (both ways), captured in the SRTP test, replayed later. */
  let hopCapture: Datagram[] = [];

  const proxy = (id: string): Proxy => {
    const found = proxies.get(id);
    assert.ok(found !== undefined, `no proxy ${id}`);
    return found;
  };

  const hopsOf = async (id: string): Promise<HopsView> =>
    (await getJson<HopsView>(`${proxy(id).url}/hops`)).body;

  /** The owner, and the two edges sorted by id: B gets the lossy hop, C the captured one. */
  const roles = async (): Promise<{ owner: Proxy; b: Proxy; c: Proxy }> => {
    const ownerId = await waitFor(
      async () => {
        const view = await tryGetJson<PlacementsView>(`${planeUrl}/placements`);
        if (view === undefined || view.body.restoring) return undefined;
        const node = view.body.placements.find(({ key }) => key === SESSION)?.node;
        return node !== undefined && proxies.has(node) ? node : undefined;
      },
      20_000,
      () => 'the control plane to place cam1',
    );
    const [b, c] = [...proxies.keys()].filter((id) => id !== ownerId).sort();
    return { owner: proxy(ownerId), b: proxy(b ?? ''), c: proxy(c ?? '') };
  };

  const watch = async (edges: readonly Proxy[]): Promise<RtspSequenceViewer[]> =>
    Promise.all(
      edges.map(async ({ id, node }) => {
        const held = viewers.get(id);
        if (held !== undefined) return held;
        const viewer = await RtspSequenceViewer.play(node.address, RTSP_PORT, 'cam1');
        viewers.set(id, viewer);
        return viewer;
      }),
    );

  /** A capture filter for the hop between `owner` and `edge` (both ways, nothing else). */
  const hopFilter = (owner: Proxy, edge: Proxy): string =>
    `udp and host ${owner.node.address} and host ${edge.node.address}`;

  /** The edge's receiving side of cam1, once its hop from the owner is active. */
  const edgeReceiving = async (edge: Proxy, owner: Proxy) =>
    waitFor(
      async () => {
        const view = await hopsOf(edge.id);
        const receiving = view.receiving.find(({ session }) => session === SESSION);
        const hop = receiving?.hops.find(({ peer }) => peer === owner.id);
        if (receiving === undefined || hop === undefined || receiving.address === null) {
          return undefined;
        }
        return receiving.active === hop.hopId ? { receiving, hop } : undefined;
      },
      20_000,
      () => `${edge.id} to receive cam1 over its hop from ${owner.id}`,
    );

  before(async () => {
    lab = NetnsLab.create(PROXY_IDS);
    const network = lab;
    cameraPort = await freePort();
    camera = await startRtspCamera({ port: cameraPort, path: 'test', timeoutMs: 300_000 });
    cameraForward = await forwardTcp(network.rootAddress, cameraPort);
    const admin = await freePort();
    const grpc = `${network.rootAddress}:${await freePort()}`;
    const configFile = writeTempConfig(
      configText(grpc, admin, `rtsp://${network.rootAddress}:${cameraForward.port}/test`),
    );
    planeUrl = `http://127.0.0.1:${admin}`;
    controlPlane = startStreammesh(['control-plane', '--config', configFile], env);
    await waitReady(planeUrl, () => controlPlane?.stderr() ?? '');
    await Promise.all(
      PROXY_IDS.map(async (id) => {
        const node = network.node(id);
        const running = network.startStreammesh(node, ['proxy', '--config', configFile], {
          ...env,
          STREAMMESH_PROXY_ID: id,
          STREAMMESH_PROXY_BIND_HOST: node.address,
          STREAMMESH_PROXY_ADMIN: `${node.address}:${ADMIN_PORT}`,
        });
        const url = `http://${node.address}:${ADMIN_PORT}`;
        proxies.set(id, { id, node, running, url });
        await waitReady(url, () => running.stderr(), 20_000);
      }),
    );
  });

  after(async () => {
    for (const cleanup of cleanups) cleanup();
    for (const viewer of viewers.values()) viewer.close();
    await Promise.all([
      ...[...proxies.values()].map(({ running }) => running.stop('SIGTERM', 5_000)),
      controlPlane?.stop('SIGTERM', 5_000),
      camera?.stop(),
      cameraForward?.close(),
    ]);
    lab?.close();
  });

  it('loss on one hop shows on that hop alone in /streams/cam1/hops', async (t) => {
    const { owner, b, c } = await roles();
    assert.ok(lab !== undefined);
    // Before the edges' viewers start their hops: the figure is cumulative from the hop's start.
    const removeLoss = lab.dropUdpRandomly(b.node, owner.node.address, LOSS);
    cleanups.push(removeLoss);
    try {
      await watch([b, c]);
      await Promise.all([edgeReceiving(b, owner), edgeReceiving(c, owner)]);
      await sleep(8_000);
      const hopTo = (view: StreamHopsView, to: string) =>
        view.hops.find((hop) => hop.kind === 'proxy' && hop.from === owner.id && hop.to === to);
      // The figures reach the control plane with each proxy's stats report: bounded wait.
      const view = await waitFor(
        async () => {
          const got = (await tryGetJson<StreamHopsView>(`${planeUrl}/streams/cam1/hops`))?.body;
          return got !== undefined && (hopTo(got, b.id)?.lossFraction ?? 0) >= 0.02
            ? got
            : undefined;
        },
        15_000,
        () => 'owner -> B to show its loss on the control plane',
      );
      const toB = hopTo(view, b.id);
      const toC = hopTo(view, c.id);
      const fromCamera = view.hops.find(({ kind }) => kind === 'camera');
      const dropped = lab.droppedByRules(b.node);
      t.diagnostic(
        `owner ${owner.id}; iptables dropped ${dropped} datagrams at ${b.id}; ` +
          `lossFraction (cumulative): camera->${owner.id} ${fromCamera?.lossFraction ?? 'null'}, ` +
          `${owner.id}->${b.id} ${toB?.lossFraction ?? 'null'} (${toB?.packets ?? 0} packets), ` +
          `${owner.id}->${c.id} ${toC?.lossFraction ?? 'null'} (${toC?.packets ?? 0} packets)`,
      );
      assert.equal(view.owner, owner.id);
      assert.ok(dropped > 0, 'iptables dropped datagrams of the owner at B');
      assert.ok((toB?.lossFraction ?? 0) >= 0.02, `owner -> B lossFraction ${toB?.lossFraction}`);
      assert.ok((toB?.lossFraction ?? 1) <= 0.15, 'about the loss put on the link, not more');
      assert.equal(typeof toC?.lossFraction, 'number', 'owner -> C has a measured figure');
      assert.ok((toC?.lossFraction ?? 1) < 0.01, `owner -> C lossFraction ${toC?.lossFraction}`);
      assert.equal(typeof fromCamera?.lossFraction, 'number');
      assert.ok(
        (fromCamera?.lossFraction ?? 1) < 0.01,
        `camera -> owner lossFraction ${fromCamera?.lossFraction}`,
      );
    } finally {
      removeLoss();
    }
  });

  it('the hop carries SRTP: the camera in clear on its leg, never on the owner -> edge hop', async (t) => {
    const { owner, b, c } = await roles();
    // The edges pull on demand: viewers there start their hops (if an earlier test did not).
    await watch([b, c]);
    const ownerHop = endpoint((await hopsOf(owner.id)).address ?? '');
    const { receiving } = await edgeReceiving(c, owner);
    const edgeIn = endpoint(receiving.address ?? '');
    const sps = await cameraSps(`rtsp://127.0.0.1:${cameraPort}/test`, cameraPort);
    const seconds = 4;
    // The camera leg (RTSP interleaved over TCP, through the forward) and the hop, at once,
    // while a plain viewer at C receives the same packets.
    const [cameraFile, hopFile, viewerPayloads] = await Promise.all([
      capture(owner.node.rootLink, `tcp port ${cameraForward?.port ?? 0}`, seconds),
      capture(c.node.rootLink, hopFilter(owner, c), seconds),
      plainPayloads(c.node.address, seconds * 1000),
    ]);
    const cameraBytes = await readFile(cameraFile);
    hopCapture = await udpDatagrams(hopFile);
    const toEdge = hopCapture.filter(
      ({ from, to }) => from.port === ownerHop.port && to.port === edgeIn.port,
    );
    const hopRtp = toEdge.filter(({ payload }) => !isRtcp(payload));
    assert.ok(hopRtp.length > 25, `owner -> C datagrams captured: ${hopRtp.length}`);
    assert.equal(
      toEdge.length + hopCapture.filter(({ from }) => from.port === edgeIn.port).length,
      hopCapture.length,
      'the capture holds the hop alone',
    );
    // 1. The SPS: in clear on the camera leg, in no hop datagram.
    assert.ok(cameraBytes.includes(sps), 'the SPS is in the camera -> owner capture');
    const withSps = toEdge.filter(({ payload }) => payload.includes(sps)).length;
    assert.equal(withSps, 0, 'no hop datagram carries the SPS');
    // 2. No payload a plain viewer at C got (16-byte prefixes) is in the hop; some are on the camera leg.
    const prefixes = viewerPayloads.filter((p) => p.length >= 16).map((p) => p.subarray(0, 16));
    assert.ok(prefixes.length > 25, `the plain viewer got ${prefixes.length} payloads`);
    const hopBytes = Buffer.concat(toEdge.map(({ payload }) => payload));
    const inHop = prefixes.filter((prefix) => hopBytes.includes(prefix)).length;
    const onCameraLeg = prefixes.filter((prefix) => cameraBytes.includes(prefix)).length;
    assert.equal(inHop, 0, 'no plain payload appears on the hop');
    assert.ok(onCameraLeg > 0, 'the same payloads are in clear on the camera leg');
    // 3. Decoded as RTP, the hop's payloads do not start with the camera's NAL headers:
    // ciphertext's first byte is uniform, so a set of k header bytes matches ~k/256 of them.
    const cameraNalHeaders = new Set(viewerPayloads.map((payload) => payload[0] ?? -1));
    const decoded = await tsharkFields(hopFile, [
      ...['-d', `udp.port==${edgeIn.port},rtp`, '-Y', `rtp && udp.dstport==${edgeIn.port}`],
      ...['-e', 'rtp.p_type', '-e', 'rtp.payload'],
    ]);
    const firstBytes = decoded
      .filter(
        ([type, hex]) =>
          type !== undefined && !['72', '73', '74', '75', '76'].includes(type) && hex,
      )
      .map(([, hex]) => Number.parseInt((hex ?? '').slice(0, 2), 16));
    const looksPlain = firstBytes.filter((byte) => cameraNalHeaders.has(byte)).length;
    const chance = cameraNalHeaders.size / 256;
    t.diagnostic(
      `camera leg ${cameraBytes.length} bytes captured, SPS ${sps.toString('hex')} found; ` +
        `hop: ${toEdge.length} datagrams owner -> C, none with the SPS; plain viewer payloads ` +
        `${prefixes.length}, on the camera leg ${onCameraLeg}, on the hop ${inHop}; RTP-decoded ` +
        `hop payloads ${firstBytes.length}, starting with one of the camera's ${cameraNalHeaders.size} ` +
        `NAL header bytes: ${looksPlain} (chance ${(chance * 100).toFixed(1)}%)`,
    );
    assert.ok(firstBytes.length > 25, `RTP-decoded hop datagrams: ${firstBytes.length}`);
    assert.ok(
      looksPlain / firstBytes.length < Math.max(0.2, 3 * chance),
      `${looksPlain} of ${firstBytes.length} hop payloads start with a camera NAL header`,
    );
  });

  it('hostile bytes at both ends of a hop are dropped and counted; the viewers see nothing of it', async (t) => {
    const { owner, b, c } = await roles();
    const edgeViewers = await watch([b, c]);
    const ownerHop = endpoint((await hopsOf(owner.id)).address ?? '');
    const { receiving } = await edgeReceiving(c, owner);
    const edgeIn = endpoint(receiving.address ?? '');
    // What to replay and alter: the SRTP test's capture, or one of our own if it did not run.
    if (hopCapture.length === 0) {
      hopCapture = await udpDatagrams(await capture(c.node.rootLink, hopFilter(owner, c), 3));
    }
    const fromOwner = hopCapture.filter(
      ({ from, to }) => from.port === ownerHop.port && to.port === edgeIn.port,
    );
    const fromEdge = hopCapture.filter(
      ({ from, to }) => from.port === edgeIn.port && to.port === ownerHop.port,
    );
    const rtp = fromOwner.find(({ payload }) => !isRtcp(payload))?.payload;
    const srtcp = fromOwner.findLast(({ payload }) => isRtcp(payload))?.payload;
    const report = fromEdge.at(-1)?.payload;
    assert.ok(rtp && srtcp && report, 'the capture holds hop RTP, SRTCP and a receiver report');

    /** `datagram` with its MKI (the last 4 bytes) naming an epoch nobody holds. */
    const wrongMki = (datagram: Buffer): Buffer => {
      const out = Buffer.from(datagram);
      out.writeUInt32BE(
        (out.readUInt32BE(out.length - MKI_LENGTH) + 1_000) >>> 0,
        out.length - MKI_LENGTH,
      );
      return out;
    };
    /** An RTP datagram moved ahead of the replay window (the sequence number is authenticated). */
    const aheadRtp = (datagram: Buffer): Buffer => {
      const out = Buffer.from(datagram);
      out.writeUInt16BE((out.readUInt16BE(2) + 3_000) & 0xffff, 2);
      return out;
    };
    /** An SRTCP datagram with its index (E|index, before the MKI) moved ahead: authenticated too. */
    const aheadRtcp = (datagram: Buffer): Buffer => {
      const out = Buffer.from(datagram);
      const at = out.length - MKI_LENGTH - 4;
      out.writeUInt32BE((out.readUInt32BE(at) + 1_000) >>> 0, at);
      return out;
    };
    const garbage = (): Buffer => {
      const out = randomBytes(200);
      out[0] = 0x00; // RTP/RTCP version 0: not a hop packet at all
      return out;
    };
    const truncated = (datagram: Buffer): Buffer => Buffer.from(datagram.subarray(0, 6));

    const before = { owner: await hopsOf(owner.id), c: await hopsOf(c.id) };
    const edgeHop = (view: HopsView) =>
      view.receiving
        .find(({ session }) => session === SESSION)
        ?.hops.find(({ peer }) => peer === owner.id);
    const ownerHopTo = (view: HopsView) => view.sending.find(({ peer }) => peer === c.id);
    await sleep(1_000);
    const from = performance.now();

    // 1. Plain datagrams from the root namespace: no hop's peer, dropped at the source check.
    const plainKinds = [garbage(), truncated(rtp), rtp, wrongMki(rtp)];
    const plain = createSocket('udp4');
    await new Promise<void>((resolve) => plain.bind(0, lab?.rootAddress ?? '', () => resolve()));
    for (const datagram of plainKinds) {
      for (const to of [edgeIn, ownerHop]) {
        await new Promise<void>((resolve) =>
          plain.send(datagram, to.port, to.host, () => resolve()),
        );
      }
    }
    plain.close();
    // 2. The same with the hop peer's address forged: they reach the SRTP checks.
    const toEdge = [
      { payload: garbage(), reason: 'bad_header' },
      { payload: truncated(rtp), reason: 'too_short' },
      { payload: rtp, reason: 'replay' }, // old: replay_too_old, counted with replay
      { payload: srtcp, reason: 'replay' },
      { payload: wrongMki(rtp), reason: 'unknown_key' },
      { payload: aheadRtp(rtp), reason: 'auth_failed' },
      { payload: aheadRtcp(srtcp), reason: 'auth_failed' },
    ];
    const toOwner = [
      { payload: garbage(), reason: 'bad_header' },
      { payload: truncated(report), reason: 'too_short' },
      { payload: report, reason: 'replay' },
      { payload: wrongMki(report), reason: 'unknown_key' },
      { payload: aheadRtcp(report), reason: 'auth_failed' },
    ];
    await sendForgedUdp([
      ...toEdge.map(({ payload }) => ({ from: ownerHop, to: edgeIn, payload })),
      ...toOwner.map(({ payload }) => ({ from: edgeIn, to: ownerHop, payload })),
    ]);
    await sleep(1_500);
    const to = performance.now();
    const afterViews = { owner: await hopsOf(owner.id), c: await hopsOf(c.id) };

    const fold = (drops: Record<string, number>) => {
      const out = { ...drops };
      out['replay'] = (out['replay'] ?? 0) + (out['replay_too_old'] ?? 0);
      delete out['replay_too_old'];
      return out;
    };
    const expected = (list: readonly { reason: string }[]) => {
      const out: Record<string, number> = {};
      for (const { reason } of list) out[reason] = (out[reason] ?? 0) + 1;
      return out;
    };
    const edgeSourceDrops = delta(
      before.c.receiving.find(({ session }) => session === SESSION)?.drops ?? {},
      afterViews.c.receiving.find(({ session }) => session === SESSION)?.drops ?? {},
    );
    const edgeHopDrops = delta(edgeHop(before.c)?.drops ?? {}, edgeHop(afterViews.c)?.drops ?? {});
    const ownerSocketDrops = delta(before.owner.drops, afterViews.owner.drops);
    const ownerHopDrops = delta(
      ownerHopTo(before.owner)?.drops ?? {},
      ownerHopTo(afterViews.owner)?.drops ?? {},
    );
    t.diagnostic(
      `drops counted: ${c.id} source ${JSON.stringify(edgeSourceDrops)}, ${c.id} hop ` +
        `${JSON.stringify(edgeHopDrops)}, ${owner.id} hop socket ${JSON.stringify(ownerSocketDrops)}, ` +
        `${owner.id} hop to ${c.id} ${JSON.stringify(ownerHopDrops)}`,
    );
    assert.equal(
      edgeSourceDrops['unknown_source'],
      plainKinds.length,
      'edge: plain ones, unknown_source',
    );
    assert.equal(
      ownerSocketDrops['unknown_source'],
      plainKinds.length,
      'owner: plain ones, unknown_source',
    );
    assert.deepEqual(
      fold(edgeHopDrops),
      expected(toEdge),
      'edge: each forged one under its reason',
    );
    assert.deepEqual(
      fold(ownerHopDrops),
      expected(toOwner),
      'owner: each forged one under its reason',
    );

    // The viewers at both edges went on: no hole in the numbering, no silence over a second.
    for (const [index, viewer] of edgeViewers.entries()) {
      const silence = Math.round(viewer.longestSilenceMs(from, to));
      t.diagnostic(
        `viewer at ${[b, c][index]?.id ?? ''}: ${viewer.between(from, to).length} packets, longest silence ${silence} ms`,
      );
      assert.ok(viewer.between(from, to).length > 0, 'the viewer received meanwhile');
      assert.equal(viewer.missing(from, to), 0, viewer.holes(from, to).join('; '));
      assert.ok(silence < 1_000, `silence ${silence} ms`);
    }
    for (const { id, running, url } of proxies.values()) {
      assert.equal(running.child.exitCode, null, `${id} is running:\n${running.stderr()}`);
      assert.equal(running.child.signalCode, null, `${id} was not killed`);
      assert.equal((await getJson(`${url}/readyz`)).status, 200, `${id} is ready`);
    }
  });
});
