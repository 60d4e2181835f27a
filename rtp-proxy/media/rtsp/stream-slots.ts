/**
 * Streams per node (issue 17, point 7: proxy.maxStreams): every path whose
 * source runs (a camera it pulls, a stream it takes over a hop, a publisher,
 * the demo clip) holds one slot while its source runs. A viewer or publisher
 * that would start one more stream on a node carrying its maximum is refused
 * (RTSP 453) and counted; streams already carried, and every viewer joining
 * one of them, are untouched, since they cost the node no new upstream.
 * Always-on cameras are started by the config whatever the count: the
 * operator asked for them, and refusing one would silently drop a camera;
 * they still hold their slots.
 */

export interface StreamSlot {
  /** Gives the slot back; a second call does nothing. */
  release(): void;
}

export class StreamSlots {
  readonly #max: () => number;
  #carried = 0;
  #refused = 0;

  /** `max` is read at each take, so a pushed proxy.maxStreams applies to the next stream. */
  constructor(max: () => number) {
    this.#max = max;
  }

  /** Streams carried now. */
  get carried(): number {
    return this.#carried;
  }

  /** Streams refused so far because the node carried its maximum. */
  get refused(): number {
    return this.#refused;
  }

  get max(): number {
    return this.#max();
  }

  /** A slot for a stream a viewer or publisher asks for; undefined (counted) at the maximum. */
  take(): StreamSlot | undefined {
    if (this.#carried >= this.#max()) {
      this.#refused += 1;
      return undefined;
    }
    return this.#slot();
  }

  /** A slot for a stream the config itself starts (always on): taken even over the maximum. */
  takeAnyway(): StreamSlot {
    return this.#slot();
  }

  #slot(): StreamSlot {
    this.#carried += 1;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.#carried -= 1;
      },
    };
  }
}
