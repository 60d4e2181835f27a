/**
 * A consistent-hashing ring: each member owns a number of points (virtual
 * nodes) at hash32(`${id}#${i}`), i = 0, 1, ...; a key's walk starts at the
 * first point at or after hash32(key) and goes clockwise. A member's points
 * are a prefix of one fixed sequence, so changing how many points a member
 * has adds or removes only its last points and leaves every other point
 * where it was.
 */
import { hash32 } from './hash.js';

export interface RingMember {
  readonly id: string;
  /** The member's points: pointHashes(id, count) (at least one). */
  readonly points: readonly number[];
}

/**
 * The first `count` points of member `id`, reusing `previous` (an earlier
 * answer for the same id): a weight change hashes only the points it adds.
 */
export function pointHashes(id: string, count: number, previous: readonly number[] = []): number[] {
  const points = previous.slice(0, count);
  while (points.length < count) points.push(hash32(`${id}#${points.length}`));
  return points;
}

export class HashRing<T extends RingMember> {
  /** Point hashes, ascending. */
  readonly #hashes: Uint32Array;
  /** The member owning the point at the same index. */
  readonly #owners: readonly T[];

  constructor(members: Iterable<T>) {
    const hashes: number[] = [];
    const owners: T[] = [];
    for (const member of members) {
      for (const point of member.points) {
        hashes.push(point);
        owners.push(member);
      }
    }
    // Equal point hashes (rare in 2^32) are ordered by owner id, so the ring
    // is the same whatever order the members came in.
    const order = hashes.map((_, index) => index);
    order.sort((a, b) => {
      const byHash = (hashes[a] ?? 0) - (hashes[b] ?? 0);
      if (byHash !== 0) return byHash;
      const idA = owners[a]?.id ?? '';
      const idB = owners[b]?.id ?? '';
      return idA < idB ? -1 : idA > idB ? 1 : 0;
    });
    this.#hashes = Uint32Array.from(order, (index) => hashes[index] ?? 0);
    this.#owners = order.map((index) => owners[index]).filter((owner) => owner !== undefined);
  }

  /** Points on the ring in all. */
  get size(): number {
    return this.#hashes.length;
  }

  /**
   * Walks clockwise from `keyHash` and returns the first owner `accept`
   * takes, or undefined once every point has been visited.
   */
  find(keyHash: number, accept: (owner: T) => boolean): T | undefined {
    const size = this.#hashes.length;
    const start = this.#firstAtOrAfter(keyHash);
    for (let step = 0; step < size; step++) {
      const owner = this.#owners[(start + step) % size];
      if (owner !== undefined && accept(owner)) return owner;
    }
    return undefined;
  }

  /** The owner of the first point at or after `keyHash` (plain consistent hashing). */
  first(keyHash: number): T | undefined {
    return this.#owners[this.#firstAtOrAfter(keyHash) % this.#owners.length];
  }

  /** Index of the first point whose hash is >= keyHash; size when there is none (wraps to 0). */
  #firstAtOrAfter(keyHash: number): number {
    let low = 0;
    let high = this.#hashes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#hashes[middle] ?? 0) < keyHash) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
