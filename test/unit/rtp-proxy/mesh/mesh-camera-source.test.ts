/**
 * MeshCameraSource, driven by scripted inner sources and a scripted role: it
 * runs the camera, a hop or nothing as role() says at each follow(); the
 * path above sees one source that went down (only if it was up) and came
 * back with the new inner's ready(); whatever a replaced inner still says is
 * ignored; close() closes the inner and calls onClose once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MeshCameraSource,
  type MeshRole,
} from '../../../../rtp-proxy/media/mesh/mesh-camera-source.js';
import {
  describeTracks,
  type MediaSource,
  type SourceDescription,
  type SourceListener,
  type SourceState,
} from '../../../../src/media/source/index.js';
import { parseSdp } from '../../../../src/protocol/sdp/index.js';

const SDP = parseSdp(
  'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=cam\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n',
);
if (!SDP.ok) throw new Error('test SDP');
const DESCRIPTION: SourceDescription = { sdp: SDP.sdp, tracks: describeTracks(SDP.sdp) };

/** A source the test drives: it says what the test makes it say. */
class ScriptedSource implements MediaSource {
  state: SourceState = 'idle';
  readonly transport = 'udp' as const;
  reconnects = 0;
  lastError: string | null = null;
  listener: SourceListener | undefined;
  closes = 0;
  constructor(readonly kind: 'camera' | 'edge') {}
  start(listener: SourceListener): void {
    this.listener = listener;
    this.state = 'connecting';
  }
  close(): Promise<void> {
    this.closes += 1;
    this.state = 'closed';
    return Promise.resolve();
  }
  /** The listener it was started with (the test fails if it was not started). */
  get to(): SourceListener {
    assert.ok(this.listener, `${this.kind} source started`);
    return this.listener;
  }
}

/** What the path above hears, in order. */
class RecordingListener implements SourceListener {
  readonly events: string[] = [];
  ready(): void {
    this.events.push('ready');
  }
  rtp(track: number, packet: Buffer): void {
    this.events.push(`rtp ${track} ${packet[0]}`);
  }
  rtcp(track: number, packet: Buffer): void {
    this.events.push(`rtcp ${track} ${packet[0]}`);
  }
  down(reason: string): void {
    this.events.push(`down ${reason}`);
  }
  failed(failure: { message: string }): void {
    this.events.push(`failed ${failure.message}`);
  }
}

function meshSource(firstRole: MeshRole) {
  let role = firstRole;
  const made: ScriptedSource[] = [];
  let onClose = 0;
  const source = new MeshCameraSource({
    role: () => role,
    camera: () => {
      const camera = new ScriptedSource('camera');
      made.push(camera);
      return camera;
    },
    edge: () => {
      const edge = new ScriptedSource('edge');
      made.push(edge);
      return edge;
    },
    onClose: () => (onClose += 1),
  });
  const listener = new RecordingListener();
  return {
    source,
    listener,
    made,
    onCloses: () => onClose,
    /** The role changes and the mesh follows it. */
    become(next: MeshRole): void {
      role = next;
      source.follow();
    },
    last(): ScriptedSource {
      const inner = made.at(-1);
      assert.ok(inner, 'an inner source was made');
      return inner;
    },
  };
}

describe('MeshCameraSource', () => {
  it('runs the camera, then a hop, then nothing, as the role says', () => {
    const mesh = meshSource('camera');
    mesh.source.start(mesh.listener);
    assert.equal(mesh.last().kind, 'camera');
    assert.equal(mesh.source.inner, mesh.last());

    mesh.become('edge');
    assert.deepEqual(
      mesh.made.map(({ kind }) => kind),
      ['camera', 'edge'],
    );
    assert.equal(mesh.made[0]?.closes, 1, 'the camera is closed when the hop starts');
    assert.equal(mesh.source.inner, mesh.last());

    mesh.become('unplaced');
    assert.equal(mesh.last().closes, 1, 'the hop is closed while unplaced');
    assert.equal(mesh.source.inner, undefined);
    assert.equal(mesh.source.state, 'connecting');
    assert.match(mesh.source.lastError ?? '', /waiting for the control plane/);

    mesh.become('camera');
    assert.deepEqual(
      mesh.made.map(({ kind }) => kind),
      ['camera', 'edge', 'camera'],
    );
  });

  it('does nothing when follow() finds the role unchanged, or before start()', () => {
    const mesh = meshSource('edge');
    mesh.source.follow();
    assert.equal(mesh.made.length, 0, 'not started: nothing runs');
    mesh.source.start(mesh.listener);
    mesh.become('edge');
    mesh.become('edge');
    assert.equal(mesh.made.length, 1);
    assert.equal(mesh.last().closes, 0);
  });

  it('forwards the running inner: ready, rtp, rtcp, down, failed', () => {
    const mesh = meshSource('camera');
    mesh.source.start(mesh.listener);
    const camera = mesh.last();
    camera.to.failed?.({ message: 'refused', code: 'ERR_TEST' });
    camera.to.ready(DESCRIPTION);
    camera.to.rtp(0, Buffer.from([1]));
    camera.to.rtcp(0, Buffer.from([2]));
    camera.to.down('camera gone');
    assert.deepEqual(mesh.listener.events, [
      'failed refused',
      'ready',
      'rtp 0 1',
      'rtcp 0 2',
      'down camera gone',
    ]);
  });

  it('a switch is down() then the new inner ready(), and down() only when it was up', () => {
    const mesh = meshSource('camera');
    mesh.source.start(mesh.listener);
    mesh.last().to.ready(DESCRIPTION);
    mesh.become('edge');
    assert.deepEqual(mesh.listener.events, ['ready', 'down the camera moved to another proxy']);
    mesh.last().to.ready(DESCRIPTION);
    mesh.last().to.rtp(0, Buffer.from([3]));
    assert.deepEqual(mesh.listener.events.slice(2), ['ready', 'rtp 0 3']);

    // The hop goes down by itself, then the camera comes here: no second down().
    mesh.last().to.down('hop removed');
    mesh.become('camera');
    assert.deepEqual(mesh.listener.events.slice(4), ['down hop removed']);
    mesh.last().to.ready(DESCRIPTION);
    assert.deepEqual(mesh.listener.events.slice(5), ['ready']);

    // A hop that never came up is replaced without a down().
    const fresh = meshSource('edge');
    fresh.source.start(fresh.listener);
    fresh.become('camera');
    assert.deepEqual(fresh.listener.events, []);
  });

  it('ignores whatever a replaced inner still says', () => {
    const mesh = meshSource('camera');
    mesh.source.start(mesh.listener);
    const camera = mesh.last();
    camera.to.ready(DESCRIPTION);
    mesh.become('edge');
    const before = [...mesh.listener.events];
    camera.to.ready(DESCRIPTION);
    camera.to.rtp(0, Buffer.from([9]));
    camera.to.rtcp(0, Buffer.from([9]));
    camera.to.down('late');
    camera.to.failed?.({ message: 'late', code: 'ERR_TEST' });
    assert.deepEqual(mesh.listener.events, before);
    // And its late ready() did not make the source "up": the hop's first ready is the next event.
    mesh.become('camera');
    assert.deepEqual(mesh.listener.events, before, 'no down() for a hop that never came up');
  });

  it('counts the reconnects of every inner it ran', () => {
    const mesh = meshSource('camera');
    mesh.source.start(mesh.listener);
    mesh.last().reconnects = 2;
    mesh.become('edge');
    mesh.last().reconnects = 3;
    assert.equal(mesh.source.reconnects, 5);
    mesh.become('unplaced');
    assert.equal(mesh.source.reconnects, 5);
  });

  it('close() closes the inner, calls onClose once, and ends following', async () => {
    const mesh = meshSource('camera');
    mesh.source.start(mesh.listener);
    const camera = mesh.last();
    camera.to.ready(DESCRIPTION);
    await mesh.source.close();
    await mesh.source.close();
    assert.equal(camera.closes, 1);
    assert.equal(mesh.onCloses(), 1);
    assert.equal(mesh.source.state, 'closed');
    assert.equal(mesh.source.inner, undefined);
    camera.to.rtp(0, Buffer.from([4]));
    mesh.become('edge');
    assert.equal(mesh.made.length, 1, 'a closed source starts nothing');
    assert.deepEqual(mesh.listener.events, ['ready']);
  });
});
