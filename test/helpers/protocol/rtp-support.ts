/**
 * Shared by the RTP and RTCP codec tests: hand-written bytes, the fixture
 * folders, and a seeded PRNG for the fuzz tests.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../src/shared/package-root.js';

/**
 * Bytes from hex strings (whitespace ignored) and buffers, in order: lets a
 * fixture be written one annotated wire word per line.
 */
export function bytes(...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.map((part) => {
      if (typeof part !== 'string') return part;
      const digits = part.replace(/\s+/g, '');
      if (!/^(?:[0-9a-f]{2})*$/i.test(digits)) throw new Error(`not hex bytes: ${part}`);
      return Buffer.from(digits, 'hex');
    }),
  );
}

/** `length` deterministic bytes standing in for media (an LCG, not zeros). */
export function filler(length: number, seed: number): Buffer {
  const buffer = Buffer.alloc(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    buffer[i] = state >>> 24;
  }
  return buffer;
}

/** A copy of `buffer` with byte `index` set to `value`. */
export function withByte(buffer: Buffer, index: number, value: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[index] = value;
  return copy;
}

export function fixtureDir(protocol: 'rtp' | 'rtcp'): string {
  return join(packageRoot(), 'test', 'fixtures', protocol);
}

/** Every .bin fixture of a protocol, by file name. */
export function readFixtures(protocol: 'rtp' | 'rtcp'): Map<string, Buffer> {
  const dir = fixtureDir(protocol);
  const fixtures = new Map<string, Buffer>();
  for (const name of readdirSync(dir).sort()) {
    if (name.endsWith('.bin')) fixtures.set(name, readFileSync(join(dir, name)));
  }
  return fixtures;
}

export function writeFixtures(protocol: 'rtp' | 'rtcp', fixtures: Record<string, Buffer>): void {
  const dir = fixtureDir(protocol);
  mkdirSync(dir, { recursive: true });
  for (const [name, buffer] of Object.entries(fixtures)) writeFileSync(join(dir, name), buffer);
}

/**
 * The drop reason an invalid fixture's name promises
 * (`invalid-<reason>-<what>.bin`), or null for a valid one (`valid-...`).
 */
export function expectedReason(name: string): string | null {
  if (name.startsWith('valid-')) return null;
  const match = /^invalid-([a-z_]+)-[a-z0-9-]+\.bin$/.exec(name);
  if (!match?.[1])
    throw new Error(`fixture ${name} is named neither valid-* nor invalid-<reason>-*`);
  return match[1];
}

/**
 * xorshift32 (Marsaglia 2003): tiny, fast, and reproducible from its seed.
 * Not for anything but tests.
 */
export class Xorshift32 {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0 || 0x9e3779b9;
  }

  /** Unsigned 32-bit. */
  next(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state;
  }

  /** Integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  /** Integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  fill(buffer: Buffer): Buffer {
    let i = 0;
    for (; i + 4 <= buffer.length; i += 4) buffer.writeUInt32LE(this.next(), i);
    for (; i < buffer.length; i++) buffer[i] = this.next();
    return buffer;
  }

  bytes(length: number): Buffer {
    return this.fill(Buffer.allocUnsafe(length));
  }
}

/**
 * The fuzz seed: STREAMMESH_FUZZ_SEED when set (to replay a failure), else
 * fresh each run so runs explore different inputs.
 */
export function fuzzSeed(): number {
  const fromEnv = process.env['STREAMMESH_FUZZ_SEED'];
  if (fromEnv !== undefined && fromEnv !== '') return Number(fromEnv) >>> 0;
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

/**
 * A mutant of `input`: a few bit flips (mostly near the header, where the
 * parsers branch), sometimes a truncation or random bytes appended.
 */
export function mutate(random: Xorshift32, input: Buffer): Buffer {
  let output = Buffer.from(input);
  const flips = random.between(0, 3);
  for (let i = 0; i < flips && output.length > 0; i++) {
    const index = random.chance(0.7)
      ? random.below(Math.min(output.length, 32))
      : random.below(output.length);
    output[index] = (output[index] ?? 0) ^ (1 << random.below(8));
  }
  if (random.chance(0.1) && output.length > 0) {
    output[output.length - 1] = random.next(); // padding count
  }
  if (random.chance(0.3)) output = output.subarray(0, random.below(output.length + 1));
  if (random.chance(0.1)) output = Buffer.concat([output, random.bytes(random.between(1, 8))]);
  return output;
}
