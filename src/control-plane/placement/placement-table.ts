/**
 * Which node carries which media session: consistent hashing with bounded
 * loads (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded
 * Loads", SODA 2018; HAProxy's hash-balance-factor and Envoy's
 * hash_balance_factor are the same idea), made sticky.
 *
 * How capacity and load enter, for node i:
 * - w_i, its weight: the sessions it declares it can carry (weightOf:
 *   capacity.sessions). It owns virtualNodes * w_i / mean(w) points of the
 *   ring (at least one), so its share of new keys follows its weight.
 * - a_i: the keys this table has assigned to it.
 * - m_i: its measured load in sessions, ceil(fill_i * w_i) from its latest
 *   load report (fillOf: the largest of packets/s, bit/s and sessions over
 *   their declared figures), moved by +1/-1 as the table adds or takes keys
 *   until the next report sets it again.
 * - u_i = max(a_i, m_i), its fill in sessions: a node whose few keys carry
 *   heavy traffic counts as full as its traffic says.
 * - U and W: the sums of u and w over eligible nodes (present, healthy, not
 *   draining).
 *
 * A new key (or one that must move) walks the ring clockwise from hash(key)
 * and takes the first eligible node with
 *     u_i + 1 <= min(floor(w_i), ceil(c * (U + 1) * w_i / W)),
 * c the load factor: no node goes beyond c times its weighted share of all
 * sessions (the paper's bound; with equal weights, ceil(c * m / n)), nor
 * beyond its declared capacity. Since the bounds sum to at least c(U+1) >
 * U + 1, some node fits unless every node is at its declared capacity.
 *
 * A key stays where it is while its node is eligible and not over its
 * declared capacity (u_i > floor(w_i)); only then does it move: node gone or
 * unhealthy ('node_failed'), draining ('node_drained'), over capacity
 * ('overloaded', youngest keys first, only as many as the excess). The
 * c-bound itself never moves a live key: a joining node lowers every
 * other node's bound (the mean falls) and must move nothing.
 */
import { systemClock, type Clock } from '../../shared/clock.js';
import { StreammeshError } from '../../shared/errors.js';
import { hash32 } from './hash.js';
import { HashRing, pointHashes } from './ring.js';
import type { Assignment, MoveReason, PlacementNode, PlacementOptions } from './types.js';

export const DEFAULT_LOAD_FACTOR = 1.25;
export const DEFAULT_VIRTUAL_NODES = 100;
const MAX_VIRTUAL_NODES = 10_000;
/** Absorbs floating-point error in ceil(): c * (U + 1) * w / W that is an integer stays one. */
const EPSILON = 1e-9;

/** A placement option or node state out of range; names which and why. */
export class PlacementError extends StreammeshError {
  constructor(message: string) {
    super('ERR_PLACEMENT_INVALID', message);
  }
}

interface NodeRecord {
  readonly id: string;
  /** False after removeNode (or for a node only known from restore()): its keys must move. */
  present: boolean;
  weight: number;
  healthy: boolean;
  draining: boolean;
  /** m_i; undefined before the node's first load report. */
  measured: number | undefined;
  /** Its keys, oldest first (a Set keeps insertion order). */
  readonly keys: Set<string>;
  /** Its ring points; a prefix of pointHashes(id, ...). */
  points: number[];
}

export class PlacementTable {
  readonly #loadFactor: number;
  readonly #virtualNodes: number;
  readonly #clock: Clock;
  readonly #records = new Map<string, NodeRecord>();
  readonly #assignments = new Map<string, Assignment>();
  /** U and W of the header comment. */
  #eligibleUsed = 0;
  #eligibleWeight = 0;
  #ring: HashRing<NodeRecord> | undefined;

  constructor(options: PlacementOptions = {}) {
    const loadFactor = options.loadFactor ?? DEFAULT_LOAD_FACTOR;
    if (!Number.isFinite(loadFactor) || loadFactor <= 1) {
      throw new PlacementError(`loadFactor must be a number > 1, got ${loadFactor}`);
    }
    const virtualNodes = options.virtualNodes ?? DEFAULT_VIRTUAL_NODES;
    if (!Number.isInteger(virtualNodes) || virtualNodes < 1 || virtualNodes > MAX_VIRTUAL_NODES) {
      throw new PlacementError(
        `virtualNodes must be an integer in [1, ${MAX_VIRTUAL_NODES}], got ${virtualNodes}`,
      );
    }
    this.#loadFactor = loadFactor;
    this.#virtualNodes = virtualNodes;
    this.#clock = options.clock ?? systemClock;
  }

  /** Adds a node or updates its state. Moves nothing by itself: see assign() and rebalance(). */
  setNode(id: string, state: PlacementNode): void {
    validateNode(id, state);
    let record = this.#records.get(id);
    if (record === undefined) {
      record = {
        id,
        present: false,
        weight: state.weight,
        healthy: state.healthy,
        draining: state.draining,
        measured: undefined,
        keys: new Set(),
        points: [],
      };
      this.#records.set(id, record);
    }
    if (!record.present || record.weight !== state.weight) this.#ring = undefined;
    this.#withTotals(record, () => {
      record.present = true;
      record.weight = state.weight;
      record.healthy = state.healthy;
      record.draining = state.draining;
      record.measured =
        state.fill === undefined ? undefined : Math.ceil(state.fill * state.weight - EPSILON);
    });
  }

  /** Takes a node off the ring. Its keys stay recorded on it until assign() or rebalance() moves them. */
  removeNode(id: string): void {
    const record = this.#records.get(id);
    if (record?.present !== true) return;
    this.#ring = undefined;
    this.#withTotals(record, () => {
      record.present = false;
    });
    if (record.keys.size === 0) this.#records.delete(id);
  }

  /**
   * The node for `key`: the one it has while that node may keep it, else a
   * new one (bounded-load ring walk), recorded with the reason of the move.
   * Undefined when no node can take a new key (none eligible, or all at
   * their declared capacity); a key whose node failed then keeps its old
   * record until a later assign() or rebalance() finds room. A key that
   * must leave a draining or overloaded node but finds no room stays there.
   */
  assign(key: string): Assignment | undefined {
    const current = this.#assignments.get(key);
    if (current === undefined) {
      const target = this.#choose(key, undefined);
      return target === undefined ? undefined : this.#attach(key, target, 'placed', this.#now());
    }
    const reason = this.#moveReason(this.#records.get(current.node));
    if (reason === undefined) return current;
    return this.#move(current, reason) ?? (reason === 'node_failed' ? undefined : current);
  }

  /** The key's assignment, if any, without placing or moving anything. */
  get(key: string): Assignment | undefined {
    return this.#assignments.get(key);
  }

  /** Forgets a key (its session ended). True if it was assigned. */
  release(key: string): boolean {
    const current = this.#assignments.get(key);
    if (current === undefined) return false;
    this.#assignments.delete(key);
    this.#detach(key, current.node);
    return true;
  }

  /**
   * Records that `node` carries `key`, as a node reports after a
   * control-plane restart: no bound is checked, nothing else moves. The
   * node need not be known yet; until setNode() names it, its keys count as
   * on a failed node, so call rebalance() only once the nodes had their
   * chance to report. `reason` is the one the node reports (the key's last
   * move before the restart), so the assignment reads as it did; default
   * 'restored'.
   */
  restore(
    key: string,
    node: string,
    sinceMs: number = this.#now(),
    reason: MoveReason = 'restored',
  ): Assignment {
    if (node === '') throw new PlacementError('a node id must not be empty');
    const current = this.#assignments.get(key);
    if (current !== undefined) this.#detach(key, current.node);
    let record = this.#records.get(node);
    if (record === undefined) {
      record = {
        id: node,
        present: false,
        weight: 0,
        healthy: false,
        draining: false,
        measured: undefined,
        keys: new Set(),
        points: [],
      };
      this.#records.set(node, record);
    }
    return this.#attach(key, record, reason, sinceMs);
  }

  /**
   * Moves every key that may not stay: those on failed (removed, unhealthy)
   * and draining nodes, and the youngest keys of nodes over their declared
   * capacity, as many as the excess. Returns the new assignments of the
   * moved keys; a key with nowhere to go is left as it is.
   */
  rebalance(): Assignment[] {
    const moved: Assignment[] = [];
    const ids = [...this.#records.keys()].sort();
    for (const id of ids) {
      const record = this.#records.get(id);
      const reason = this.#moveReason(record);
      if (record === undefined || reason === undefined) continue;
      // Overload sheds the youngest keys (the most recently attached): the
      // oldest sessions are left alone longest.
      const keys = reason === 'overloaded' ? [...record.keys].reverse() : [...record.keys];
      for (const key of keys) {
        if (reason === 'overloaded' && this.#moveReason(record) !== 'overloaded') break;
        const current = this.#assignments.get(key);
        if (current === undefined) continue;
        const next = this.#move(current, reason);
        // Whether a node fits does not depend on the key: if this one found
        // no room, neither will the others of this node.
        if (next === undefined) break;
        moved.push(next);
      }
    }
    return moved;
  }

  /** Every assignment, ordered by key. */
  list(): Assignment[] {
    return [...this.#assignments.values()].sort((a, b) =>
      a.key < b.key ? -1 : a.key > b.key ? 1 : 0,
    );
  }

  /** Keys assigned per node, for every node set or holding keys (0 for an empty one). */
  loads(): Map<string, number> {
    const loads = new Map<string, number>();
    for (const [id, record] of this.#records) loads.set(id, record.keys.size);
    return loads;
  }

  /** How many keys are assigned. */
  get size(): number {
    return this.#assignments.size;
  }

  #now(): number {
    return this.#clock.now();
  }

  /** Why a key on this node must move, or undefined if it may stay. */
  #moveReason(record: NodeRecord | undefined): MoveReason | undefined {
    if (record === undefined || !record.present || !record.healthy) return 'node_failed';
    if (record.draining) return 'node_drained';
    if (used(record) > Math.floor(record.weight)) return 'overloaded';
    return undefined;
  }

  #move(current: Assignment, reason: MoveReason): Assignment | undefined {
    const target = this.#choose(current.key, current.node);
    if (target === undefined) return undefined;
    this.#detach(current.key, current.node);
    return this.#attach(current.key, target, reason, this.#now());
  }

  /** The first node clockwise from hash(key) that may take one more key, other than `exclude`. */
  #choose(key: string, exclude: string | undefined): NodeRecord | undefined {
    if (this.#eligibleWeight <= 0) return undefined;
    const ring = this.#ring ?? this.#buildRing();
    // The c-bound is proportional to w_i: compute its factor once per decision.
    const perWeight = (this.#loadFactor * (this.#eligibleUsed + 1)) / this.#eligibleWeight;
    return ring.find(hash32(key), (record) => {
      if (record.id === exclude || !eligible(record)) return false;
      const bound = Math.min(
        Math.floor(record.weight),
        Math.ceil(perWeight * record.weight - EPSILON),
      );
      return used(record) + 1 <= bound;
    });
  }

  #buildRing(): HashRing<NodeRecord> {
    const present = [...this.#records.values()].filter((record) => record.present);
    const meanWeight = present.reduce((sum, record) => sum + record.weight, 0) / present.length;
    for (const record of present) {
      const count = Math.max(1, Math.round((this.#virtualNodes * record.weight) / meanWeight));
      if (count !== record.points.length)
        record.points = pointHashes(record.id, count, record.points);
    }
    this.#ring = new HashRing(present);
    return this.#ring;
  }

  #attach(key: string, record: NodeRecord, reason: MoveReason, sinceMs: number): Assignment {
    this.#withTotals(record, () => {
      record.keys.add(key);
      if (record.measured !== undefined) record.measured += 1;
    });
    const assignment: Assignment = { key, node: record.id, sinceMs, reason };
    this.#assignments.set(key, assignment);
    return assignment;
  }

  #detach(key: string, nodeId: string): void {
    const record = this.#records.get(nodeId);
    if (record === undefined) return;
    this.#withTotals(record, () => {
      record.keys.delete(key);
      if (record.measured !== undefined) record.measured = Math.max(0, record.measured - 1);
    });
    if (!record.present && record.keys.size === 0) this.#records.delete(nodeId);
  }

  /** Runs `change` on a node, keeping U and W (sums over eligible nodes) in step. */
  #withTotals(record: NodeRecord, change: () => void): void {
    if (eligible(record)) {
      this.#eligibleUsed -= used(record);
      this.#eligibleWeight -= record.weight;
    }
    change();
    if (eligible(record)) {
      this.#eligibleUsed += used(record);
      this.#eligibleWeight += record.weight;
    }
  }
}

function eligible(record: NodeRecord): boolean {
  return record.present && record.healthy && !record.draining;
}

/** u_i: the larger of the keys placed on it and its measured load in sessions. */
function used(record: NodeRecord): number {
  const assigned = record.keys.size;
  return record.measured === undefined || record.measured < assigned ? assigned : record.measured;
}

function validateNode(id: string, state: PlacementNode): void {
  if (id === '') throw new PlacementError('a node id must not be empty');
  // A weight is a count of sessions: below 1 the node could never take one.
  if (!Number.isFinite(state.weight) || state.weight < 1) {
    throw new PlacementError(`node ${id}: weight must be a number >= 1, got ${state.weight}`);
  }
  if (state.fill !== undefined && (!Number.isFinite(state.fill) || state.fill < 0)) {
    throw new PlacementError(`node ${id}: fill must be a number >= 0, got ${state.fill}`);
  }
}
