/** Snapshot values beyond A.3/A.8: bitrate window, MOS wiring, options. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  QualityOptionsError,
  StreamQuality,
  estimateMos,
  type StreamQualityOptions,
} from '../../../../src/media/quality/index.js';
import { ManualClock, feed, newQuality, range } from '../../../helpers/quality.js';

describe('StreamQuality snapshot', () => {
  it('measures bitrate over one full 1 s bucket plus the current one', () => {
    const clock = new ManualClock(0);
    const quality = newQuality(clock);
    // 1000 bytes every 10 ms = 800 kbit/s.
    const send = (untilMs: number) => {
      while (clock.now() < untilMs) {
        quality.onRtp(clock.now() / 10, 0, 0, 1_000, clock.now());
        clock.advance(10);
      }
    };
    send(500);
    // Younger than a bucket: the window starts at startMs. 50 packets / 0.5 s.
    assert.equal(quality.snapshot(500).bitrateBps, 800_000);
    send(1_000);
    assert.equal(quality.snapshot(1_000).bitrateBps, 800_000); // 100 kB / 1 s
    send(1_500);
    assert.equal(quality.snapshot(1_500).bitrateBps, 800_000); // 150 kB / 1.5 s
    send(2_000);
    // Silence from 2 s: at 2.5 s the window is [1 s, 2.5 s] holding 100 kB.
    assert.equal(quality.snapshot(2_500).bitrateBps, 800_000 / 1.5);
    assert.equal(quality.snapshot(3_999).bitrateBps, 0); // [2 s, 4 s): nothing
    assert.equal(quality.snapshot(10_000).bitrateBps, 0);
    // After a long pause the buckets restart at the packet's bucket.
    quality.onRtp(1_000, 0, 0, 1_000, 10_250);
    assert.equal(quality.snapshot(10_500).bitrateBps, 8_000 / 1.5); // window [9 s, 10.5 s]
    assert.equal(quality.snapshot(10_500).bytes, 201_000);
  });

  it('counts a bytes value outside 1..65536 as 0 bytes, still one packet', () => {
    const quality = newQuality(new ManualClock(0));
    quality.onRtp(1, 0, 0, -5, 0);
    quality.onRtp(2, 0, 0, Number.NaN, 0);
    quality.onRtp(3, 0, 0, 1e9, 0);
    const snapshot = quality.snapshot(0);
    assert.equal(snapshot.packets, 3);
    assert.equal(snapshot.bytes, 0);
  });

  it('estimates MOS for audio from its own loss and jitter and the freshest downstream RTT', () => {
    const clock = new ManualClock(0);
    const quality = newQuality(clock); // payload type 0: G.711
    feed(quality, clock, range(0, 100, [10, 20, 30, 40, 50]));
    quality.onReceiverReport(
      'r',
      {
        ssrc: 0,
        fractionLost: 0,
        cumulativeLost: 0,
        highestSequence: 0,
        jitter: 0,
        lastSr: 0x0001_0000,
        delaySinceLastSr: 0,
      },
      0x0001_3333, // 0x3333 / 65536 s = 199.996... ms
      clock.now(),
    );
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.lossFraction, 5 / 100);
    assert.equal(snapshot.payloadType, 0);
    const rttMs = (0x3333 * 1000) / 65_536;
    assert.equal(snapshot.downstream[0]?.rttMs, rttMs);
    assert.equal(
      snapshot.mos,
      estimateMos({ lossFraction: 0.05, jitterMs: 0, rttMs, codec: 'g711' }),
    );
  });

  it('takes Opus for dynamic payload types unless a codec is configured', () => {
    const clock = new ManualClock(0);
    const dynamic = newQuality(clock);
    feed(dynamic, clock, range(0, 9), { payloadType: 111 });
    const opus = estimateMos({ lossFraction: 0, jitterMs: 0, rttMs: null, codec: 'opus' });
    assert.equal(dynamic.snapshot(clock.now()).mos, opus);

    const configured = newQuality(clock, { codec: 'g711' });
    feed(configured, clock, range(0, 9), { payloadType: 111 });
    const g711 = estimateMos({ lossFraction: 0, jitterMs: 0, rttMs: null, codec: 'g711' });
    assert.equal(configured.snapshot(clock.now()).mos, g711);
  });

  it('has no MOS for video', () => {
    const clock = new ManualClock(0);
    const quality = newQuality(clock, { kind: 'video', clockRate: 90_000 });
    feed(quality, clock, range(0, 9), { payloadType: 96, tsStep: 3_000 });
    const snapshot = quality.snapshot(clock.now());
    assert.equal(snapshot.mos, null);
    assert.equal(snapshot.kind, 'video');
    assert.equal(snapshot.clockRate, 90_000);
    assert.equal(snapshot.payloadType, 96);
  });

  it('does not change state: two snapshots at one time are equal', () => {
    const clock = new ManualClock(0);
    const quality = newQuality(clock);
    feed(quality, clock, range(0, 50, [3, 4]));
    assert.deepEqual(quality.snapshot(clock.now()), quality.snapshot(clock.now()));
  });

  it('keeps the mean and maximum of the A.8 estimate, as tshark reports them', () => {
    const clock = new ManualClock(0);
    const quality = newQuality(clock);
    // 8 kHz, 20 ms packets (160 units); packet 2 arrives 10 ms late, the rest on time.
    const arrivals = [0, 20, 50, 60, 80];
    for (const [i, arrival] of arrivals.entries()) quality.onRtp(i, i * 160, 0, 172, arrival);
    // D = (R_i - R_{i-1}) * 8 - 160 per packet: 0, 80, -80, 0; J += (|D| - J) / 16.
    const j1 = 80 / 16;
    const j2 = j1 + (80 - j1) / 16;
    const j3 = j2 + (0 - j2) / 16;
    const samples = [0, j1, j2, j3];
    const snapshot = quality.snapshot(80);
    assert.ok(Math.abs(snapshot.jitterMs - j3 / 8) < 1e-9);
    assert.ok(Math.abs(snapshot.jitterMaxMs - j2 / 8) < 1e-9);
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length / 8;
    assert.ok(Math.abs(snapshot.jitterMeanMs - mean) < 1e-9, `${snapshot.jitterMeanMs} vs ${mean}`);
  });

  it('starts empty', () => {
    const quality = newQuality(new ManualClock(7));
    assert.deepEqual(quality.snapshot(7), {
      ssrc: 0x1234_5678,
      kind: 'audio',
      clockRate: 8000,
      payloadType: -1,
      packets: 0,
      bytes: 0,
      bitrateBps: 0,
      expected: 0,
      lost: 0,
      lossFraction: 0,
      jitterMs: 0,
      jitterMeanMs: 0,
      jitterMaxMs: 0,
      duplicates: 0,
      reordered: 0,
      late: 0,
      restarts: 0,
      mos: estimateMos({ lossFraction: 0, jitterMs: 0, rttMs: null, codec: 'opus' }),
      downstream: [],
    });
  });

  it('refuses options it cannot measure with, naming the option', () => {
    const good = { ssrc: 1, clockRate: 8000, kind: 'audio', startMs: 0 } as const;
    const cases: [string, Record<string, unknown>][] = [
      ['ssrc', { ssrc: -1 }],
      ['ssrc', { ssrc: 2 ** 32 }],
      ['clockRate', { clockRate: 0 }],
      ['clockRate', { clockRate: 8000.5 }],
      ['kind', { kind: 'data' }],
      ['startMs', { startMs: Number.NaN }],
      ['codec', { codec: 'g729' }],
    ];
    for (const [option, override] of cases) {
      const options: unknown = { ...good, ...override };
      assert.throws(
        () => new StreamQuality(options as StreamQualityOptions),
        (error: unknown) =>
          error instanceof QualityOptionsError &&
          error.code === 'ERR_QUALITY_OPTIONS' &&
          error.option === option,
      );
    }
  });
});
