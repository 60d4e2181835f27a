/** Small statistics for the benchmark: a fixed-memory latency histogram and medians. */

/** Latencies in 1 µs bins up to 100 ms; later ones share an overflow bin. */
export class LatencyHistogram {
  static readonly MAX_US = 100_000;
  readonly #bins = new Uint32Array(LatencyHistogram.MAX_US + 1);
  #count = 0;
  #sumUs = 0;
  #maxUs = 0;

  record(latencyUs: number): void {
    const us = latencyUs < 0 ? 0 : latencyUs;
    const bin = us >= LatencyHistogram.MAX_US ? LatencyHistogram.MAX_US : Math.floor(us);
    this.#bins[bin] = (this.#bins[bin] ?? 0) + 1;
    this.#count++;
    this.#sumUs += us;
    if (us > this.#maxUs) this.#maxUs = us;
  }

  reset(): void {
    this.#bins.fill(0);
    this.#count = 0;
    this.#sumUs = 0;
    this.#maxUs = 0;
  }

  summary(): LatencySummary {
    return {
      samples: this.#count,
      meanUs: this.#count === 0 ? 0 : round(this.#sumUs / this.#count),
      p50Us: this.percentile(0.5),
      p90Us: this.percentile(0.9),
      p99Us: this.percentile(0.99),
      p999Us: this.percentile(0.999),
      maxUs: round(this.#maxUs),
    };
  }

  /** The bin (µs, its middle) holding the q-quantile. */
  percentile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.ceil(q * this.#count);
    let seen = 0;
    for (let bin = 0; bin < this.#bins.length; bin++) {
      seen += this.#bins[bin] ?? 0;
      if (seen >= rank) return bin + 0.5;
    }
    return LatencyHistogram.MAX_US;
  }
}

export interface LatencySummary {
  readonly samples: number;
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  if (sorted.length % 2 === 1) return upper;
  return ((sorted[middle - 1] ?? upper) + upper) / 2;
}

export function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
