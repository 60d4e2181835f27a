/**
 * The figures nodes put in their load reports: counter growth that survives
 * routes coming and going, the SFU's packet rate between two stats samples,
 * and the process's CPU.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CounterDeltas } from '../../../rtp-proxy/load-report.js';
import { signalingLoad } from '../../../signaling/load-report.js';
import { censusCounts } from '../../../signaling/sfu/index.js';
import type { MediaStatsSnapshot, StreamStats } from '../../../signaling/stats/index.js';
import { defaultConfig } from '../../../src/config/index.js';
import { CpuSampler } from '../../../src/node-agent/index.js';

function stream(id: string, packets: number, bitrateBps: number): StreamStats {
  return {
    id,
    direction: 'in',
    room: 'r',
    peer: 'p',
    kind: 'video',
    mimeType: 'video/VP8',
    producerId: undefined,
    bitrateBps,
    packets,
    packetsLost: 0,
    fractionLost: 0,
    jitterSeconds: undefined,
    score: 10,
    nackCount: 0,
    pliCount: 0,
    firCount: 0,
    roundTripTimeSeconds: undefined,
  };
}

const snapshot = (atMs: number, streams: StreamStats[]): MediaStatsSnapshot => ({
  at: new Date(atMs).toISOString(),
  rooms: [],
  peers: [],
  streams,
});

describe('load sources', () => {
  it('CounterDeltas counts growth, a new counter from zero, a restarted one from its new value', () => {
    const deltas = new CounterDeltas<string>();
    assert.deepEqual(deltas.add('a', { packets: 10, bytes: 100 }), { packets: 10, bytes: 100 });
    deltas.finish();
    assert.deepEqual(deltas.add('a', { packets: 25, bytes: 400 }), { packets: 15, bytes: 300 });
    assert.deepEqual(deltas.add('b', { packets: 3, bytes: 30 }), { packets: 3, bytes: 30 });
    deltas.finish();
    // a restarted (rebuilt), b gone.
    assert.deepEqual(deltas.add('a', { packets: 4, bytes: 40 }), { packets: 4, bytes: 40 });
    deltas.finish();
    assert.deepEqual(deltas.add('b', { packets: 5, bytes: 50 }), { packets: 5, bytes: 50 });
  });

  it('the SFU packet rate is the growth between two distinct samples, held in between', () => {
    let latest = snapshot(0, []);
    const load = signalingLoad(() => latest);
    assert.equal(load.measure().packetsPerSecond, 0);
    latest = snapshot(10_000, [stream('p', 100, 1_000)]);
    load.measure();
    latest = snapshot(12_000, [stream('p', 300, 1_500), stream('c', 50, 500)]);
    const figures = load.measure();
    // (300 - 100) + 50 new packets over 2 s.
    assert.equal(figures.packetsPerSecond, 125);
    assert.equal(figures.bitrateBps, 2_000);
    const census = censusCounts();
    assert.equal(figures.sessions, census.producers + census.consumers);
    assert.equal(load.measure().packetsPerSecond, 125, 'same sample, same rate');
    assert.deepEqual(load.capacity(defaultConfig({})), defaultConfig({}).signaling.capacity);
  });

  it('CpuSampler reports the cores this process burnt', () => {
    const sampler = new CpuSampler();
    const until = Date.now() + 200;
    let spin = 0;
    while (Date.now() < until) spin += 1;
    assert.ok(spin > 0);
    const cores = sampler.cores();
    // One busy thread for the whole interval: up to one core (less when the
    // shared machine lends the core to others meanwhile), never more than ~1.
    assert.ok(cores > 0.2 && cores < 1.5, `cores ${cores}`);
  });
});
