/**
 * Test helpers for StreamQuality: a manual clock (the injected `QualityClock`)
 * and a feeder for packet lists.
 */
import {
  StreamQuality,
  type MosCodec,
  type PacketClass,
  type QualityClock,
} from '../../src/media/quality/index.js';

export class ManualClock implements QualityClock {
  #ms: number;

  constructor(startMs = 0) {
    this.#ms = startMs;
  }

  now(): number {
    return this.#ms;
  }

  /** Moves time forward and returns the new time. */
  advance(ms: number): number {
    this.#ms += ms;
    return this.#ms;
  }

  set(ms: number): void {
    this.#ms = ms;
  }
}

export interface QualityOptionsForTest {
  clockRate?: number;
  kind?: 'audio' | 'video';
  codec?: MosCodec;
  ssrc?: number;
}

export function newQuality(clock: QualityClock, options: QualityOptionsForTest = {}) {
  return new StreamQuality({
    ssrc: options.ssrc ?? 0x1234_5678,
    clockRate: options.clockRate ?? 8000,
    kind: options.kind ?? 'audio',
    startMs: clock.now(),
    ...(options.codec === undefined ? {} : { codec: options.codec }),
  });
}

/**
 * Feeds sequence numbers, one every `spacingMs` of the clock, each stamped with
 * the timestamp of its arrival (`tsStep` per `spacingMs`), and returns the
 * classes. Arrival and timestamp always agree, so whatever the seqs (gaps,
 * reorders), a stream fed this way has zero jitter.
 */
export function feed(
  quality: StreamQuality,
  clock: ManualClock,
  seqs: readonly number[],
  { spacingMs = 20, tsStep = 160, payloadType = 0, bytes = 172 } = {},
): PacketClass[] {
  return seqs.map((seq) => {
    const ts = Math.round((clock.now() / spacingMs) * tsStep);
    const classification = quality.onRtp(seq, ts, payloadType, bytes, clock.now());
    clock.advance(spacingMs);
    return classification;
  });
}

/** [from, to] inclusive, skipping `missing`; wraps modulo 2^16. */
export function range(from: number, to: number, missing: readonly number[] = []): number[] {
  const out: number[] = [];
  for (let s = from; s <= to; s++) if (!missing.includes(s)) out.push(s & 0xffff);
  return out;
}
