/** Counts of events by reason: a plain object of numbers, read by /streams and the metrics. */
export class Tally<Reason extends string> {
  readonly counts: Partial<Record<Reason, number>> = {};

  add(reason: Reason, count = 1): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + count;
  }

  get(reason: Reason): number {
    return this.counts[reason] ?? 0;
  }
}
