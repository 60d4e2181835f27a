/**
 * RTCP bookkeeping (RFC 3550 §6.4.1): the report block this hop sends upstream
 * (LSR, DLSR in 1/65536 s) and RTT from the receiver reports of downstream
 * receivers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_DOWNSTREAM_RECEIVERS,
  type ReportBlockValues,
} from '../../../../src/media/quality/index.js';
import { middle32, ntpFromUnixMs } from '../../../../src/protocol/rtcp/index.js';
import { ManualClock, feed, newQuality, range } from '../../../helpers/quality.js';

function block(overrides: Partial<ReportBlockValues> = {}): ReportBlockValues {
  return {
    ssrc: 0x1234_5678,
    fractionLost: 0,
    cumulativeLost: 0,
    highestSequence: 0,
    jitter: 0,
    lastSr: 0,
    delaySinceLastSr: 0,
    ...overrides,
  };
}

describe('StreamQuality report blocks', () => {
  it('builds every field of the block', () => {
    const clock = new ManualClock(0);
    const quality = newQuality(clock, { ssrc: 0xdead_beef });
    feed(quality, clock, range(0, 20, [7]));
    assert.deepEqual(quality.reportBlock(clock.now()), {
      ssrc: 0xdead_beef,
      fractionLost: 12, // floor(1 * 256 / 20): expected 1..20, received 19
      cumulativeLost: 1,
      highestSequence: 20,
      jitter: 0,
      lastSr: 0, // no SR yet: LSR and DLSR are 0
      delaySinceLastSr: 0,
    });
  });

  it('sets LSR to the last SR and DLSR to the delay since it arrived, in 1/65536 s', () => {
    const clock = new ManualClock(5_000);
    const quality = newQuality(clock);
    feed(quality, clock, [1, 2]);
    quality.onSenderReport(0x1111_2222, 5_000);
    quality.onSenderReport(0x1234_5678, 6_000);
    clock.set(6_250);
    const reported = quality.reportBlock(clock.now());
    assert.equal(reported.lastSr, 0x1234_5678);
    assert.equal(reported.delaySinceLastSr, 16_384); // 0.25 s * 65536
    clock.set(8_500);
    assert.equal(quality.reportBlock(clock.now()).delaySinceLastSr, 163_840); // 2.5 s
  });

  it('computes RTT with the RFC 3550 §6.4.1 example values', () => {
    const quality = newQuality(new ManualClock(0));
    // A = 0xb710_8000 (46864.500 s), LSR = 0xb705_2000 (46853.125 s),
    // DLSR = 0x0005_4000 (5.250 s): delay = 0x0006_2000 = 6.125 s.
    quality.onReceiverReport(
      'receiver-a',
      block({ lastSr: 0xb705_2000, delaySinceLastSr: 0x0005_4000 }),
      0xb710_8000,
      100,
    );
    const [report] = quality.snapshot(100).downstream;
    assert.equal(report?.rttMs, 6_125);
  });

  it('computes RTT across the wrap of the 32-bit NTP middle', () => {
    const quality = newQuality(new ManualClock(0));
    // A - LSR = 0x0001_0000 (1 s) modulo 2^32; DLSR 0x8000 (0.5 s) -> 500 ms.
    quality.onReceiverReport(
      'r',
      block({ lastSr: 0xffff_8000, delaySinceLastSr: 0x8000 }),
      0x0000_8000,
      0,
    );
    assert.equal(quality.snapshot(0).downstream[0]?.rttMs, 500);
  });

  it('maps an LSR naming an SR this hop relayed to its own clock', () => {
    const quality = newQuality(new ManualClock(0));
    const srNtp = ntpMiddle32FromUnixMs(1_700_000_000_000);
    quality.onSenderReport(srNtp, 10_000);
    // The receiver held the SR 5.25 s (DLSR 0x5_4000) and its RR arrives here
    // 5.29 s after the SR passed: 40 ms on the wire, both ways. The NTP "now"
    // passed in is ignored (here deliberately unrelated).
    quality.onReceiverReport(
      'r',
      block({ lastSr: srNtp, delaySinceLastSr: 0x0005_4000 }),
      0x0000_0001,
      15_290,
    );
    assert.equal(quality.snapshot(15_290).downstream[0]?.rttMs, 40);
  });

  it('gives no RTT without an SR or with a negative result', () => {
    const quality = newQuality(new ManualClock(0));
    quality.onReceiverReport('no-sr', block({ lastSr: 0 }), 0xb710_8000, 0);
    quality.onReceiverReport(
      'negative',
      block({ lastSr: 0xb710_8000, delaySinceLastSr: 0x10 }),
      0xb710_8000,
      0,
    );
    assert.deepEqual(
      quality.snapshot(0).downstream.map((report) => report.rttMs),
      [null, null],
    );
  });

  it('converts downstream values: fraction / 256, jitter to ms, age', () => {
    const quality = newQuality(new ManualClock(0), { clockRate: 48_000 });
    quality.onReceiverReport(
      'r',
      block({ fractionLost: 64, cumulativeLost: -3, jitter: 480 }),
      0,
      1_000,
    );
    assert.deepEqual(quality.snapshot(1_750).downstream, [
      {
        receiver: 'r',
        fractionLost: 0.25,
        cumulativeLost: -3,
        jitterMs: 10,
        rttMs: null,
        ageMs: 750,
      },
    ]);
  });

  it(`keeps the latest report of at most ${MAX_DOWNSTREAM_RECEIVERS} receivers, evicting the oldest`, () => {
    const quality = newQuality(new ManualClock(0));
    for (let i = 0; i < 40; i++) quality.onReceiverReport(`r${i}`, block(), 0, i);
    let receivers = quality.snapshot(100).downstream.map((report) => report.receiver);
    assert.equal(receivers.length, MAX_DOWNSTREAM_RECEIVERS);
    assert.deepEqual(
      receivers,
      range(8, 39).map((i) => `r${i}`),
    );
    // An update refreshes r8, so the next newcomer evicts r9 instead.
    quality.onReceiverReport('r8', block({ cumulativeLost: 7 }), 0, 50);
    quality.onReceiverReport('r40', block(), 0, 51);
    receivers = quality.snapshot(100).downstream.map((report) => report.receiver);
    assert.equal(receivers.length, MAX_DOWNSTREAM_RECEIVERS);
    assert.ok(!receivers.includes('r9'));
    assert.deepEqual(receivers.slice(-2), ['r8', 'r40']);
    assert.equal(quality.snapshot(100).downstream.at(-2)?.cumulativeLost, 7);
    quality.forgetReceiver('r40');
    assert.equal(quality.snapshot(100).downstream.length, MAX_DOWNSTREAM_RECEIVERS - 1);
  });
});

/** The NTP middle 32 bits of a Unix time, with the RTCP codec's helpers. */
const ntpMiddle32FromUnixMs = (unixMs: number): number => middle32(ntpFromUnixMs(unixMs));

describe('NTP middle 32 bits (src/protocol/rtcp)', () => {
  it('takes the low 16 bits of NTP seconds and the high 16 bits of the fraction', () => {
    // Unix 0 is NTP 2208988800 s = 0x83aa_7e80: low 16 bits 0x7e80, fraction 0.
    assert.equal(ntpMiddle32FromUnixMs(0), 0x7e80_0000);
    // Half a second later the fraction's high 16 bits are 0x8000.
    assert.equal(ntpMiddle32FromUnixMs(500), 0x7e80_8000);
  });
});
