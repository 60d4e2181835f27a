/**
 * Duplicates, decided once for every user of the chain: a packet the
 * measurement classed 'duplicate' (its sequence number already passed,
 * within the 128-packet window) or 'late' (older than that window, so it
 * cannot be told from a duplicate, and any jitter buffer has played past it)
 * carries nothing a receiver can use, and is dropped under that name.
 * Reordered packets and restarts pass. Needs `Measure` before it.
 */
import { PASS, type DropReason, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

export const DUPLICATE = 'duplicate';
export const LATE = 'late';

export class DuplicateFilter implements Interceptor {
  readonly name = 'duplicate-filter';

  process(packet: MediaPacket): DropReason | undefined {
    const verdict = packet.verdict;
    if (verdict === 'duplicate') return DUPLICATE;
    if (verdict === 'late') return LATE;
    return PASS;
  }
}
