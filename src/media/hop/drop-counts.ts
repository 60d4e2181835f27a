/**
 * Per-hop drop counters: a fixed record, so counting a drop allocates nothing
 * and a reason never seen costs nothing in the snapshot.
 */
import type { HopDropCounts, HopDropReason } from './hop-types.js';

export class HopDrops {
  readonly #counts: HopDropCounts = {
    too_short: 0,
    bad_header: 0,
    auth_failed: 0,
    replay: 0,
    replay_too_old: 0,
    key_expired: 0,
    index_reused: 0,
    unknown_key: 0,
  };

  count(reason: HopDropReason): void {
    this.#counts[reason]++;
  }

  get(reason: HopDropReason): number {
    return this.#counts[reason];
  }

  snapshot(): Partial<HopDropCounts> {
    const out: Partial<HopDropCounts> = {};
    for (const [reason, count] of Object.entries(this.#counts) as [HopDropReason, number][]) {
      if (count > 0) out[reason] = count;
    }
    return out;
  }
}
