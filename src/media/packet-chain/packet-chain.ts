/**
 * An ordered list of interceptors a packet passes, and the drop counters
 * they report to. `run` is the packet loop: it stops at the first
 * interceptor that drops, counts the reason once, and never throws (an
 * interceptor that throws drops the packet as 'interceptor_failed').
 *
 * The list may change while packets flow (a test adds a rate limit to a
 * live route): changes replace the array, so a packet in flight finishes
 * on the list it started with.
 */
import type { Clock } from '../../shared/clock.js';
import { StreammeshError } from '../../shared/errors.js';
import { DropCounters } from './drop-counters.js';
import type { Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';
import { monotonicClock } from './monotonic-clock.js';

export const INTERCEPTOR_FAILED = 'interceptor_failed';

/** A change to the chain's list that cannot be made (unknown or duplicate name). */
export class PacketChainError extends StreammeshError {
  constructor(message: string) {
    super('ERR_PACKET_CHAIN', message);
  }
}

export interface PacketChainOptions {
  /** Shared with the owner's other chains, so each drop is counted in one place. */
  readonly drops?: DropCounters;
  /** Arrival times of packets this chain loads. Default: monotonic ms. */
  readonly clock?: Clock;
}

export class PacketChain {
  readonly drops: DropCounters;
  readonly clock: Clock;
  #interceptors: readonly Interceptor[];

  constructor(interceptors: readonly Interceptor[] = [], options: PacketChainOptions = {}) {
    this.drops = options.drops ?? new DropCounters();
    this.clock = options.clock ?? monotonicClock;
    this.#interceptors = [];
    for (const interceptor of interceptors) this.append(interceptor);
  }

  /** True when the packet passed every interceptor; false when one dropped it (counted). */
  run(packet: MediaPacket): boolean {
    try {
      for (const interceptor of this.#interceptors) {
        const reason = interceptor.process(packet);
        if (reason !== undefined) {
          this.drops.add(reason);
          return false;
        }
      }
      return true;
    } catch {
      this.drops.add(INTERCEPTOR_FAILED);
      return false;
    }
  }

  /** Interceptor names in packet order. */
  names(): string[] {
    return this.#interceptors.map((interceptor) => interceptor.name);
  }

  has(name: string): boolean {
    return this.#interceptors.some((interceptor) => interceptor.name === name);
  }

  append(interceptor: Interceptor): void {
    this.#insertAt(this.#interceptors.length, interceptor);
  }

  /** Throws PacketChainError when `name` is not in the chain. */
  insertBefore(name: string, interceptor: Interceptor): void {
    this.#insertAt(this.#indexOf(name), interceptor);
  }

  /** Throws PacketChainError when `name` is not in the chain. */
  insertAfter(name: string, interceptor: Interceptor): void {
    this.#insertAt(this.#indexOf(name) + 1, interceptor);
  }

  /** False when there was none of that name. */
  remove(name: string): boolean {
    const index = this.#interceptors.findIndex((interceptor) => interceptor.name === name);
    if (index < 0) return false;
    this.#interceptors = this.#interceptors.filter((_, i) => i !== index);
    return true;
  }

  #indexOf(name: string): number {
    const index = this.#interceptors.findIndex((interceptor) => interceptor.name === name);
    if (index < 0) throw new PacketChainError(`no interceptor '${name}' in the chain`);
    return index;
  }

  #insertAt(index: number, interceptor: Interceptor): void {
    if (this.has(interceptor.name)) {
      throw new PacketChainError(`the chain already has an interceptor '${interceptor.name}'`);
    }
    const next = [...this.#interceptors];
    next.splice(index, 0, interceptor);
    this.#interceptors = next;
  }
}
