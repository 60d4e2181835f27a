/**
 * Why packets were dropped, by reason: the one place drops are counted. A
 * plain object of numbers (read by snapshots and metrics); the packet path
 * increments a field, nothing more. Several chains of one owner (a relay
 * route's inbound and outbound chains) share one instance.
 */
import type { DropReason } from './interceptor.js';

export type DropCounts<Reason extends string = DropReason> = Partial<Record<Reason, number>>;

export class DropCounters<Reason extends string = DropReason> {
  readonly counts: DropCounts<Reason> = {};

  add(reason: Reason, count = 1): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + count;
  }

  get(reason: Reason): number {
    return this.counts[reason] ?? 0;
  }

  /** All drops, whatever the reason. */
  total(): number {
    let total = 0;
    for (const count of Object.values<number | undefined>(this.counts)) total += count ?? 0;
    return total;
  }
}
