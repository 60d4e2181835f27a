/**
 * The proxy's stats report for the control plane: what /streams shows per
 * relayed stream and RTSP track, and, however many streams the proxy holds,
 * never more than MAX_REPORTED_STREAMS of them, which fit in
 * MAX_STATS_JSON_LENGTH even with the longest names and widest numbers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QualitySnapshot } from '../../../src/media/quality/index.js';
import { MAX_STATS_JSON_LENGTH } from '../../../src/protocol/mesh/index.js';
import {
  MAX_REPORTED_STREAMS,
  buildStatsReport,
  type RelayedStream,
} from '../../../rtp-proxy/media/metrics/index.js';
import type { RtspSnapshot } from '../../../rtp-proxy/media/rtsp/index.js';

/** Every number as wide as JSON writes it: 17 significant digits, or 2^53. */
const WIDE = 1 / 3;
const HUGE = Number.MAX_SAFE_INTEGER;

function quality(overrides: Partial<QualitySnapshot> = {}): QualitySnapshot {
  return {
    ssrc: 0xffffffff,
    kind: 'audio',
    clockRate: 90_000,
    payloadType: 127,
    packets: HUGE,
    bytes: HUGE,
    bitrateBps: WIDE * 1e9,
    expected: HUGE,
    lost: -HUGE,
    lossFraction: WIDE,
    jitterMs: WIDE * 1e6,
    jitterMeanMs: WIDE,
    jitterMaxMs: WIDE,
    duplicates: HUGE,
    reordered: HUGE,
    late: HUGE,
    restarts: HUGE,
    mos: WIDE * 4,
    downstream: Array.from({ length: 32 }, (_, i) => ({
      receiver: `127.0.0.${i}:65535`,
      fractionLost: WIDE,
      cumulativeLost: -HUGE,
      jitterMs: WIDE * 1e6 + i,
      rttMs: WIDE * 1e3,
      ageMs: WIDE,
    })),
    ...overrides,
  };
}

type Path = RtspSnapshot['paths'][number];

function path(name: string, tracks: number): Path {
  return {
    name,
    kind: 'camera',
    upstream: {
      state: 'connecting',
      transport: 'tcp',
      reconnects: HUGE,
      outages: HUGE,
      outageMs: HUGE,
      lastError: null,
    },
    viewers: HUGE,
    packetsIn: HUGE,
    bytesIn: HUGE,
    drops: {},
    tracks: Array.from({ length: tracks }, (_, index) => ({
      index,
      kind: 'video',
      encoding: 'H264',
      ssrc: 0xffffffff,
      quality: quality({ kind: 'video' }),
    })),
  };
}

// Route names are DNS labels (63 characters); RTSP path names at most 128.
const LONG_ROUTE = 'r'.repeat(63);
const LONG_PATH = 'p'.repeat(128);

function* relayed(count: number): Generator<RelayedStream> {
  for (let i = 0; i < count; i++) yield { route: LONG_ROUTE, quality: quality() };
}

describe('proxy stats report', () => {
  it('reports each stream as /streams measures it, downstream as its worst receiver', () => {
    const report = buildStatsReport(
      [
        {
          route: 'cam',
          quality: quality({
            ssrc: 7,
            kind: 'video',
            packets: 100,
            bytes: 17_200,
            lost: 3,
            lossFraction: 0.03,
            jitterMs: 1.5,
            bitrateBps: 64_000,
            mos: null,
            downstream: [
              {
                receiver: 'a',
                fractionLost: 0.1,
                cumulativeLost: 1,
                jitterMs: 2,
                rttMs: null,
                ageMs: 1,
              },
              {
                receiver: 'b',
                fractionLost: 0.2,
                cumulativeLost: 2,
                jitterMs: 1,
                rttMs: 9,
                ageMs: 1,
              },
            ],
          }),
        },
      ],
      [path('demo', 1)],
      new Date(1_000),
    );
    assert.equal(report.at, new Date(1_000).toISOString());
    assert.deepEqual(report.relay, [
      {
        route: 'cam',
        kind: 'video',
        ssrc: 7,
        packets: 100,
        bytes: 17_200,
        lost: 3,
        lossFraction: 0.03,
        jitterMs: 1.5,
        bitrateBps: 64_000,
        mos: null,
        downstream: { fractionLost: 0.2, jitterMs: 2, rttMs: 9 },
      },
    ]);
    assert.equal(report.rtsp.length, 1);
    assert.equal(report.rtsp[0]?.path, 'demo');
    assert.equal(report.rtsp[0].upstream, 'connecting');
    assert.equal(report.omitted, 0);
  });

  it('leaves out a track not measured yet', () => {
    const unmeasured = path('cam', 1);
    const report = buildStatsReport(
      [],
      [{ ...unmeasured, tracks: unmeasured.tracks.map((t) => ({ ...t, quality: null })) }],
      new Date(),
    );
    assert.deepEqual(report.rtsp, []);
  });

  it(`holds at most ${MAX_REPORTED_STREAMS} streams, counts the rest, and fits the size limit`, (t) => {
    // 4096 routes of 16 streams is what the config allows.
    const report = buildStatsReport(
      relayed(4096 * 16),
      [path(LONG_PATH, MAX_REPORTED_STREAMS)],
      new Date(),
    );
    assert.equal(report.relay.length, MAX_REPORTED_STREAMS);
    assert.equal(report.rtsp.length, 0);
    // The relay streams past the cap, and every track (relay streams come first).
    assert.equal(report.omitted, 4096 * 16 - MAX_REPORTED_STREAMS + MAX_REPORTED_STREAMS);
    const relayBytes = Buffer.byteLength(JSON.stringify(report));
    assert.ok(relayBytes < MAX_STATS_JSON_LENGTH, `${relayBytes} bytes`);

    const tracksOnly = buildStatsReport(
      [],
      [path(LONG_PATH, MAX_REPORTED_STREAMS + 5)],
      new Date(),
    );
    assert.equal(tracksOnly.rtsp.length, MAX_REPORTED_STREAMS);
    assert.equal(tracksOnly.omitted, 5);
    const trackBytes = Buffer.byteLength(JSON.stringify(tracksOnly));
    assert.ok(trackBytes < MAX_STATS_JSON_LENGTH, `${trackBytes} bytes`);
    t.diagnostic(
      `full reports: ${relayBytes} bytes (relay), ${trackBytes} bytes (RTSP tracks); limit ${MAX_STATS_JSON_LENGTH}`,
    );
  });
});
