/** Helpers shared by the RTSP tests. */
import type { RtspParseEvent, RtspStreamParser } from '../../../src/protocol/rtsp/index.js';

/** Events as plain data, for deepEqual. */
export function plain(events: readonly RtspParseEvent[]): unknown[] {
  return events.map((event) => {
    switch (event.type) {
      case 'request':
        return {
          ...event.request,
          headers: event.request.headers.toJSON(),
          body: event.request.body.toString('hex'),
        };
      case 'response':
        return {
          ...event.response,
          headers: event.response.headers.toJSON(),
          body: event.response.body.toString('hex'),
        };
      case 'interleaved':
        return { channel: event.channel, payload: event.payload.toString('hex') };
      case 'error':
        return event;
    }
  });
}

/** Pushes `input` cut at `cuts` (ascending offsets). */
export function pushSplit(
  parser: RtspStreamParser,
  input: Buffer,
  cuts: readonly number[],
): RtspParseEvent[] {
  const events: RtspParseEvent[] = [];
  let from = 0;
  for (const cut of [...cuts, input.length]) {
    events.push(...parser.push(input.subarray(from, cut)));
    from = cut;
  }
  return events;
}

/** Mulberry32: small, seeded, good enough for fuzzing. */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  bytes(n: number): Buffer {
    const buffer = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) buffer[i] = this.int(256);
    return buffer;
  }
}

export function fuzzSeed(): number {
  const fromEnv = process.env.STREAMMESH_FUZZ_SEED;
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv)) return Number(fromEnv) >>> 0;
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}
