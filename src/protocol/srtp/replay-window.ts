/**
 * The replay list of RFC 3711 §3.3.2, as the sliding bitmap window its
 * Appendix (and libsrtp's rdbx) use: the highest index accepted so far, and
 * which of the `size` indices at or below it have been seen.
 *
 * Checking and committing are separate steps because §3.3.2 orders them around
 * authentication: check before, so a replayed packet costs no crypto; commit
 * after, so a forged packet cannot move the window. For SRTP the highest index
 * is also the receiver's s_l and ROC (§3.3.1), updated by the same commit.
 */

export const defaultReplayWindowSize = 128;
/** RFC 3711 §3.3.2 asks for at least 64; libsrtp refuses more than 2^15 - 1. */
export const minReplayWindowSize = 64;
export const maxReplayWindowSize = 0x7fff;

export const replayVerdict = { fresh: 0, replayed: 1, tooOld: 2 } as const;
export type ReplayVerdict = (typeof replayVerdict)[keyof typeof replayVerdict];

export class ReplayWindow {
  readonly #size: number;
  /** Ring of bits; index i lives at bit i mod #capacity, #capacity >= #size. */
  readonly #bits: Uint32Array;
  readonly #capacity: number;
  #highest: number;

  /** `first` is the index of the packet that created the stream (already authenticated). */
  constructor(size: number, first: number) {
    this.#size = size;
    this.#bits = new Uint32Array(Math.ceil(size / 32));
    this.#capacity = this.#bits.length * 32;
    this.#highest = first;
    this.#mark(first);
  }

  /** The highest index committed (for SRTP, ROC * 2^16 + s_l). */
  get highest(): number {
    return this.#highest;
  }

  check(index: number): ReplayVerdict {
    if (index > this.#highest) return replayVerdict.fresh;
    if (this.#highest - index >= this.#size) return replayVerdict.tooOld;
    const position = index % this.#capacity;
    const word = this.#bits[position >>> 5] ?? 0;
    return (word & (1 << (position & 31))) === 0 ? replayVerdict.fresh : replayVerdict.replayed;
  }

  /** Records an authenticated index; call only after check() said fresh. */
  commit(index: number): void {
    if (index > this.#highest) {
      const advance = index - this.#highest;
      if (advance >= this.#capacity) {
        this.#bits.fill(0);
      } else {
        // The positions between the old and new highest held indices a whole ring ago.
        for (let skipped = this.#highest + 1; skipped < index; skipped++) this.#clear(skipped);
        this.#clear(index);
      }
      this.#highest = index;
    }
    this.#mark(index);
  }

  #mark(index: number): void {
    const position = index % this.#capacity;
    const slot = position >>> 5;
    this.#bits[slot] = ((this.#bits[slot] ?? 0) | (1 << (position & 31))) >>> 0;
  }

  #clear(index: number): void {
    const position = index % this.#capacity;
    const slot = position >>> 5;
    this.#bits[slot] = ((this.#bits[slot] ?? 0) & ~(1 << (position & 31))) >>> 0;
  }
}
