/**
 * Duplicates, decided once for every user of the chain (relay, RTSP track,
 * camera pull). Needs `Measure` before it: the measurement says whether a
 * sequence number was already seen within its 128-packet window
 * (`packet.verdict`), this filter says whether that makes it useless.
 *
 * For a relay, dropping a packet that a receiver's jitter buffer could still
 * use is worse than forwarding one it will discard itself. So only a true,
 * recent duplicate is dropped: the same SSRC and sequence number that passed
 * here at most `windowMs` (default 1 s) of arrival time ago - a network or
 * sender repeat. Everything else the measurement calls 'duplicate' passes:
 * a sender that restarted 1-127 numbers behind its highest one (its
 * numbers were last seen long ago) is forwarded from its first packet, not
 * dropped for up to 127 packets. A restart within `windowMs` of the numbers
 * it repeats still loses those packets: in arrival time it cannot be told
 * from a repeat.
 *
 * 'late' packets (older than the window: unknown whether seen) pass by
 * default, since a receiver with a deep buffer may still play them;
 * `dropLate: true` drops them as 'late'.
 *
 * Memory is fixed: the last packet to pass in each of 128 slots (sequence
 * number mod 128), with its SSRC and arrival time; no allocation per packet.
 * Streams of one chain that collide in a slot only let a duplicate through.
 */
import { PASS, type DropReason, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

export const DUPLICATE = 'duplicate';
export const LATE = 'late';
/** How recent (arrival time) a repeat must be to be dropped as a duplicate. */
export const DUPLICATE_WINDOW_MS = 1_000;

const SLOTS = 128;
const EMPTY = -1;

export interface DuplicateFilterOptions {
  /** A repeat arriving at most this long after the packet that passed is dropped. */
  readonly windowMs?: number;
  /** Drop packets older than the measurement's 128-packet window. Default: forward them. */
  readonly dropLate?: boolean;
}

export class DuplicateFilter implements Interceptor {
  readonly name = 'duplicate-filter';
  readonly #windowMs: number;
  readonly #dropLate: boolean;
  readonly #sequence = new Int32Array(SLOTS).fill(EMPTY);
  readonly #ssrc = new Uint32Array(SLOTS);
  readonly #arrivalMs = new Float64Array(SLOTS);

  constructor(options: DuplicateFilterOptions = {}) {
    this.#windowMs = options.windowMs ?? DUPLICATE_WINDOW_MS;
    this.#dropLate = options.dropLate ?? false;
  }

  process(packet: MediaPacket): DropReason | undefined {
    const verdict = packet.verdict;
    if (verdict === 'late' && this.#dropLate) return LATE;
    const slot = packet.sequence & (SLOTS - 1);
    if (
      verdict === 'duplicate' &&
      this.#sequence[slot] === packet.sequence &&
      this.#ssrc[slot] === packet.ssrc >>> 0 &&
      packet.arrivalMs - (this.#arrivalMs[slot] ?? 0) <= this.#windowMs
    ) {
      return DUPLICATE;
    }
    this.#sequence[slot] = packet.sequence;
    this.#ssrc[slot] = packet.ssrc;
    this.#arrivalMs[slot] = packet.arrivalMs;
    return PASS;
  }
}
