/**
 * A camera stream from its owner proxy to an edge proxy over a real hop on
 * 127.0.0.1, in one process and with no control plane: the test builds the
 * MEDIA_KEY bodies itself (generateHopKey, hopResourceName) and hands them to
 * both ends as the node would. The owner's camera path runs the demo clip
 * (DemoSource) and feeds the hop (HopFeed, from the owner's HopSocket); the
 * edge's camera path takes its stream from the hop (HopSource) and serves a
 * scripted viewer.
 *
 * What must hold: the edge viewer gets the stream under the edge path's SSRC
 * with unbroken numbering, starting at a keyframe and decodable (ffmpeg); the
 * edge's receiver reports reach the owner (a round trip in its snapshot); a
 * key rotation loses nothing; garbage, a stranger's packets and packets under
 * a wrong key are each dropped and counted while the stream goes on; a
 * new owner's hop takes over at a keyframe with the viewer's SSRC and
 * numbering unchanged (also when the old hop goes in the same update); and a
 * newer body of the same hop that moves either end's address is followed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { HopFeed } from '../../../rtp-proxy/media/mesh/hop-feed.js';
import { HopSocket } from '../../../rtp-proxy/media/mesh/hop-socket.js';
import { HopSource } from '../../../rtp-proxy/media/mesh/hop-source.js';
import { DemoSource } from '../../../rtp-proxy/media/rtsp/demo-source.js';
import { StreamPath, type PathViewer } from '../../../rtp-proxy/media/rtsp/stream-path.js';
import { hopResourceName, type HopBody } from '../../../src/config/index.js';
import { HopSender } from '../../../src/media/hop/index.js';
import type { MediaSource } from '../../../src/media/source/index.js';
import { rtpHeaderLength, rtpSequenceNumber, rtpSsrc } from '../../../src/protocol/rtp/index.js';
import { generateHopKey } from '../../../src/protocol/srtp/index.js';
import { h264StartsKeyframe } from '../../../src/protocol/video/index.js';
import { requirePeer } from '../../helpers/peers/process.js';
import { rtp } from '../../helpers/udp.js';

const run = promisify(execFile);
const log = pino({ level: 'silent' });
const HOST = '127.0.0.1';
const SESSION = 'camera/cam';
const EDGE = 'proxy-b';

/** Everything a test opened, closed at its end whatever happened (newest first). */
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function cameraPath(createSource: () => MediaSource): StreamPath {
  const path = new StreamPath({
    name: 'cam',
    kind: 'camera',
    createSource,
    alwaysOn: false,
    // No linger ends a source under test: every test closes its paths.
    lingerMs: 600_000,
    describeTimeoutMs: 10_000,
    log,
    now: Date.now,
  });
  closers.push(() => path.close());
  return path;
}

interface Seen {
  readonly at: number;
  readonly ssrc: number;
  readonly seq: number;
  readonly keyframe: boolean;
  /** The RTP marker bit: the last packet of a picture. */
  readonly marker: boolean;
  readonly payload: Buffer;
}

/** A viewer of the edge path that keeps what it got. */
class EdgeViewer implements PathViewer {
  readonly id = 'edge-viewer';
  readonly tracks = new Set([0]);
  readonly packets: Seen[] = [];
  sendRtp(_track: number, packet: Buffer): boolean {
    const payload = Buffer.from(packet.subarray(rtpHeaderLength(packet)));
    this.packets.push({
      at: performance.now(),
      ssrc: rtpSsrc(packet),
      seq: rtpSequenceNumber(packet),
      keyframe: h264StartsKeyframe(payload),
      marker: ((packet[1] ?? 0) & 0x80) !== 0,
      payload,
    });
    return true;
  }
  sendRtcp(): void {
    // Sender reports are not under test here.
  }
  /** Sequence numbers missing between consecutive packets (mod 2^16), summed; a repeat or a step back counts one. */
  missing(): number {
    let missing = 0;
    for (let index = 1; index < this.packets.length; index += 1) {
      const step = ((this.packets[index]?.seq ?? 0) - (this.packets[index - 1]?.seq ?? 0)) & 0xffff;
      if (step !== 1) missing += step === 0 || step >= 0x8000 ? 1 : step - 1;
    }
    return missing;
  }
  since(at: number): Seen[] {
    return this.packets.filter((packet) => packet.at >= at);
  }
}

/** A proxy that owns the camera: its hop socket and its camera path running the demo clip. */
interface Owner {
  readonly node: string;
  readonly socket: HopSocket;
  readonly path: StreamPath;
}

async function owner(node: string): Promise<Owner> {
  const socket = await HopSocket.bind(HOST);
  closers.push(() => socket.close());
  return { node, socket, path: cameraPath(() => new DemoSource()) };
}

/** A hop's body as the control plane would push it, with keys for `epochs`. */
function hopBody(from: Owner, receiverAddress: string, epochs: readonly number[]): HopBody {
  const hopId = hopResourceName(SESSION, from.node, EDGE);
  const notAfter = Date.now() + 3_600_000;
  return {
    hopId,
    session: SESSION,
    sender: from.node,
    receiver: EDGE,
    senderAddress: from.socket.address,
    receiverAddress,
    keys: epochs.map((epoch) => generateHopKey({ hopId, epoch, notAfter })),
    sendEpoch: epochs[0] ?? 1,
  };
}

function feed(body: HopBody, from: Owner): HopFeed {
  const hop = new HopFeed({ body, path: from.path, socket: from.socket, log, now: Date.now });
  closers.push(() => hop.close());
  return hop;
}

/** The edge: its camera path whose source is a HopSource, and a viewer on it. */
interface Edge {
  readonly source: HopSource;
  readonly path: StreamPath;
  readonly viewer: EdgeViewer;
  /** The session's owner as the edge's placements say. */
  owner: string;
}

async function edge(firstOwner: string): Promise<Edge & { address: string }> {
  const state: { owner: string } = { owner: firstOwner };
  const source = new HopSource({
    session: SESSION,
    mediaHost: HOST,
    owner: () => state.owner,
    requestsChanged: () => undefined,
    log,
    now: Date.now,
  });
  closers.push(() => source.close());
  const path = cameraPath(() => source);
  const viewer = new EdgeViewer();
  // Attached before the source is up: whatever the hop delivers first reaches it.
  path.addViewer(viewer);
  await until('the hop source is bound', () => source.address !== undefined, 5_000);
  const address = source.address ?? '';
  return Object.assign(state, { source, path, viewer, address });
}

/** An owner feeding an edge over one hop, the viewer already receiving. */
async function runningHop(epochs: readonly number[] = [1]) {
  const a = await owner('proxy-a');
  const b = await edge(a.node);
  const body = hopBody(a, b.address, epochs);
  b.source.offer([body]);
  const hop = feed(body, a);
  await until('the edge viewer receives', () => b.viewer.packets.length > 50, 10_000);
  return { a, b, body, hop };
}

/** RTP payloads of H.264 (single NAL, STAP-A, FU-A; RFC 6184) as an Annex B stream. */
function annexB(payloads: readonly Buffer[]): Buffer {
  const startCode = Buffer.from([0, 0, 0, 1]);
  const out: Buffer[] = [];
  for (const payload of payloads) {
    const type = (payload[0] ?? 0) & 0x1f;
    if (type >= 1 && type <= 23) {
      out.push(startCode, payload);
    } else if (type === 24) {
      for (let at = 1; at + 2 <= payload.length;) {
        const size = payload.readUInt16BE(at);
        out.push(startCode, payload.subarray(at + 2, at + 2 + size));
        at += 2 + size;
      }
    } else if (type === 28 && payload.length > 2) {
      const indicator = payload[0] ?? 0;
      const header = payload[1] ?? 0;
      if ((header & 0x80) !== 0) {
        out.push(startCode, Buffer.from([(indicator & 0xe0) | (header & 0x1f)]));
      }
      out.push(payload.subarray(2));
    }
  }
  return Buffer.concat(out);
}

/** Frames ffmpeg decodes from the stream; it must report no error. */
async function decodedFrames(stream: Buffer): Promise<number> {
  requirePeer('ffmpeg');
  const dir = await mkdtemp(join(tmpdir(), 'streammesh-camera-hop-'));
  try {
    const file = join(dir, 'edge.h264');
    await writeFile(file, stream);
    const decoded = await run(
      'ffmpeg',
      ['-v', 'error', '-f', 'h264', '-i', file, '-f', 'framemd5', '-'],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
    );
    assert.equal(decoded.stderr.trim(), '', 'ffmpeg decodes the edge stream without an error');
    return decoded.stdout.split('\n').filter((line) => /^0,/.test(line)).length;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function udpSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(0, HOST);
  await once(socket, 'listening');
  closers.push(() => socket.close());
  return socket;
}

function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

function totalDrops(drops: Partial<Record<string, number>>): number {
  return Object.values(drops).reduce<number>((sum, count) => sum + (count ?? 0), 0);
}

describe('a camera stream over a hop between two proxies (real UDP)', () => {
  it('reaches the edge viewer under the edge path SSRC, unbroken, from a keyframe, decodable; the reports come back', async () => {
    const { a, b, hop } = await runningHop();
    // Reports go back every second; the round trip needs an SR of the owner first.
    await until('the owner sees a round trip', () => hop.snapshot().rttMs !== null, 15_000);

    const { packets } = b.viewer;
    assert.ok(packets[0]?.keyframe, 'the first packet the edge viewer gets starts a keyframe');
    assert.equal(b.path.drops.counts.waiting_keyframe ?? 0, 0, 'the hop itself started at one');
    const ssrc = b.path.ssrcOf(0);
    assert.ok(
      packets.every((packet) => packet.ssrc === ssrc),
      "every packet has the edge path's SSRC",
    );
    assert.notEqual(ssrc, a.path.ssrcOf(0));
    assert.equal(b.viewer.missing(), 0, 'sequence numbers continuous');

    const sent = hop.snapshot();
    const received = b.source.snapshot();
    assert.equal(received.active, hop.hopId);
    assert.equal(received.hops.length, 1);
    assert.equal(totalDrops(received.drops), 0, 'the edge dropped nothing');
    assert.equal(totalDrops(received.hops[0]?.drops ?? {}), 0, 'the hop dropped nothing');
    assert.ok(sent.rttMs !== null && sent.rttMs >= 0);
    assert.equal(sent.lossFraction, 0, 'the receiver reported no loss');

    const got = [...packets];
    const frames = await decodedFrames(annexB(got.map(({ payload }) => payload)));
    const pictures = got.filter(({ marker }) => marker).length;
    assert.ok(pictures > 0);
    assert.equal(frames, pictures, 'ffmpeg decodes every picture the edge viewer got');
  });

  it('rotates the key with no packet lost; the reports keep reaching the owner', async () => {
    const a = await owner('proxy-a');
    const b = await edge(a.node);
    // As the control plane does it: epoch 1, then epoch 2 added at both ends, then sent with.
    const both = hopBody(a, b.address, [1, 2]);
    const first = { ...both, keys: both.keys.slice(0, 1) };
    b.source.offer([first]);
    const hop = feed(first, a);
    await until('the edge viewer receives', () => b.viewer.packets.length > 50, 10_000);
    b.source.offer([both]);
    hop.update(both);
    assert.equal(hop.snapshot().epochs.current, 1, 'a new key alone does not move the sender');
    assert.equal(b.source.snapshot().hops[0]?.epochs.next, 2, 'the edge holds the next key');

    const rotatedAt = performance.now();
    hop.update({ ...both, sendEpoch: 2 });
    await until('packets after the rotation', () => b.viewer.since(rotatedAt).length > 50, 5_000);
    await until(
      'the edge switched to epoch 2',
      () => b.source.snapshot().hops[0]?.epochs.current === 2,
      5_000,
    );
    // The edge's reports are now protected under epoch 2: one must arrive and count at the owner.
    const switchedAt = performance.now();
    const lastReportAgeMs = (): number =>
      Math.min(
        ...hop.snapshot().streams.flatMap(({ downstream }) => downstream.map(({ ageMs }) => ageMs)),
      );
    await until(
      'a report under the new key reaches the owner',
      () => lastReportAgeMs() < performance.now() - switchedAt,
      5_000,
    );

    // The control plane's bodies still carry epoch 1 for a while after the edge retired it.
    await until(
      'the edge retires epoch 1',
      () => b.source.snapshot().hops[0]?.epochs.previous === null,
      10_000,
    );
    const retiredAt = performance.now();
    b.source.offer([{ ...both, sendEpoch: 2 }]);
    await until('packets after', () => b.viewer.since(retiredAt).length > 25, 5_000);
    assert.equal(b.source.snapshot().drops.hop_rejected ?? 0, 0, 'the old epoch is no conflict');
    assert.equal(b.source.reconnects, 0, 'the hop did not start over');

    const received = b.source.snapshot().hops[0];
    assert.equal(received?.epochs.current, 2, 'the edge switched to epoch 2');
    assert.equal(hop.snapshot().epochs.current, 2);
    assert.equal(b.viewer.missing(), 0, 'no packet lost at the edge viewer');
    assert.equal(totalDrops(received.drops), 0);
    assert.equal(totalDrops(hop.snapshot().drops), 0, 'the owner refused no report');
  });

  it('drops and counts garbage, a stranger and a wrong key on the edge socket; the stream goes on', async () => {
    const { a, b, body, hop } = await runningHop();
    const to = hostPort(b.address);
    const stranger = await udpSocket();
    const ssrc = a.path.ssrcOf(0) ?? 0;
    const injectedAt = performance.now();

    // From the owner's own address: garbage of each kind the hop tells apart.
    const garbage = [
      Buffer.alloc(3), // too short
      Buffer.alloc(200, 0xff), // not RTP version 2
      Buffer.concat([Buffer.from([0x80, 96]), Buffer.alloc(198, 0)]), // names no epoch held
    ];
    for (const datagram of garbage) a.socket.send(datagram, to);

    // From the owner's address, under a key of the hop's epoch that is not the hop's key.
    const forger = new HopSender({
      key: generateHopKey({ hopId: body.hopId, epoch: 1, notAfter: Date.now() + 60_000 }),
    });
    // From another port, under the hop's own key: a copy of the key is not enough.
    const thief = new HopSender({ key: body.keys[0] ?? assert.fail('a key') });
    const forged = 5;
    for (let index = 0; index < forged; index += 1) {
      // Ahead of the hop's numbering: too old a number would be refused as a replay before
      // its authentication is even checked.
      const sequence = (a.path.position(0)?.sequence ?? 0) + 1_000 + index;
      const plain = rtp({ sequence, ssrc, payload: Buffer.from([0x41, 1, 2]) });
      const wrong = forger.protectRtp(Buffer.from(plain), Date.now());
      const stolen = thief.protectRtp(Buffer.from(plain), Date.now());
      assert.ok(wrong.ok && stolen.ok);
      a.socket.send(wrong.packet, to);
      stranger.send(stolen.packet, to.port, to.host);
    }

    await until(
      'every injected datagram is counted',
      () =>
        totalDrops(b.source.snapshot().hops[0]?.drops ?? {}) >= garbage.length + forged &&
        (b.source.snapshot().drops.unknown_source ?? 0) >= forged,
      5_000,
    );
    await until('the stream goes on', () => b.viewer.since(injectedAt).length > 50, 5_000);

    const received = b.source.snapshot();
    const hopDrops = received.hops[0]?.drops ?? {};
    assert.equal(hopDrops.too_short, 1);
    assert.equal(hopDrops.bad_header, 1);
    assert.equal(hopDrops.unknown_key, 1);
    assert.equal(hopDrops.auth_failed, forged);
    assert.equal(totalDrops(hopDrops), garbage.length + forged, 'nothing else dropped');
    assert.deepEqual(received.drops, { unknown_source: forged });
    assert.equal(b.viewer.missing(), 0, 'no gap, and no injected packet, at the edge viewer');
    assert.equal(hop.snapshot().lossFraction, 0);
  });

  it("switches to a new owner's hop at a keyframe: same SSRC, unbroken numbering, counted", async () => {
    const { b, body, hop } = await runningHop();
    const c = await owner('proxy-c');
    const moved = hopBody(c, b.address, [1]);
    // The placement moves to proxy-c; the control plane adds its hop, then removes the old one.
    b.owner = c.node;
    b.source.offer([body, moved]);
    const newHop = feed(moved, c);
    await until(
      "the new owner's hop is active",
      () => b.source.snapshot().active === moved.hopId,
      10_000,
    );
    const switchedAt = performance.now();
    b.source.offer([moved]);
    hop.close();
    await until('packets from the new owner', () => b.viewer.since(switchedAt).length > 50, 5_000);

    const got = [...b.viewer.packets];
    assert.deepEqual(new Set(got.map((packet) => packet.ssrc)), new Set([b.path.ssrcOf(0)]));
    assert.equal(b.viewer.missing(), 0, 'numbering continues across the switch');
    assert.equal(b.path.drops.counts.waiting_keyframe ?? 0, 0, 'the new hop began at a keyframe');
    const snapshot = b.source.snapshot();
    assert.equal(snapshot.active, moved.hopId);
    assert.deepEqual(
      snapshot.hops.map(({ hopId }) => hopId),
      [moved.hopId],
    );
    assert.equal(b.source.reconnects, 1);
    assert.equal(b.path.snapshot().upstream.reconnects, 1);
    assert.ok(newHop.snapshot().rtpPackets > 0);
    const frames = await decodedFrames(annexB(got.map(({ payload }) => payload)));
    assert.equal(
      frames,
      got.filter(({ marker }) => marker).length,
      'every picture across the switch decodes',
    );
  });

  it("takes a new owner's hop when the old one is removed in the same update (a failover)", async () => {
    const { b, hop } = await runningHop();
    const c = await owner('proxy-c');
    const moved = hopBody(c, b.address, [1]);
    const newHop = feed(moved, c);
    await until('the new owner feeds', () => newHop.snapshot().rtpPackets > 50, 10_000);
    const before = b.viewer.packets.length;
    b.owner = c.node;
    b.source.offer([moved]);
    hop.close();
    await until('packets from the new owner', () => b.viewer.packets.length > before + 50, 5_000);

    assert.deepEqual(
      new Set(b.viewer.packets.map((packet) => packet.ssrc)),
      new Set([b.path.ssrcOf(0)]),
    );
    const resumed = b.viewer.packets.slice(before);
    assert.ok(resumed[0]?.keyframe, 'the viewer resumes at a keyframe');
    // Packets held back until a keyframe give their numbers back (TrackContinuity.withdraw).
    assert.equal(b.viewer.missing(), 0, 'numbering continues across the failover');
    assert.equal(b.source.snapshot().active, moved.hopId);
    assert.equal(b.source.reconnects, 1, 'the lost hop is a reconnect');
    assert.equal(b.path.snapshot().upstream.reconnects, 1);
  });

  it("follows the edge's new receiving address in a newer body of the same hop", async () => {
    // The edge's path lingered out and a viewer came back: a new HopSource on a new port,
    // and the control plane brings the hop's address up to date with the same keys.
    const { a, b, body, hop } = await runningHop();
    const again = await edge(a.node);
    const moved = { ...body, receiverAddress: again.address };
    again.source.offer([moved]);
    await b.path.close();
    const movedAt = performance.now();
    hop.update(moved);
    await until('the new edge viewer receives', () => again.viewer.packets.length > 50, 5_000);
    assert.ok(again.viewer.packets[0]?.keyframe, 'it starts at a keyframe');
    assert.equal(again.viewer.missing(), 0);
    const lastReportAgeMs = (): number =>
      Math.min(
        ...hop.snapshot().streams.flatMap(({ downstream }) => downstream.map(({ ageMs }) => ageMs)),
      );
    await until(
      "the new edge's reports reach the owner",
      () => lastReportAgeMs() < performance.now() - movedAt,
      5_000,
    );
  });

  it("follows the owner's new sending address in a newer body of the same hop", async () => {
    // The owner restarted on another hop port: the same hop, from a new socket, under a
    // new epoch (a new sender must never start over under a key already used).
    const { a, b, body, hop } = await runningHop();
    const restarted = await HopSocket.bind(HOST);
    closers.push(() => restarted.close());
    const next = generateHopKey({ hopId: body.hopId, epoch: 2, notAfter: Date.now() + 60_000 });
    const moved: HopBody = {
      ...body,
      senderAddress: restarted.address,
      keys: [...body.keys, next],
      sendEpoch: 2,
    };
    hop.close();
    b.source.offer([moved]);
    const movedAt = performance.now();
    feed(moved, { ...a, socket: restarted });
    await until(
      'the edge viewer receives from the new address',
      () => b.viewer.since(movedAt).length > 50,
      5_000,
    );
    const received = b.source.snapshot();
    assert.equal(received.drops.unknown_source ?? 0, 0);
    assert.equal(received.hops[0]?.epochs.current, 2);
    assert.equal(b.viewer.missing(), 0);
  });
});
