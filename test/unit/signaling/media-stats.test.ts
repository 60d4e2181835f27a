/**
 * The media stats snapshot: streams grouped into peers and rooms, and the
 * Prometheus view of it, where a closed stream's series disappear. (The
 * sampling itself runs against real mediasoup streams in the WHIP/WHEP and
 * browser tests.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  registerMediaMetrics,
  summarize,
  type MediaStatsSnapshot,
  type PipeStreamStats,
  type StreamStats,
} from '../../../signaling/stats/index.js';

function stream(overrides: Partial<StreamStats>): StreamStats {
  return {
    id: 'x',
    direction: 'in',
    room: 'r1',
    peer: 'alice',
    kind: 'video',
    mimeType: 'video/VP8',
    producerId: undefined,
    bitrateBps: 0,
    packets: 0,
    packetsLost: 0,
    fractionLost: 0,
    jitterSeconds: undefined,
    score: 10,
    nackCount: 0,
    pliCount: 0,
    firCount: 0,
    roundTripTimeSeconds: undefined,
    ...overrides,
  };
}

describe('media stats', () => {
  const streams = [
    stream({ id: 'p1', peer: 'alice', bitrateBps: 1000, jitterSeconds: 0.002 }),
    stream({ id: 'p2', peer: 'alice', kind: 'audio', bitrateBps: 50 }),
    stream({ id: 'c1', peer: 'bob', direction: 'out', producerId: 'p1', bitrateBps: 900 }),
    stream({ id: 'p3', room: 'r2', peer: 'carol', bitrateBps: 7 }),
  ];

  it('groups streams into peers and rooms', () => {
    const snapshot = summarize(streams, new Date(5_000));
    assert.equal(snapshot.at, new Date(5_000).toISOString());
    assert.deepEqual(
      snapshot.rooms.find((room) => room.room === 'r1'),
      { room: 'r1', peers: 2, bitrateInBps: 1050, bitrateOutBps: 900, producers: 2, consumers: 1 },
    );
    assert.deepEqual(
      snapshot.peers.find((peer) => peer.peer === 'bob'),
      { room: 'r1', peer: 'bob', bitrateInBps: 0, bitrateOutBps: 900, producers: 0, consumers: 1 },
    );
    assert.equal(snapshot.rooms.length, 2);
  });

  it('exposes the latest snapshot; a closed stream loses its series', async () => {
    const registry = new Registry();
    let latest: MediaStatsSnapshot = summarize(streams, new Date());
    registerMediaMetrics(registry, () => latest);
    const text = await registry.metrics();
    assert.match(
      text,
      /streammesh_signaling_stream_bytes_per_second\{room="r1",peer="alice",direction="in",kind="video",id="p1"\} 125$/m,
    );
    assert.match(text, /streammesh_signaling_stream_jitter_seconds\{[^}]*id="p1"\} 0\.002/);
    assert.doesNotMatch(text, /streammesh_signaling_stream_jitter_seconds\{[^}]*id="c1"\}/);
    assert.match(
      text,
      /streammesh_signaling_room_bytes_per_second\{room="r1",direction="out"\} 112.5$/m,
    );
    assert.match(
      text,
      /streammesh_signaling_peer_bytes_per_second\{room="r1",peer="alice",direction="in"\} 131.25$/m,
    );
    latest = summarize(streams.slice(1), new Date());
    const after = await registry.metrics();
    assert.doesNotMatch(after, /id="p1"/);
    assert.match(after, /id="p2"/);
  });

  it('exposes what a stream counts as counters that never fall while the stream lives', async () => {
    const registry = new Registry();
    const counted = (packets: number, packetsLost: number, pliCount: number): MediaStatsSnapshot =>
      summarize([stream({ id: 'p1', packets, packetsLost, pliCount })], new Date());
    let latest = counted(100, 5, 1);
    registerMediaMetrics(registry, () => latest);
    const value = async (name: string): Promise<number> => {
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
      assert.equal(metric?.type, 'counter', name);
      return metric.values.find((v) => v.labels.id === 'p1')?.value ?? Number.NaN;
    };
    assert.equal(await value('streammesh_signaling_stream_packets_total'), 100);
    assert.equal(await value('streammesh_signaling_stream_lost_packets_total'), 5);
    // A late packet lowers RTCP's cumulative loss; a simulcast layer that stops leaves the sum.
    latest = counted(60, 3, 1);
    assert.equal(await value('streammesh_signaling_stream_packets_total'), 100);
    assert.equal(await value('streammesh_signaling_stream_lost_packets_total'), 5);
    latest = counted(80, 6, 2);
    assert.equal(await value('streammesh_signaling_stream_packets_total'), 120, '+20 since 60');
    assert.equal(await value('streammesh_signaling_stream_lost_packets_total'), 8, '+3 since 3');
    assert.equal(await value('streammesh_signaling_stream_plis_total'), 2);
    const text = await registry.metrics();
    assert.match(text, /^# TYPE streammesh_signaling_stream_nacks_total counter$/m);
    assert.match(text, /^# TYPE streammesh_signaling_stream_firs_total counter$/m);
    assert.match(text, /^# TYPE streammesh_signaling_stream_score gauge$/m);
  });

  it('keeps cascade pipe streams apart: rooms, peers and streams are the participants only', () => {
    const pipe: PipeStreamStats = {
      id: 'p1',
      producerId: 'p1',
      direction: 'in',
      room: 'r1',
      pipeId: 'pipe/r1/a~b',
      remoteNode: 'a',
      kind: 'video',
      bitrateBps: 5000,
      packets: 40,
      packetsLost: 1,
      fractionLost: 0.01,
      jitterSeconds: 0.001,
      roundTripTimeSeconds: 0.002,
    };
    const without = summarize(streams, new Date(5_000));
    const withPipe = summarize(streams, new Date(5_000), [pipe]);
    assert.deepEqual(withPipe.rooms, without.rooms);
    assert.deepEqual(withPipe.peers, without.peers);
    assert.deepEqual(withPipe.streams, without.streams);
    assert.deepEqual(withPipe.pipes, [pipe]);
    assert.deepEqual(without.pipes, []);
  });
});
