/**
 * A simplified ITU-T G.107 E-model: from loss, jitter and round trip to an
 * estimated MOS for narrowband-scale voice.
 *
 *   R   = Ro - Is - Id - Ie,eff + A      with Ro - Is = 93.2 (G.107 defaults), A = 0
 *
 * Id, delay impairment. G.107's Idte/Idle/Idd need echo and room parameters a
 * relay does not know; with the default (well echo-cancelled) settings they
 * reduce to the piecewise-linear fit of Cole & Rosenbluth ("Voice over IP
 * performance monitoring", ACM SIGCOMM CCR 31(2), 2001):
 *
 *   Id  = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)       d: one-way delay in ms
 *
 * One-way delay d is what this hop can estimate of mouth-to-ear delay:
 *   d = rttMs / 2          network, assuming a symmetric path (0 when unknown)
 *     + 2 * jitterMs       an adaptive jitter buffer holds about twice the jitter
 *     + codec delay        G.711: 20 ms (one 20 ms packet, no look-ahead);
 *                          Opus: 26.5 ms (20 ms frame + 6.5 ms look-ahead, its
 *                          documented algorithmic delay at 20 ms frames)
 *
 * Ie,eff, equipment impairment under random loss (G.107 §7.5, BurstR = 1):
 *
 *   Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)     Ppl: loss in percent
 *
 *   G.711: Ie = 0, Bpl = 25.1 (G.113 Appendix I, G.711 with the Appendix I
 *          packet loss concealment). Every endpoint we relay to conceals loss;
 *          Bpl = 4.3 (no PLC) would call 1% loss a bad call, which nobody hears.
 *   Opus:  Ie = 0, Bpl = 25.1. ITU-T publishes no narrowband Ie/Bpl for Opus. At
 *          the bitrates WebRTC uses Opus is at least as clean as G.711 (and
 *          R is capped at the narrowband 93.2 anyway), and its PLC plus in-band
 *          FEC is at least as robust as G.711's Appendix I PLC; so we take
 *          G.711+PLC values, a pessimistic bound, until measured values exist.
 *          The codecs then differ only in delay.
 *
 * MOS (G.107 Annex B): 1 + 0.035 R + R (R - 60) (100 - R) 7e-6, clamped to
 * [1, 4.5]. The clamp also makes MOS non-decreasing in R (the cubic dips
 * below 1 for 0 < R < 6.5).
 *
 * Perfect G.711 (d = 20 ms): R = 92.72, MOS = 4.40.
 */
import type { MosCodec } from './quality-types.js';

export interface EModelCodec {
  /** Equipment impairment factor without loss. */
  readonly ie: number;
  /** Packet-loss robustness factor. */
  readonly bpl: number;
  /** Packetization plus algorithmic delay, ms. */
  readonly delayMs: number;
}

export const E_MODEL_CODECS: Readonly<Record<MosCodec, EModelCodec>> = {
  g711: { ie: 0, bpl: 25.1, delayMs: 20 },
  opus: { ie: 0, bpl: 25.1, delayMs: 26.5 },
};

/** Ro - Is with G.107 default parameters. */
const R_DEFAULT = 93.2;

export interface MosInput {
  /** 0..1; clamped. */
  lossFraction: number;
  jitterMs: number;
  /** null when unknown: the network then adds no delay. */
  rttMs: number | null;
  /** Default 'g711', the E-model's reference codec. */
  codec?: MosCodec;
}

/** The one-way delay the E-model is fed, in ms (see the comment on top). */
export function oneWayDelayMs(input: MosInput): number {
  const codec = E_MODEL_CODECS[input.codec ?? 'g711'];
  const rtt = input.rttMs !== null && input.rttMs > 0 ? input.rttMs : 0;
  const jitter = input.jitterMs > 0 ? input.jitterMs : 0;
  return rtt / 2 + 2 * jitter + codec.delayMs;
}

/** The transmission rating R; may fall below 0 (MOS then is 1). */
export function rFactor(input: MosInput): number {
  const codec = E_MODEL_CODECS[input.codec ?? 'g711'];
  const d = oneWayDelayMs(input);
  const id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0);
  // NaN and negatives count as no loss, anything above 1 as total loss.
  const loss = input.lossFraction > 0 ? Math.min(input.lossFraction, 1) : 0;
  const ppl = loss * 100;
  const burstR = 1;
  const ieEff = codec.ie + ((95 - codec.ie) * ppl) / (ppl / burstR + codec.bpl);
  return R_DEFAULT - id - ieEff;
}

/** G.107 Annex B, clamped to [1, 4.5]. */
export function mosFromR(r: number): number {
  if (!(r > 0)) return 1;
  if (r >= 100) return 4.5;
  const mos = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
  return Math.min(4.5, Math.max(1, mos));
}

/** Estimated MOS for one direction of a voice stream; never NaN. */
export function estimateMos(input: MosInput): number {
  return mosFromR(rFactor(input));
}
