/**
 * Two proxies' camera meshes (CameraMesh) in one process, driven through
 * their MeshStates as the node drives them, with no control plane: the test
 * plays it, committing PLACEMENT and MEDIA_KEY resources to both nodes. The
 * camera path on each proxy is the one the RTSP service would make (its
 * source from CameraMesh.cameraSource, the demo clip as the camera).
 *
 * What must hold: the edge asks for the stream (a hop request with its
 * receiving address), pulls nothing itself and gets the owner's stream once
 * the hop is pushed; when the placement moves to the edge and the hop goes
 * in the same update, the edge pulls the camera itself, its viewer keeps its
 * SSRC and numbering, and the old owner, now an edge, asks for a hop in turn;
 * a config update that replaces the owner's path does not stop the hop; and
 * in a drain to a third proxy the old owner's hop keeps the edge fed until
 * the new owner's takes over, and the old owner lets the camera go only once
 * a hop from the new owner delivers to it.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { CameraMesh } from '../../../rtp-proxy/media/mesh/index.js';
import { DemoSource } from '../../../rtp-proxy/media/rtsp/demo-source.js';
import { StreamPath, type PathViewer } from '../../../rtp-proxy/media/rtsp/stream-path.js';
import {
  hopResource,
  hopResourceName,
  placementResource,
  type HopBody,
  type PushedResource,
} from '../../../src/config/index.js';
import { MeshState } from '../../../src/node-agent/index.js';
import type { WireResource, WireResourceRef } from '../../../src/protocol/mesh/index.js';
import { rtpSequenceNumber, rtpSsrc } from '../../../src/protocol/rtp/index.js';
import { generateHopKey } from '../../../src/protocol/srtp/index.js';

const log = pino({ level: 'silent' });
const HOST = '127.0.0.1';
const SESSION = 'camera/cam';

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

const wire = (resource: PushedResource): WireResource => ({
  type: resource.type,
  name: resource.name,
  version: resource.version,
  order: resource.order,
  bodyJson: JSON.stringify(resource.body),
});

const placed = (node: string): WireResource =>
  wire(placementResource(SESSION, { node, since: new Date().toISOString(), reason: 'placed' }));

/** One proxy: its MeshState, CameraMesh and camera path `cam`, and the cameras it pulled. */
interface Proxy {
  readonly id: string;
  readonly state: MeshState;
  readonly mesh: CameraMesh;
  readonly path: StreamPath;
  /** Demo sources started as this proxy's camera. */
  readonly pulls: DemoSource[];
  replacePath(): Promise<StreamPath>;
}

async function proxy(id: string): Promise<Proxy> {
  const state = new MeshState(id);
  const pulls: DemoSource[] = [];
  const holder: { path?: StreamPath } = {};
  const mesh = new CameraMesh({
    nodeId: id,
    meshState: state,
    placesSessions: () => true,
    requestsChanged: () => undefined,
    pathNamed: (name) => (name === 'cam' ? holder.path : undefined),
    log,
  });
  closers.push(() => mesh.close());
  await mesh.listen(HOST);
  const makePath = (): StreamPath => {
    const path = new StreamPath({
      name: 'cam',
      kind: 'camera',
      createSource: () =>
        mesh.cameraSource(
          'cam',
          () => {
            const camera = new DemoSource();
            pulls.push(camera);
            return camera;
          },
          HOST,
        ),
      alwaysOn: false,
      lingerMs: 600_000,
      describeTimeoutMs: 10_000,
      log,
      now: Date.now,
    });
    holder.path = path;
    closers.push(() => path.close());
    return path;
  };
  const path = makePath();
  return {
    id,
    state,
    mesh,
    path,
    pulls,
    // A config update that changes the path's settings: the RTSP service makes a new one.
    replacePath: async () => {
      await holder.path?.close();
      return makePath();
    },
  };
}

/** Commits an update to every node, as the control plane pushes it. */
function push(nodes: readonly Proxy[], resources: WireResource[], removed: WireResourceRef[] = []) {
  for (const { state } of nodes) {
    const staged = state.stage({ nonce: 'n', systemVersion: 'sv', resources, removed });
    assert.deepEqual(staged.issues, []);
    state.commit(staged);
  }
}

class Viewer implements PathViewer {
  readonly id = 'viewer';
  readonly tracks = new Set([0]);
  readonly packets: { at: number; ssrc: number; seq: number }[] = [];
  sendRtp(_track: number, packet: Buffer): boolean {
    const at = performance.now();
    this.packets.push({ at, ssrc: rtpSsrc(packet), seq: rtpSequenceNumber(packet) });
    return true;
  }
  sendRtcp(): void {
    // Not under test here.
  }
  between(from: number, to: number): number {
    return this.packets.filter(({ at }) => at >= from && at < to).length;
  }
  missing(): number {
    let missing = 0;
    for (let index = 1; index < this.packets.length; index += 1) {
      const step = ((this.packets[index]?.seq ?? 0) - (this.packets[index - 1]?.seq ?? 0)) & 0xffff;
      if (step !== 1) missing += step === 0 || step >= 0x8000 ? 1 : step - 1;
    }
    return missing;
  }
}

function hopBody(sender: Proxy, receiver: Proxy, receiverAddress: string): HopBody {
  const hopId = hopResourceName(SESSION, sender.id, receiver.id);
  return {
    hopId,
    session: SESSION,
    sender: sender.id,
    receiver: receiver.id,
    senderAddress: sender.mesh.address ?? assert.fail('the sender listens'),
    receiverAddress,
    keys: [generateHopKey({ hopId, epoch: 1, notAfter: Date.now() + 3_600_000 })],
    sendEpoch: 1,
  };
}

describe('camera meshes of proxies, driven through their MeshStates', () => {
  it('the edge takes the owner stream over a hop; after a failover it pulls the camera itself', async () => {
    const a = await proxy('proxy-a');
    const b = await proxy('proxy-b');
    push([a, b], [placed(a.id)]);

    const viewer = new Viewer();
    b.path.addViewer(viewer);
    await until('the edge asks for the stream', () => b.mesh.requests().length === 1, 5_000);
    const [request] = b.mesh.requests();
    assert.equal(request?.session, SESSION);
    assert.equal(b.pulls.length, 0, 'the edge pulls nothing itself');

    const body = hopBody(a, b, request.address);
    push([a, b], [wire(hopResource(body))]);
    await until('the edge viewer receives', () => viewer.packets.length > 50, 10_000);
    assert.equal(a.pulls.length, 1, 'the owner pulls the camera once, for the hop');
    assert.equal(b.pulls.length, 0);
    assert.equal(a.mesh.snapshot().sending.length, 1);
    assert.equal(b.mesh.snapshot().receiving[0]?.active, body.hopId);
    assert.ok((b.mesh.stats()[0]?.rtpPackets ?? 0) > 0);

    // proxy-a fails: the session moves to proxy-b and the hop goes, in one update.
    const before = viewer.packets.length;
    push([a, b], [placed(b.id)], [{ type: 'MEDIA_KEY', name: body.hopId, version: '' }]);
    await until(
      'the viewer gets the camera pulled here',
      () => viewer.packets.length > before + 50,
      10_000,
    );
    assert.equal(b.pulls.length, 1, 'the new owner pulls the camera');
    assert.deepEqual(new Set(viewer.packets.map(({ ssrc }) => ssrc)), new Set([b.path.ssrcOf(0)]));
    assert.equal(viewer.missing(), 0, 'numbering continues across the failover');
    assert.deepEqual(b.mesh.requests(), [], 'the new owner asks for no hop');
    assert.equal(a.mesh.snapshot().sending.length, 0, 'the old owner feeds no more');
    await until(
      'the old owner, now an edge, asks for a hop',
      () => a.mesh.requests().length === 1,
      5_000,
    );
  });

  it("keeps feeding the edge after a config update replaced the owner's path", async () => {
    const a = await proxy('proxy-a');
    const b = await proxy('proxy-b');
    push([a, b], [placed(a.id)]);
    const viewer = new Viewer();
    b.path.addViewer(viewer);
    await until('the edge asks for the stream', () => b.mesh.requests().length === 1, 5_000);
    const body = hopBody(a, b, b.mesh.requests()[0]?.address ?? '');
    push([a, b], [wire(hopResource(body))]);
    await until('the edge viewer receives', () => viewer.packets.length > 50, 10_000);

    await a.replacePath();
    const before = viewer.packets.length;
    await until(
      'the edge viewer receives from the new path',
      () => viewer.packets.length > before + 50,
      10_000,
    );
    assert.equal(a.mesh.snapshot().sending.length, 1);
    assert.deepEqual(new Set(viewer.packets.map(({ ssrc }) => ssrc)), new Set([b.path.ssrcOf(0)]));
    assert.equal(viewer.missing(), 0, 'numbering continues');
    assert.equal(b.mesh.snapshot().receiving[0]?.drops.hop_rejected ?? 0, 0, 'the hop went on');
  });

  it('a drained owner keeps pulling while its hop hands over to the new owner', async () => {
    const a = await proxy('proxy-a');
    const b = await proxy('proxy-b');
    const c = await proxy('proxy-c');
    push([a, b, c], [placed(a.id)]);
    const viewer = new Viewer();
    b.path.addViewer(viewer);
    await until('the edge asks for the stream', () => b.mesh.requests().length === 1, 5_000);
    const address = b.mesh.requests()[0]?.address ?? '';
    const fromA = hopBody(a, b, address);
    push([a, b], [wire(hopResource(fromA))]);
    await until('the edge viewer receives', () => viewer.packets.length > 50, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    // The drain: the session moves to proxy-c, whose hop is added; proxy-a's stays for the handover.
    const drainedAt = performance.now();
    const steadyRate = viewer.between(drainedAt - 1_000, drainedAt) / 1_000;
    const fromC = hopBody(c, b, address);
    push([a], [placed(c.id)]);
    push([b, c], [placed(c.id), wire(hopResource(fromC))]);
    await until(
      "proxy-c's hop takes over",
      () => b.mesh.snapshot().receiving[0]?.active === fromC.hopId,
      10_000,
    );
    const switchedAt = performance.now();
    const pulledByA = (): string | undefined => a.pulls[0]?.state;
    assert.equal(pulledByA(), 'playing', 'proxy-a still pulls while its hop is held');
    const expected = steadyRate * (switchedAt - drainedAt);
    assert.ok(
      viewer.between(drainedAt, switchedAt) >= expected / 2,
      `the old hop kept the viewer fed until the switch: ${viewer.between(drainedAt, switchedAt)} packets in ${Math.round(switchedAt - drainedAt)} ms, ${Math.round(expected)} at the steady rate`,
    );

    // The handover is over: proxy-a's hop goes. proxy-a, an edge now, asks for a hop for
    // its own path and keeps pulling until that hop delivers (make before break).
    push([a, b], [], [{ type: 'MEDIA_KEY', name: fromA.hopId, version: '' }]);
    await until('proxy-a asks for a hop', () => a.mesh.requests().length === 1, 5_000);
    assert.equal(pulledByA(), 'playing');
    const toA = hopBody(c, a, a.mesh.requests()[0]?.address ?? '');
    push([a, c], [wire(hopResource(toA))]);
    await until(
      "proxy-a lets go once proxy-c's hop delivers",
      () => pulledByA() === 'closed',
      5_000,
    );
    assert.equal(a.mesh.snapshot().receiving[0]?.active, toA.hopId);
    assert.equal(viewer.missing(), 0);
    assert.equal(b.pulls.length, 0);
    assert.equal(c.pulls.length, 1);
  });
});
