/**
 * onRtp throughput, reported (not asserted): the relay targets ~100k packets/s
 * per process, and this is one part of each packet's path.
 */
import { describe, it } from 'node:test';
import { StreamQuality, type PacketClass } from '../../../../src/media/quality/index.js';

const PACKETS = 5_000_000;

function run(label: string, next: (i: number) => number): string {
  const quality = new StreamQuality({ ssrc: 1, clockRate: 48_000, kind: 'audio', startMs: 0 });
  let ok = 0;
  let last: PacketClass = 'ok';
  // Warm up so the measured loop runs optimized code.
  for (let i = 0; i < 100_000; i++) quality.onRtp(i, i * 960, 111, 120, i * 20);
  const start = process.hrtime.bigint();
  for (let i = 100_000; i < 100_000 + PACKETS; i++) {
    last = quality.onRtp(next(i), i * 960, 111, 120, i * 20 + (i % 7));
    if (last === 'ok') ok++;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = Math.round(PACKETS / seconds).toLocaleString('en-US');
  return `${label}: ${rate} onRtp/s (${PACKETS.toLocaleString('en-US')} packets, ${ok} ok)`;
}

describe('StreamQuality throughput', () => {
  it('reports onRtp calls per second', (t) => {
    t.diagnostic(run('in order', (i) => i & 0xffff));
    // Every 10th packet swapped with its successor, every 50th duplicated.
    t.diagnostic(
      run('reorder 20% + duplicate 2%', (i) => {
        if (i % 50 === 0) return (i - 1) & 0xffff;
        if (i % 10 === 0) return (i + 1) & 0xffff;
        if (i % 10 === 1) return (i - 1) & 0xffff;
        return i & 0xffff;
      }),
    );
  });
});
