/**
 * The placement algorithms the bench compares, behind one small interface:
 * the control plane's PlacementTable (bounded loads, sticky) and two
 * stateless baselines that recompute a key's node from the current members
 * every time, plain consistent hashing on the same ring and weighted
 * rendezvous (highest random weight) hashing.
 */
import { PlacementTable, hash32 } from '../../src/control-plane/placement/index.js';
import { HashRing, pointHashes } from '../../src/control-plane/placement/ring.js';
import { mix32 } from '../../src/control-plane/placement/hash.js';

export interface Placer {
  readonly name: string;
  /** Adds a healthy node that can carry `weight` sessions. */
  addNode(id: string, weight: number): void;
  removeNode(id: string): void;
  /** What the algorithm does after a membership change, before keys are looked up again. */
  settle(): void;
  /** The node for a key, placed or looked up (and recorded). */
  assign(key: string): string | undefined;
  /** The node a key was last given, without deciding anything. */
  current(key: string): string | undefined;
  release(key: string): void;
  /** Sessions per node. */
  loads(): Map<string, number>;
}

export type PlacerName = 'bounded' | 'ring' | 'rendezvous';
export const PLACER_NAMES: readonly PlacerName[] = ['bounded', 'ring', 'rendezvous'];

export interface PlacerOptions {
  readonly loadFactor: number;
  readonly virtualNodes: number;
}

export function createPlacer(name: PlacerName, options: PlacerOptions): Placer {
  switch (name) {
    case 'bounded':
      return new BoundedPlacer(options);
    case 'ring':
      return new StatelessPlacer('ring', new PlainRing(options.virtualNodes));
    case 'rendezvous':
      return new StatelessPlacer('rendezvous', new Rendezvous());
  }
}

class BoundedPlacer implements Placer {
  readonly name = 'bounded';
  readonly #table: PlacementTable;

  constructor(options: PlacerOptions) {
    this.#table = new PlacementTable(options);
  }

  addNode(id: string, weight: number): void {
    this.#table.setNode(id, { weight, healthy: true, draining: false });
  }

  removeNode(id: string): void {
    this.#table.removeNode(id);
  }

  settle(): void {
    this.#table.rebalance();
  }

  assign(key: string): string | undefined {
    return this.#table.assign(key)?.node;
  }

  current(key: string): string | undefined {
    return this.#table.get(key)?.node;
  }

  release(key: string): void {
    this.#table.release(key);
  }

  loads(): Map<string, number> {
    return this.#table.loads();
  }
}

/** A stateless key -> node function over the current members. */
interface Mapping {
  setMembers(members: ReadonlyMap<string, number>): void;
  owner(key: string): string | undefined;
}

class StatelessPlacer implements Placer {
  readonly name: string;
  readonly #mapping: Mapping;
  readonly #members = new Map<string, number>();
  readonly #live = new Map<string, string>();
  readonly #loads = new Map<string, number>();

  constructor(name: string, mapping: Mapping) {
    this.name = name;
    this.#mapping = mapping;
  }

  addNode(id: string, weight: number): void {
    this.#members.set(id, weight);
    this.#mapping.setMembers(this.#members);
  }

  removeNode(id: string): void {
    this.#members.delete(id);
    this.#mapping.setMembers(this.#members);
  }

  settle(): void {
    // Nothing to do: a stateless mapping moves a key the moment its owner changes.
  }

  assign(key: string): string | undefined {
    const node = this.#mapping.owner(key);
    const previous = this.#live.get(key);
    if (previous === node) return node;
    if (previous !== undefined) this.#count(previous, -1);
    if (node === undefined) {
      this.#live.delete(key);
      return undefined;
    }
    this.#live.set(key, node);
    this.#count(node, 1);
    return node;
  }

  current(key: string): string | undefined {
    return this.#live.get(key);
  }

  release(key: string): void {
    const node = this.#live.get(key);
    if (node === undefined) return;
    this.#live.delete(key);
    this.#count(node, -1);
  }

  loads(): Map<string, number> {
    const loads = new Map<string, number>();
    for (const id of this.#members.keys()) loads.set(id, this.#loads.get(id) ?? 0);
    return loads;
  }

  #count(node: string, delta: number): void {
    this.#loads.set(node, (this.#loads.get(node) ?? 0) + delta);
  }
}

/** Plain consistent hashing: the same weighted ring as the table, first point clockwise, no bound. */
class PlainRing implements Mapping {
  readonly #virtualNodes: number;
  #ring: HashRing<{ id: string; points: number[] }> | undefined;

  constructor(virtualNodes: number) {
    this.#virtualNodes = virtualNodes;
  }

  setMembers(members: ReadonlyMap<string, number>): void {
    const weights = [...members.values()];
    const mean = weights.reduce((sum, w) => sum + w, 0) / Math.max(1, weights.length);
    this.#ring = new HashRing(
      [...members].map(([id, weight]) => ({
        id,
        points: pointHashes(id, Math.max(1, Math.round((this.#virtualNodes * weight) / mean))),
      })),
    );
  }

  owner(key: string): string | undefined {
    return this.#ring?.size === 0 ? undefined : this.#ring?.first(hash32(key))?.id;
  }
}

/**
 * Weighted rendezvous hashing (Thaler and Ravishankar; the weighted form of
 * Schindelhauer and Schomaker): every node scores w / -ln(u), u a uniform
 * hash of (key, node) in (0, 1); the highest score wins. One hash and one
 * logarithm per node per decision.
 */
class Rendezvous implements Mapping {
  #nodes: { id: string; weight: number; seed: number }[] = [];

  setMembers(members: ReadonlyMap<string, number>): void {
    this.#nodes = [...members].map(([id, weight]) => ({ id, weight, seed: hash32(id) }));
  }

  owner(key: string): string | undefined {
    const keyHash = hash32(key);
    let best: string | undefined;
    let bestScore = -Infinity;
    for (const node of this.#nodes) {
      const u = (mix32(keyHash ^ node.seed) + 0.5) / 2 ** 32;
      const score = node.weight / -Math.log(u);
      if (score > bestScore) {
        bestScore = score;
        best = node.id;
      }
    }
    return best;
  }
}
