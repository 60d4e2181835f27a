/**
 * Prometheus counters set at scrape time from running totals that can step
 * back. RFC 3550's cumulative loss falls when a packet counted lost arrives
 * late or a duplicate arrives, and starts afresh at a re-sync; a sum over a
 * stream's simulcast encodings falls when one encoding stops. A counter that
 * falls while its series lives reads as a reset to `rate()`, which then adds
 * the whole total again. So each series adds up only the rises of its total.
 */
interface Series {
  last: number;
  total: number;
}

export class MonotonicTotals {
  readonly #series = new Map<string, Series>();
  readonly #seen = new Set<string>();

  /**
   * The counter value of the series `key` now that its running total is
   * `value`: its first value (at least 0), plus every rise since.
   */
  update(key: string, value: number): number {
    this.#seen.add(key);
    const series = this.#series.get(key);
    if (series === undefined) {
      const total = Math.max(0, value);
      this.#series.set(key, { last: value, total });
      return total;
    }
    if (value > series.last) series.total += value - series.last;
    series.last = value;
    return series.total;
  }

  /**
   * Forgets every series not updated since the previous sweep: its stream
   * ended, and its series leaves the exposition with it. Call once per scrape,
   * after the updates.
   */
  sweep(): void {
    for (const key of this.#series.keys()) {
      if (!this.#seen.has(key)) this.#series.delete(key);
    }
    this.#seen.clear();
  }
}
