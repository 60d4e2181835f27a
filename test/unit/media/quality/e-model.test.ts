/** The simplified G.107 E-model behind the audio MOS estimate. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  estimateMos,
  mosFromR,
  oneWayDelayMs,
  rFactor,
  type MosCodec,
} from '../../../../src/media/quality/index.js';

function close(actual: number, expected: number, tolerance: number): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${actual} is not within ${tolerance} of ${expected}`,
  );
}

describe('estimateMos', () => {
  it('is about 4.4 for G.711 in perfect conditions', () => {
    // d = 20 ms codec delay: Id = 0.024 * 20 = 0.48, Ie,eff = 0, R = 92.72.
    const input = { lossFraction: 0, jitterMs: 0, rttMs: null };
    close(rFactor(input), 92.72, 1e-9);
    // MOS = 1 + 0.035 * 92.72 + 92.72 * 32.72 * 7.28 * 7e-6 = 4.3998...
    close(estimateMos(input), 4.4, 0.001);
  });

  it('drops to about 3.9 at 5% random loss (G.711 with PLC, Bpl 25.1)', () => {
    // Ie,eff = 95 * 5 / (5 + 25.1) = 15.781; R = 93.2 - 0.48 - 15.781 = 76.939.
    const input = { lossFraction: 0.05, jitterMs: 0, rttMs: null };
    close(rFactor(input), 76.939, 0.001);
    const mos = estimateMos(input);
    close(mos, 3.903, 0.001);
    assert.ok(mos < estimateMos({ lossFraction: 0, jitterMs: 0, rttMs: null }));
  });

  it('feeds rtt / 2 + 2 * jitter + codec delay to Id, with the 177.3 ms knee', () => {
    assert.equal(oneWayDelayMs({ lossFraction: 0, jitterMs: 10, rttMs: 100 }), 50 + 20 + 20);
    assert.equal(
      oneWayDelayMs({ lossFraction: 0, jitterMs: 10, rttMs: null, codec: 'opus' }),
      20 + 26.5,
    );
    // d = 300 + 20 = 320: Id = 0.024 * 320 + 0.11 * (320 - 177.3) = 7.68 + 15.697.
    close(rFactor({ lossFraction: 0, jitterMs: 0, rttMs: 600 }), 93.2 - 7.68 - 15.697, 1e-9);
  });

  it('is monotonically non-increasing in loss, jitter and rtt over a grid', () => {
    const losses = Array.from({ length: 51 }, (_, i) => i / 100);
    const jitters = Array.from({ length: 21 }, (_, i) => i * 10);
    const rtts = Array.from({ length: 21 }, (_, i) => i * 50);
    const codecs: MosCodec[] = ['g711', 'opus'];
    for (const codec of codecs) {
      for (const lossFraction of losses) {
        for (const jitterMs of jitters) {
          for (const rttMs of rtts) {
            const mos = estimateMos({ lossFraction, jitterMs, rttMs, codec });
            assert.ok(mos >= 1 && mos <= 4.5);
            const worse = [
              estimateMos({ lossFraction: lossFraction + 0.01, jitterMs, rttMs, codec }),
              estimateMos({ lossFraction, jitterMs: jitterMs + 10, rttMs, codec }),
              estimateMos({ lossFraction, jitterMs, rttMs: rttMs + 50, codec }),
            ];
            for (const value of worse) {
              const at = `${codec} loss ${lossFraction} jitter ${jitterMs} rtt ${rttMs}`;
              assert.ok(value <= mos, at);
              // Strictly lower unless both sit on the floor of 1.
              if (value > 1) assert.ok(value < mos, at);
            }
          }
        }
      }
    }
  });

  it('costs Opus its longer algorithmic delay only', () => {
    const g711 = estimateMos({ lossFraction: 0.02, jitterMs: 5, rttMs: 80, codec: 'g711' });
    const opus = estimateMos({ lossFraction: 0.02, jitterMs: 5, rttMs: 80, codec: 'opus' });
    close(g711 - opus, 0, 0.05);
    assert.ok(opus < g711);
  });

  it('stays in [1, 4.5] and finite for hostile input', () => {
    const values = [Number.NaN, -1, 0, 1e9, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    for (const lossFraction of values) {
      for (const jitterMs of values) {
        for (const rttMs of [...values, null]) {
          const mos = estimateMos({ lossFraction, jitterMs, rttMs });
          assert.ok(mos >= 1 && mos <= 4.5, `${lossFraction} ${jitterMs} ${rttMs}`);
        }
      }
    }
    assert.equal(mosFromR(-5), 1);
    assert.equal(mosFromR(3), 1); // the cubic dips below 1 there
    assert.equal(mosFromR(100), 4.5);
    assert.equal(mosFromR(Number.NaN), 1);
  });
});
