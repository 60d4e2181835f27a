/**
 * Per-SSRC state with a bound: a Map in least-recently-used order. A peer (or a
 * forwarding bug) inventing SSRCs costs at most `capacity` entries; the entry
 * evicted is the stream that has been quiet longest; `onEvict` hears of it
 * (the libsrtp engine removes the SSRC's libsrtp stream then).
 */
export class SsrcTable<State> {
  readonly #capacity: number;
  readonly #entries = new Map<number, State>();
  /** The most recently used SSRC: a stream's packets come in runs, and it needs no reordering. */
  #newest = -1;

  readonly #onEvict: ((ssrc: number) => void) | undefined;

  constructor(capacity: number, onEvict?: (ssrc: number) => void) {
    this.#capacity = capacity;
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(ssrc: number): State | undefined {
    const state = this.#entries.get(ssrc);
    if (state !== undefined && ssrc !== this.#newest) {
      this.#entries.delete(ssrc);
      this.#entries.set(ssrc, state);
      this.#newest = ssrc;
    }
    return state;
  }

  set(ssrc: number, state: State): void {
    if (!this.#entries.delete(ssrc) && this.#entries.size >= this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) {
        this.#entries.delete(oldest.value);
        this.#onEvict?.(oldest.value);
      }
    }
    this.#entries.set(ssrc, state);
    this.#newest = ssrc;
  }
}
