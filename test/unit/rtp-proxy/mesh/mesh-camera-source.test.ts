/**
 * MeshCameraSource, driven by scripted inner sources and a scripted role: it
 * runs the camera, a hop or nothing as role() says at each follow(); a switch
 * from a source that is up makes before it breaks (the new inner takes over
 * at its first keyframe after its ready(), or at the deadline, and only then
 * is the old one closed); a source that is not up is replaced at once, with
 * down() only when it was up; whatever a replaced inner still says is
 * ignored; close() closes the inner and calls onClose once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MeshCameraSource,
  SWITCH_DEADLINE_MS,
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
    // Scripted one-byte packets say their byte; RTP packets say their sequence number.
    this.events.push(
      packet.length >= 12
        ? `rtp ${track} seq ${packet.readUInt16BE(2)}`
        : `rtp ${track} ${packet[0]}`,
    );
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

/** An RTP packet whose payload starts with NAL header `nal` (0x67 SPS, 0x65 IDR, 0x41 P slice). */
function rtpWith(nal: number, seq: number): Buffer {
  const packet = Buffer.alloc(16);
  packet[0] = 0x80;
  packet[1] = 96;
  packet.writeUInt16BE(seq, 2);
  packet[12] = nal;
  return packet;
}

function meshSource(firstRole: MeshRole, now: () => number = () => 0) {
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
    now,
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

  it('a switch makes before it breaks: the old inner plays until the new one delivers a keyframe', () => {
    const mesh = meshSource('camera');
    mesh.source.start(mesh.listener);
    const camera = mesh.last();
    camera.to.ready(DESCRIPTION);
    mesh.become('edge');
    const hop = mesh.last();
    assert.equal(hop.kind, 'edge');
    assert.equal(camera.closes, 0, 'the camera keeps playing while the hop starts');
    camera.to.rtp(0, rtpWith(0x41, 1));
    hop.to.rtp(0, rtpWith(0x65, 2)); // before its ready(): held back
    hop.to.ready(DESCRIPTION);
    hop.to.rtp(0, rtpWith(0x41, 3)); // not a keyframe: held back
    camera.to.rtp(0, rtpWith(0x41, 4));
    hop.to.rtp(0, rtpWith(0x67, 5)); // SPS: the hop takes over here
    camera.to.rtp(0, rtpWith(0x41, 6)); // the old one is closed and no longer heard
    hop.to.rtp(0, rtpWith(0x41, 7));
    assert.deepEqual(mesh.listener.events, [
      'ready',
      'rtp 0 seq 1',
      'rtp 0 seq 4',
      'ready',
      'rtp 0 seq 5',
      'rtp 0 seq 7',
    ]);
    assert.equal(camera.closes, 1, 'the camera is let go once the hop took over');
    assert.equal(mesh.source.inner, hop);

    // A new inner that shows no keyframe takes over at the deadline anyway.
    const slow = meshSource('camera', () => clock);
    let clock = 0;
    slow.source.start(slow.listener);
    slow.last().to.ready(DESCRIPTION);
    slow.become('edge');
    slow.last().to.ready(DESCRIPTION);
    slow.last().to.rtp(0, rtpWith(0x41, 10));
    clock = SWITCH_DEADLINE_MS;
    slow.last().to.rtp(0, rtpWith(0x41, 11));
    assert.deepEqual(slow.listener.events, ['ready', 'ready', 'rtp 0 seq 11']);
  });

  it('a source that was not up is replaced at once, and down() only when it was up', () => {
    const mesh = meshSource('camera');
    mesh.source.start(mesh.listener);
    mesh.last().to.ready(DESCRIPTION);
    mesh.last().to.down('camera gone');
    mesh.become('edge');
    assert.equal(mesh.made[0]?.closes, 1, 'a camera that is down is closed at once');
    assert.deepEqual(mesh.listener.events, ['ready', 'down camera gone']);
    mesh.last().to.ready(DESCRIPTION);
    assert.deepEqual(mesh.listener.events.slice(2), ['ready']);

    // Unplaced while up: down() at once.
    mesh.become('unplaced');
    assert.deepEqual(mesh.listener.events.slice(3), ['down the camera is not placed']);

    // A hop that never came up is replaced without a down().
    const fresh = meshSource('edge');
    fresh.source.start(fresh.listener);
    fresh.become('camera');
    assert.deepEqual(fresh.listener.events, []);
  });

  it('ignores whatever a replaced or superseded inner still says', () => {
    const mesh = meshSource('camera');
    mesh.source.start(mesh.listener);
    const camera = mesh.last();
    camera.to.ready(DESCRIPTION);
    mesh.become('edge');
    const hop = mesh.last();
    hop.to.ready(DESCRIPTION);
    hop.to.rtp(0, rtpWith(0x67, 1));
    const before = [...mesh.listener.events];
    camera.to.ready(DESCRIPTION);
    camera.to.rtp(0, rtpWith(0x67, 9));
    camera.to.rtcp(0, Buffer.from([9]));
    camera.to.down('late');
    camera.to.failed?.({ message: 'late', code: 'ERR_TEST' });
    assert.deepEqual(mesh.listener.events, before);
    // A switch superseded before it took over: the half-started source is closed and not heard,
    // and going back to the running source's role starts nothing.
    mesh.become('camera');
    const superseded = mesh.last();
    mesh.become('edge');
    assert.equal(superseded.closes, 1);
    assert.equal(mesh.last(), superseded, 'no new hop: the running one stays');
    assert.equal(mesh.source.inner, hop);
    assert.equal(hop.closes, 0);
    superseded.to.ready(DESCRIPTION);
    superseded.to.rtp(0, rtpWith(0x67, 12));
    assert.deepEqual(mesh.listener.events, before);
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
