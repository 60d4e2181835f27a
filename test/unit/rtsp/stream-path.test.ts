/**
 * The fan-out of one RTSP path, driven by a scripted in-process source (the
 * real sources and peers are in the other RTSP tests): late joiners and slow
 * viewers restart at a keyframe without disturbing others, viewers survive
 * the source going down, on-demand sources linger then close, publisher
 * paths take one publisher at a time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSdp } from '../../../src/protocol/sdp/index.js';
import { pino } from 'pino';
import {
  describeTracks,
  type MediaSource,
  type SourceDescription,
  type SourceListener,
  type SourceState,
} from '../../../src/media/source/media-source.js';
import {
  PathUnavailableError,
  StreamPath,
  type PathOptions,
  type PathViewer,
} from '../../../rtp-proxy/media/rtsp/stream-path.js';
import {
  InterleavedTrackTransport,
  MAX_INTERLEAVED_BACKLOG,
} from '../../../rtp-proxy/media/rtsp/track-transport.js';
import { rtp, sleep } from '../../helpers/udp.js';

const SDP = parseSdp(
  'v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=cam\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n',
);
if (!SDP.ok) throw new Error('test SDP');
const DESCRIPTION: SourceDescription = { sdp: SDP.sdp, tracks: describeTracks(SDP.sdp) };

/** Scripted source: the test says when it is ready, what it sends, when it goes down. */
class ScriptedSource implements MediaSource {
  state: SourceState = 'idle';
  readonly transport = null;
  reconnects = 0;
  lastError: string | null = null;
  listener: SourceListener | undefined;
  closed = false;
  start(listener: SourceListener): void {
    this.listener = listener;
    this.state = 'connecting';
  }
  close(): Promise<void> {
    this.closed = true;
    this.state = 'closed';
    return Promise.resolve();
  }
}

/** H.264 RTP: NAL type 7 (SPS) starts a keyframe, type 1 does not. */
function h264(sequence: number, keyframe: boolean): Buffer {
  return rtp({ sequence, ssrc: 42, payload: Buffer.from([keyframe ? 0x67 : 0x41, 1, 2, 3]) });
}

class RecordingViewer implements PathViewer {
  readonly tracks = new Set([0]);
  readonly received: number[] = [];
  accept = true;
  constructor(readonly id: string) {}
  sendRtp(_track: number, packet: Buffer): boolean {
    if (!this.accept) return false;
    this.received.push(packet[12] === 0x67 ? 1 : 0);
    return true;
  }
  sendRtcp(): void {
    // Not under test here.
  }
}

function makePath(overrides: Partial<PathOptions> = {}): {
  path: StreamPath;
  sources: ScriptedSource[];
} {
  const sources: ScriptedSource[] = [];
  const path = new StreamPath({
    name: 'cam',
    kind: 'camera',
    alwaysOn: false,
    lingerMs: 50,
    describeTimeoutMs: 200,
    log: pino({ level: 'silent' }),
    now: () => performance.now(),
    createSource: () => {
      const source = new ScriptedSource();
      sources.push(source);
      return source;
    },
    ...overrides,
  });
  return { path, sources };
}

describe('StreamPath', () => {
  it('starts a late joiner at the next keyframe, the early viewer gets everything', async () => {
    const { path, sources } = makePath();
    const early = new RecordingViewer('early');
    path.addViewer(early);
    const source = sources[0];
    assert.ok(source?.listener);
    source.listener.ready(DESCRIPTION);
    let seq = 1;
    const send = (keyframe: boolean): void => source.listener?.rtp(0, h264(seq++, keyframe));
    send(true);
    send(false);
    const late = new RecordingViewer('late');
    path.addViewer(late);
    send(false);
    send(false);
    send(true);
    send(false);
    assert.deepEqual(early.received, [1, 0, 0, 0, 1, 0]);
    assert.deepEqual(late.received, [1, 0], 'first packet of the late joiner is a keyframe');
    assert.equal(path.snapshot().drops.waiting_keyframe, 2);
    await path.close();
  });

  it('restarts a slow viewer at a keyframe after a drop, without touching the others', async () => {
    const { path, sources } = makePath();
    const slow = new RecordingViewer('slow');
    const fast = new RecordingViewer('fast');
    path.addViewer(slow);
    path.addViewer(fast);
    const listener = sources[0]?.listener;
    assert.ok(listener);
    listener.ready(DESCRIPTION);
    let seq = 1;
    listener.rtp(0, h264(seq++, true));
    slow.accept = false;
    listener.rtp(0, h264(seq++, false)); // dropped for the slow one
    slow.accept = true;
    listener.rtp(0, h264(seq++, false)); // held back: it would not decode
    listener.rtp(0, h264(seq++, true));
    assert.deepEqual(slow.received, [1, 1]);
    assert.deepEqual(fast.received, [1, 0, 0, 1]);
    assert.equal(path.snapshot().drops.slow_viewer, 1);
    await path.close();
  });

  it('restarts a viewer at a keyframe when told it lost packets elsewhere (its worker restarted)', async () => {
    const { path, sources } = makePath();
    const moved = new RecordingViewer('moved');
    const other = new RecordingViewer('other');
    path.addViewer(moved);
    path.addViewer(other);
    const listener = sources[0]?.listener;
    assert.ok(listener);
    listener.ready(DESCRIPTION);
    let seq = 1;
    listener.rtp(0, h264(seq++, true));
    listener.rtp(0, h264(seq++, false));
    path.restartAtKeyframe(moved, 0);
    listener.rtp(0, h264(seq++, false)); // held back for the moved one
    listener.rtp(0, h264(seq++, true));
    assert.deepEqual(moved.received, [1, 0, 1]);
    assert.deepEqual(other.received, [1, 0, 0, 1]);
    path.restartAtKeyframe(new RecordingViewer('not a viewer'), 0); // ignored
    await path.close();
  });

  it('keeps viewers attached while the source is down and counts the outage', async () => {
    const { path, sources } = makePath();
    const viewer = new RecordingViewer('v');
    path.addViewer(viewer);
    const listener = sources[0]?.listener;
    assert.ok(listener);
    listener.ready(DESCRIPTION);
    listener.rtp(0, h264(1, true));
    listener.down('camera gone');
    assert.equal(path.state, 'down');
    await sleep(30);
    listener.ready(DESCRIPTION);
    listener.rtp(0, rtp({ sequence: 900, ssrc: 77, payload: Buffer.from([0x67, 0]) }));
    const snapshot = path.snapshot();
    assert.equal(snapshot.upstream.state, 'up');
    assert.equal(snapshot.upstream.outages, 1);
    assert.ok(snapshot.upstream.outageMs >= 25);
    assert.deepEqual(viewer.received, [1, 1]);
    assert.equal(snapshot.viewers, 1);
    await path.close();
  });

  it('closes an on-demand source a linger after the last viewer; always-on stays', async () => {
    const { path, sources } = makePath();
    const viewer = new RecordingViewer('v');
    path.addViewer(viewer);
    const source = sources[0];
    assert.ok(source);
    source.listener?.ready(DESCRIPTION);
    path.removeViewer(viewer);
    await sleep(20);
    assert.equal(source.closed, false, 'still lingering');
    await sleep(100);
    assert.ok(source.closed, 'closed after the linger');
    assert.equal(path.state, 'idle');
    await path.close();

    const always = makePath({ alwaysOn: true });
    assert.equal(always.sources.length, 1, 'started without viewers');
    await sleep(100);
    assert.equal(always.sources[0]?.closed, false);
    await always.path.close();
  });

  it('answers DESCRIBE once the source is up, or fails when it does not come up', async () => {
    const { path, sources } = makePath();
    const pending = path.describe();
    sources[0]?.listener?.ready(DESCRIPTION);
    assert.equal(await pending, DESCRIPTION);
    await path.close();
    const silent = makePath();
    await assert.rejects(silent.path.describe(), PathUnavailableError);
    await silent.path.close();
  });

  it('takes one publisher at a time and frees the path when it leaves', async () => {
    const { path } = makePath({ kind: 'publisher' });
    await assert.rejects(path.describe(), /no one is publishing/);
    const first = new ScriptedSource();
    path.attachPublisher(first);
    first.listener?.ready(DESCRIPTION);
    assert.throws(() => {
      path.attachPublisher(new ScriptedSource());
    }, /already publishing/);
    first.listener?.down('publisher left');
    path.attachPublisher(new ScriptedSource());
    await path.close();
  });
});

describe('InterleavedTrackTransport', () => {
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('writes the frames of one event-loop turn with one call per connection', async () => {
    const writes: Buffer[] = [];
    const writer = { writableLength: 0, write: (frame: Buffer) => writes.push(frame) };
    const transport = new InterleavedTrackTransport(writer, [2, 3]);
    assert.equal(transport.sendRtp(Buffer.from([1, 2, 3])), true);
    transport.sendRtcp(Buffer.from([9]));
    assert.equal(writes.length, 0, 'nothing written before the turn ends');
    await turn();
    assert.deepEqual([...(writes[0] ?? [])], [0x24, 2, 0, 3, 1, 2, 3, 0x24, 3, 0, 1, 9]);
    assert.equal(writes.length, 1);
  });

  it('shares one frame of a packet between viewers on the same channel', async () => {
    const a: Buffer[] = [];
    const b: Buffer[] = [];
    const packet = Buffer.from([7, 7]);
    new InterleavedTrackTransport({ writableLength: 0, write: (f) => a.push(f) }, [0, 1]).sendRtp(
      packet,
    );
    new InterleavedTrackTransport({ writableLength: 0, write: (f) => b.push(f) }, [0, 1]).sendRtp(
      packet,
    );
    await turn();
    assert.equal(a[0], b[0], 'the same Buffer');
  });

  it('drops instead of queueing without bound when the client does not read', async () => {
    const writes: Buffer[] = [];
    const writer = {
      writableLength: MAX_INTERLEAVED_BACKLOG - 10,
      write: (f: Buffer) => writes.push(f),
    };
    const transport = new InterleavedTrackTransport(writer, [0, 1]);
    assert.equal(transport.sendRtp(Buffer.alloc(100)), true);
    // The batch not yet written counts towards the backlog.
    assert.equal(transport.sendRtp(Buffer.alloc(100)), false);
    await turn();
    assert.equal(writes.length, 1);
  });
});
