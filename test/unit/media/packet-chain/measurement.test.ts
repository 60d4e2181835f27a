/**
 * The chain's measurement, driven by a manual clock and a scripted packet
 * sequence (loss, reordering, duplicates, a late packet, jitter from known
 * arrival times): jitter is exactly RFC 3550 A.8's recursion over the
 * packets with a new sequence number, in arrival order; loss is A.1/A.3's
 * expected - received; duplicates and the late packet are counted once by
 * the measurement; recent duplicates are dropped once, the late packet is
 * forwarded (dropped only when the filter is asked to). The duplicate
 * filter drops only repeats recent in arrival time: a sender restarting
 * behind its highest number is forwarded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DUPLICATE_WINDOW_MS,
  DuplicateFilter,
  Measure,
  MediaPacket,
  PacketChain,
  RtpCheck,
  SsrcStreamTable,
  TrackStream,
} from '../../../../src/media/packet-chain/index.js';
import { ManualClock } from '../../../helpers/quality.js';
import { rtp } from '../../../helpers/udp.js';

const CLOCK_RATE = 8_000;
const TICKS_PER_MS = CLOCK_RATE / 1000;
/** 20 ms of 8 kHz audio per packet. */
const TICKS_PER_PACKET = 160;

interface Scripted {
  readonly seq: number;
  readonly arrivalMs: number;
}

/**
 * Sent every 20 ms from seq 100 on; arrival = send time + a scripted delay.
 * 103, 108 and 109 never arrive; 104 arrives after 105; 104 and 106 arrive
 * twice; seq 100 - 300 (mod 2^16) arrives far too late.
 */
const sendMs = (seq: number): number => 1_000 + (seq - 100) * 20;
const SCRIPT: readonly Scripted[] = [
  { seq: 100, arrivalMs: sendMs(100) + 3 },
  { seq: 101, arrivalMs: sendMs(101) + 3 },
  { seq: 102, arrivalMs: sendMs(102) + 9 },
  { seq: 105, arrivalMs: sendMs(105) + 4 },
  { seq: 104, arrivalMs: sendMs(105) + 6 },
  { seq: 104, arrivalMs: sendMs(105) + 7 },
  { seq: 106, arrivalMs: sendMs(106) + 3 },
  { seq: 106, arrivalMs: sendMs(106) + 5 },
  { seq: (100 - 300) & 0xffff, arrivalMs: sendMs(106) + 11 },
  { seq: 107, arrivalMs: sendMs(107) + 17 },
  { seq: 110, arrivalMs: sendMs(110) + 2 },
];
const LOST = [103, 108, 109];
const DUPLICATES = 2;
const LATE = 1;

/** A.8 as the RFC writes it, over (arrival, timestamp) pairs in arrival order. */
function referenceJitter(samples: readonly { arrivalMs: number; ts: number }[]): number {
  let jitter = 0;
  for (let i = 1; i < samples.length; i++) {
    const previous = samples[i - 1];
    const current = samples[i];
    if (previous === undefined || current === undefined) continue;
    const d = (current.arrivalMs - previous.arrivalMs) * TICKS_PER_MS - (current.ts - previous.ts);
    jitter += (Math.abs(d) - jitter) / 16;
  }
  return jitter;
}

function audioChain(clock: ManualClock, stream: TrackStream, dropLate = false): PacketChain {
  return new PacketChain([new RtpCheck(), new Measure(stream), new DuplicateFilter({ dropLate })], {
    clock,
  });
}

/** Feeds the script through `chain` at its arrival times; returns the seqs that passed. */
function play(chain: PacketChain, clock: ManualClock, script: readonly Scripted[]): number[] {
  const packet = new MediaPacket();
  const passed: number[] = [];
  for (const { seq, arrivalMs } of script) {
    clock.set(arrivalMs);
    const bytes = rtp({ sequence: seq, timestamp: seq * TICKS_PER_PACKET, payloadType: 0 });
    if (chain.run(packet.load(bytes, chain.clock.now()))) passed.push(packet.sequence);
  }
  return passed;
}

describe('packet chain measurement', () => {
  it('gives A.8 jitter, A.1 loss and duplicate counts exactly, and drops each duplicate once', () => {
    const clock = new ManualClock();
    const stream = new TrackStream({ clockRate: CLOCK_RATE, kind: 'audio' });
    const chain = audioChain(clock, stream);
    const passed = play(chain, clock, SCRIPT);

    // What passes: each sequence number once, reordering kept, the late one too.
    const firsts = SCRIPT.filter((p, i) => SCRIPT.findIndex((q) => q.seq === p.seq) === i);
    const isLate = (seq: number): boolean => seq >= 1000;
    assert.deepEqual(
      passed,
      firsts.map((p) => p.seq),
    );
    assert.deepEqual(chain.drops.counts, { duplicate: DUPLICATES });

    const quality = stream.quality;
    assert.ok(quality);
    const last = SCRIPT[SCRIPT.length - 1]?.arrivalMs ?? 0;
    const snapshot = quality.snapshot(last);
    assert.equal(snapshot.packets, SCRIPT.length);
    assert.equal(snapshot.duplicates, DUPLICATES);
    assert.equal(snapshot.late, LATE);
    assert.equal(snapshot.reordered, 1);

    // A.1: the first packet (100) is probation, counting starts at 101;
    // duplicates inside the window count as received, the late one does not.
    const highest = 110;
    const base = 101;
    const expected = highest - base + 1;
    const received = passed.filter((seq) => !isLate(seq)).length - 1 + DUPLICATES;
    assert.equal(snapshot.expected, expected);
    assert.equal(snapshot.lost, expected - received);
    assert.equal(snapshot.lost, LOST.length - DUPLICATES);

    // A.8 over the packets with a new number, in arrival order (duplicates and late skipped).
    const samples = firsts
      .filter((p) => !isLate(p.seq))
      .map((p) => ({ arrivalMs: p.arrivalMs, ts: p.seq * TICKS_PER_PACKET }));
    const jitter = referenceJitter(samples);
    assert.ok(jitter > 0);
    assert.equal(snapshot.jitterMs, jitter / TICKS_PER_MS);
    assert.equal(quality.reportBlock(last).jitter, Math.floor(jitter));
  });

  it('drops late packets only when asked', () => {
    const clock = new ManualClock();
    const chain = audioChain(
      clock,
      new TrackStream({ clockRate: CLOCK_RATE, kind: 'audio' }),
      true,
    );
    const passed = play(chain, clock, SCRIPT);
    assert.equal(
      passed.some((seq) => seq >= 1000),
      false,
    );
    assert.deepEqual(chain.drops.counts, { duplicate: DUPLICATES, late: LATE });
  });

  it('drops a repeat only while recent: a sender restarting behind its highest number is forwarded', () => {
    const clock = new ManualClock();
    const stream = new TrackStream({ clockRate: CLOCK_RATE, kind: 'audio' });
    const chain = audioChain(clock, stream);
    // 0..99 every 20 ms, then 90 and 99 repeated at once: both dropped.
    const first = Array.from({ length: 100 }, (_, seq) => ({ seq, arrivalMs: 1_000 + seq * 20 }));
    const end = 1_000 + 99 * 20;
    const repeats = [
      { seq: 90, arrivalMs: end + 1 },
      { seq: 99, arrivalMs: end + 2 },
    ];
    assert.deepEqual(play(chain, clock, [...first, ...repeats]).length, first.length);
    assert.deepEqual(chain.drops.counts, { duplicate: 2 });

    // The sender restarts 40 numbers behind, after a pause longer than the window:
    // the measurement sees numbers it has seen, the filter forwards every one.
    const pause = DUPLICATE_WINDOW_MS + 500;
    const restarted = Array.from({ length: 60 }, (_, i) => ({
      seq: 60 + i,
      arrivalMs: end + pause + i * 20,
    }));
    const passed = play(chain, clock, restarted);
    assert.deepEqual(
      passed,
      restarted.map((p) => p.seq),
    );
    const snapshot = stream.quality?.snapshot(end + pause + 60 * 20);
    assert.ok(snapshot);
    assert.equal(snapshot.duplicates, 2 + 40, 'the measurement still counts them as repeats');
    // A repeat of one of those, within the window of its forwarding: dropped.
    assert.deepEqual(play(chain, clock, [{ seq: 119, arrivalMs: end + pause + 60 * 20 }]), []);
    assert.deepEqual(chain.drops.counts, { duplicate: 3 });
  });

  it('matches a hand-worked A.8 value: one packet 5 ms late gives J = 40 / 16 units', () => {
    const clock = new ManualClock();
    const stream = new TrackStream({ clockRate: CLOCK_RATE, kind: 'audio' });
    const chain = audioChain(clock, stream);
    // D = 8 units/ms * 25 ms - 160 = 40 units; J = 0 + (40 - 0) / 16 = 2.5 units = 0.3125 ms.
    play(chain, clock, [
      { seq: 1, arrivalMs: 1_000 },
      { seq: 2, arrivalMs: 1_025 },
    ]);
    assert.equal(stream.quality?.snapshot(1_025).jitterMs, 2.5 / TICKS_PER_MS);
  });

  it('takes arrival times from the chain clock only: the same script at another epoch gives the same figures', () => {
    const figures = (offsetMs: number): unknown => {
      const clock = new ManualClock();
      const stream = new TrackStream({ clockRate: CLOCK_RATE, kind: 'audio' });
      const shifted = SCRIPT.map((p) => ({ seq: p.seq, arrivalMs: p.arrivalMs + offsetMs }));
      play(audioChain(clock, stream), clock, shifted);
      const { jitterMs, lost, duplicates, late, reordered } =
        stream.quality?.snapshot(offsetMs) ?? {};
      return { jitterMs, lost, duplicates, late, reordered };
    };
    // A power of two keeps every arrival difference exact in floating point.
    assert.deepEqual(figures(0), figures(2 ** 20));
  });

  it('restart() begins a fresh measurement for a new source epoch', () => {
    const clock = new ManualClock();
    const stream = new TrackStream({ clockRate: CLOCK_RATE, kind: 'audio' });
    const chain = audioChain(clock, stream);
    play(chain, clock, SCRIPT);
    const before = stream.quality;
    stream.restart();
    assert.equal(stream.quality, undefined);
    play(chain, clock, [{ seq: 5, arrivalMs: 10_000 }]);
    // Read again through a function: the assertion above narrowed the getter.
    const after = ((s: TrackStream) => s.quality)(stream);
    assert.ok(after !== undefined && after !== before);
    assert.equal(after.snapshot(10_000).packets, 1);
  });

  it('keeps one stream per SSRC in the relay table, refusing over the limit or after the first SSRC', () => {
    const clock = new ManualClock();
    const limited = new SsrcStreamTable({
      clockRate: CLOCK_RATE,
      kind: 'audio',
      maxStreams: 2,
      onlyFirstSsrc: false,
    });
    const firstOnly = new SsrcStreamTable({
      clockRate: CLOCK_RATE,
      kind: 'audio',
      maxStreams: 2,
      onlyFirstSsrc: true,
    });
    const chains = [limited, firstOnly].map(
      (table) => new PacketChain([new RtpCheck(), new Measure(table)], { clock }),
    );
    const packet = new MediaPacket();
    for (const chain of chains) {
      for (const ssrc of [1, 2, 3, 1]) {
        chain.run(packet.load(rtp({ sequence: 1, ssrc }), clock.now()));
      }
    }
    assert.deepEqual([...limited.streams.keys()], [1, 2]);
    assert.deepEqual(chains[0]?.drops.counts, { too_many_streams: 1 });
    assert.deepEqual([...firstOnly.streams.keys()], [1]);
    assert.deepEqual(chains[1]?.drops.counts, { unknown_ssrc: 2 });
    // A stream silent for longer than the cut-off leaves; one that spoke stays.
    clock.set(40_000);
    const [limitedChain] = chains;
    assert.ok(limitedChain);
    limitedChain.run(packet.load(rtp({ sequence: 2, ssrc: 2 }), clock.now()));
    limited.forgetIdle(clock.now() - 30_000);
    assert.deepEqual([...limited.streams.keys()], [2]);
  });
});
