/**
 * A PlacementTable over the registry's nodes of one role, with the
 * PLACEMENT resource (src/config/placement-resource.ts) of each assignment:
 * what PlacementService (proxies, session keys) and RoomPlacement
 * (signaling nodes, rooms) both drive, each deciding which keys to place.
 *
 * - Nodes: the registry's nodes of the role. A node is healthy while it is
 *   not stale (a node whose stream dropped keeps its keys until it misses
 *   its heartbeats); its weight is its declared capacity.sessions
 *   (weightOf, at least 1: a hostile or broken report could declare 0),
 *   before its first load report the capacity the config declares for the
 *   role; its fill is what the owner makes of its latest load report. A
 *   draining node (the registry's drain) takes no new key; a node the
 *   registry forgot is removed.
 * - Resources: every assignment made, restored or moved here gets its
 *   PLACEMENT resource, and a released key loses it, so resources() is
 *   always the table's assignments.
 * - Restore: a key several nodes' Hellos return keeps the newest `since`.
 */
import {
  placementResource,
  type PlacementBody,
  type PlacementReason,
  type PushedResource,
} from '../../config/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Capacity, Role } from '../../protocol/mesh/index.js';
import type { NodeRecord, NodeState, Registry } from '../registry/index.js';
import { weightOf } from './node-load.js';
import { PlacementTable } from './placement-table.js';
import type { Assignment } from './types.js';

/** One placement as GET /placements shows it. */
export interface PlacementView {
  readonly key: string;
  readonly node: string;
  readonly since: string;
  readonly reason: PlacementReason;
}

/** One node as GET /placements shows it: its keys against its bound. */
export interface PlacementNodeView {
  readonly id: string;
  readonly state: NodeState;
  /** Draining (the registry's drain): it takes no key and gives its keys away. */
  readonly draining: boolean;
  readonly keys: number;
  /** Sessions it declares it can carry (its weight). */
  readonly weight: number;
  /** Its share of its capacity in use by its latest load report; null before one. */
  readonly fill: number | null;
  /**
   * The most keys bounded loads lets it hold now: ceil(c * keys * weight /
   * healthy weight), over nodes neither stale nor draining (0 for those).
   */
  readonly bound: number;
}

/** A node's latest load report, as the registry keeps it. */
export type NodeLoad = NonNullable<NodeRecord['load']>;

export interface RolePlacementsOptions {
  readonly registry: Registry;
  readonly role: Role;
  readonly clock: Clock;
  /** c of bounded loads (PlacementTable). */
  readonly loadFactor: number;
  /** The capacity the config in force declares for the role, before a node's first load report. */
  readonly declaredCapacity: () => Capacity;
  /** A node's fill from its latest load report. */
  readonly fillOf: (load: NodeLoad) => number;
}

export class RolePlacements {
  readonly #options: RolePlacementsOptions;
  readonly #table: PlacementTable;
  /** The PLACEMENT resource of each assigned key. */
  readonly #resources = new Map<string, PushedResource>();
  /** Nodes set in the table, so those the registry forgets can be removed. */
  readonly #nodes = new Set<string>();

  constructor(options: RolePlacementsOptions) {
    this.#options = options;
    this.#table = new PlacementTable({ loadFactor: options.loadFactor, clock: options.clock });
  }

  get size(): number {
    return this.#table.size;
  }

  get(key: string): Assignment | undefined {
    return this.#table.get(key);
  }

  /** The placement of `key` now (its PLACEMENT body), or undefined. */
  bodyOf(key: string): PlacementBody | undefined {
    const assignment = this.#table.get(key);
    return assignment === undefined ? undefined : bodyOf(assignment);
  }

  list(): Assignment[] {
    return this.#table.list();
  }

  /** The PLACEMENT resources of every assignment. */
  resources(): PushedResource[] {
    return [...this.#resources.values()];
  }

  /** Places `key` (sticky, bounded loads); undefined when no node can take it. */
  assign(key: string): Assignment | undefined {
    const assignment = this.#table.assign(key);
    if (assignment !== undefined) this.#record(assignment);
    return assignment;
  }

  release(key: string): void {
    this.#table.release(key);
    this.#resources.delete(key);
  }

  /**
   * Takes a placement a node's Hello returned unless the table holds one at
   * least as new; true when taken.
   */
  restore(key: string, body: PlacementBody, sinceMs: number): boolean {
    const current = this.#table.get(key);
    if (current !== undefined && current.sinceMs >= sinceMs) return false;
    this.#record(this.#table.restore(key, body.node, sinceMs, body.reason));
    return true;
  }

  /** Moves the keys of failed and draining nodes; true when one moved. */
  rebalance(): boolean {
    let changed = false;
    for (const moved of this.#table.rebalance()) {
      this.#record(moved);
      changed = true;
    }
    return changed;
  }

  /** Sets every node of the role in the registry in the table; removes those it forgot. */
  syncNodes(): boolean {
    const { registry, role } = this.#options;
    const seen = new Set<string>();
    let changed = false;
    for (const record of registry.records()) {
      if (record.role !== role) continue;
      seen.add(record.id);
      const { load } = record;
      this.#table.setNode(record.id, {
        weight: this.#weightOf(load?.capacity),
        healthy: registry.stateOf(record) !== 'stale',
        // Stays true past the deadline: the node takes nothing until it re-registers.
        draining: record.draining !== undefined,
        ...(load === undefined ? {} : { fill: this.#options.fillOf(load) }),
      });
      if (!this.#nodes.has(record.id)) {
        this.#nodes.add(record.id);
        changed = true;
      }
    }
    for (const id of this.#nodes) {
      if (seen.has(id)) continue;
      this.#table.removeNode(id);
      this.#nodes.delete(id);
      changed = true;
    }
    return changed;
  }

  /**
   * The capacity of the role's eligible nodes (neither stale nor draining,
   * each weight rounded down) and how many they are.
   */
  eligibleCapacity(): { readonly capacity: number; readonly eligible: number } {
    const { registry, role } = this.#options;
    let capacity = 0;
    let eligible = 0;
    for (const record of registry.records()) {
      if (record.role !== role || record.draining !== undefined) continue;
      if (registry.stateOf(record) === 'stale') continue;
      capacity += Math.floor(this.#weightOf(record.load?.capacity));
      eligible += 1;
    }
    return { capacity, eligible };
  }

  /** The role's nodes as GET /placements shows them, by id. */
  nodesView(): PlacementNodeView[] {
    const { registry, role, loadFactor } = this.#options;
    const loads = this.#table.loads();
    const total = this.#table.size;
    let healthyWeight = 0;
    const states = [...registry.records()]
      .filter((record) => record.role === role)
      .map((record) => {
        const state = registry.stateOf(record);
        const weight = this.#weightOf(record.load?.capacity);
        const eligible = state !== 'stale' && record.draining === undefined;
        if (eligible) healthyWeight += weight;
        return { record, state, weight, eligible };
      });
    const nodes: PlacementNodeView[] = states.map(({ record, state, weight, eligible }) => ({
      id: record.id,
      state,
      draining: record.draining !== undefined,
      keys: loads.get(record.id) ?? 0,
      weight,
      fill: record.load === undefined ? null : this.#options.fillOf(record.load),
      bound:
        healthyWeight > 0 && eligible
          ? Math.ceil((loadFactor * total * weight) / healthyWeight)
          : 0,
    }));
    nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return nodes;
  }

  /** Every assignment as GET /placements shows it. */
  placementsView(): PlacementView[] {
    return this.#table.list().map((assignment) => {
      const { node, since, reason } = bodyOf(assignment);
      return { key: assignment.key, node, since, reason };
    });
  }

  #record(assignment: Assignment): void {
    this.#resources.set(assignment.key, placementResource(assignment.key, bodyOf(assignment)));
  }

  #weightOf(capacity: Capacity | undefined): number {
    // A hostile or broken report could declare 0; the table needs >= 1.
    return Math.max(1, weightOf(capacity ?? this.#options.declaredCapacity()));
  }
}

function bodyOf(assignment: Assignment): PlacementBody {
  // MoveReason and PlacementReason are one list, kept in two layers.
  const reason: PlacementReason = assignment.reason;
  return { node: assignment.node, since: new Date(assignment.sinceMs).toISOString(), reason };
}
