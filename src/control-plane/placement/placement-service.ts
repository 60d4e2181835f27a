/**
 * The control plane's placement: keeps a PlacementTable in step with the
 * config in force (its session keys, session-keys.ts) and with the
 * registry's proxies, and turns its assignments into PLACEMENT resources
 * (src/config/placement-resource.ts) that the config push sends to every
 * proxy.
 *
 * - Nodes: the registry's proxies. A proxy is healthy while it is not stale
 *   (a node whose stream dropped keeps its sessions until it misses its
 *   heartbeats); its weight is its declared capacity.sessions (weightOf), its
 *   fill its latest load report (fillOf). Until its first load report the
 *   capacity the config declares for proxies stands in. A node the registry
 *   forgot is removed. A draining proxy (the registry's drain) takes no new
 *   key and its keys move with the reason `node_drained` to proxies with
 *   room; with none they stay, as the table decides.
 * - Keys: a new key is placed, a key gone from the config released, a key
 *   on a failed node moved (rebalance); a joining node moves nothing.
 * - When: a config change is taken at once (resources() catches up with the
 *   store before answering, so the push that carries a config change
 *   carries the placements it implies right after it); node changes, staleness and
 *   load reports are polled every reconcileIntervalMs (200 ms): staleness is
 *   a matter of time passing. A drain is taken at once (the registry's
 *   'drain' event), so its handover starts without waiting for the poll. A pass that
 *   changes assignments emits 'change' once, with nothing else to do for
 *   the push than to send what differs.
 * - Start and restart: for graceMs after start nothing is placed (on a
 *   first start, where no proxy returns a placement, only until
 *   FIRST_START_SETTLE_MS after the last proxy registered). Nodes
 *   reconnect meanwhile and their Hellos return the PLACEMENT resources they
 *   hold (reported()); the table is rebuilt from them, the newest `since`
 *   winning where nodes disagree. Only then does the first pass place new
 *   keys and move those whose node did not come back. A first start is the
 *   same with nothing reported, so the proxies starting with the control
 *   plane share the first keys instead of the quickest taking them all.
 */
import { EventEmitter } from 'node:events';
import {
  placementResource,
  type MeshConfig,
  type PlacementBody,
  type PlacementReason,
  type PushedResource,
} from '../../config/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { Capacity } from '../../protocol/mesh/index.js';
import type { NodeState, Registry } from '../registry/index.js';
import { fillOf, weightOf } from './node-load.js';
import { PlacementTable } from './placement-table.js';
import { sessionKeys } from './session-keys.js';
import type { Assignment } from './types.js';

/** Default reconcile period: the most often node changes can move placements. */
export const DEFAULT_RECONCILE_INTERVAL_MS = 200;
/**
 * Default grace after start: a node retries the control plane at most 5 s
 * apart (its backoff's ceiling), so every live node is back within it.
 */
export const DEFAULT_PLACEMENT_GRACE_MS = 6_000;
/**
 * On a first start (no proxy has returned a placement), placing begins this
 * long after the last proxy registered instead of at the end of the grace:
 * there is nothing to restore, and the proxies starting together have had
 * time to register and share the keys.
 */
export const FIRST_START_SETTLE_MS = 1_000;

/** What the service needs of the config store: the config in force and its changes. */
export interface ConfigSource {
  readonly current: { readonly version: string; readonly config: MeshConfig };
  on(event: 'change', listener: () => void): unknown;
  off(event: 'change', listener: () => void): unknown;
}

export interface PlacementServiceOptions {
  readonly store: ConfigSource;
  readonly registry: Registry;
  readonly clock: Clock;
  readonly log: Logger;
  /** c of bounded loads (PlacementTable); default 1.25. */
  readonly loadFactor?: number;
  readonly graceMs?: number;
  readonly reconcileIntervalMs?: number;
}

/** One placement as GET /placements shows it. */
export interface PlacementView {
  readonly key: string;
  readonly node: string;
  readonly since: string;
  readonly reason: PlacementReason;
}

/** One proxy as GET /placements shows it: its keys against its bound. */
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
   * healthy weight), over proxies neither stale nor draining (0 for those).
   */
  readonly bound: number;
}

export interface PlacementsView {
  /** True during the grace period after start, while the table is rebuilt from the nodes. */
  readonly restoring: boolean;
  readonly loadFactor: number;
  readonly placements: PlacementView[];
  readonly nodes: PlacementNodeView[];
}

export interface PlacementServiceEvents {
  /** Assignments changed other than by a config change: push them. */
  change: [];
}

export class PlacementService extends EventEmitter<PlacementServiceEvents> {
  readonly #options: PlacementServiceOptions;
  readonly #table: PlacementTable;
  readonly #loadFactor: number;
  /** The PLACEMENT resource of each assigned key. */
  readonly #resources = new Map<string, PushedResource>();
  /** Keys of the config that have no node yet (none could take them). */
  readonly #unplaced = new Set<string>();
  /** Proxies set in the table, so those the registry forgets can be removed. */
  readonly #nodes = new Set<string>();
  #configVersion: string | undefined;
  #restoring = true;
  #grace: NodeJS.Timeout | undefined;
  /** A proxy returned placements in its Hello: a restart, which keeps the whole grace. */
  #restart = false;
  #settle: NodeJS.Timeout | undefined;
  readonly #onRegistered = (id: string): void => {
    if (!this.#restoring || this.#restart) return;
    if (this.#options.registry.get(id)?.role !== 'ROLE_PROXY') return;
    clearTimeout(this.#settle);
    this.#settle = setTimeout(() => this.endRestore(), FIRST_START_SETTLE_MS);
    this.#settle.unref();
  };
  #tick: NodeJS.Timeout | undefined;
  readonly #onConfig = (): void => {
    this.#syncConfig();
  };
  readonly #onDrain = (): void => {
    this.reconcile();
  };

  constructor(options: PlacementServiceOptions) {
    super();
    this.#options = options;
    this.#loadFactor = options.loadFactor ?? 1.25;
    this.#table = new PlacementTable({ loadFactor: this.#loadFactor, clock: options.clock });
  }

  /** Starts the grace period, then reconciles every reconcileIntervalMs. */
  start(): void {
    this.#options.store.on('change', this.#onConfig);
    this.#options.registry.on('drain', this.#onDrain);
    this.#options.registry.on('registered', this.#onRegistered);
    this.#grace = setTimeout(
      () => this.endRestore(),
      this.#options.graceMs ?? DEFAULT_PLACEMENT_GRACE_MS,
    );
    this.#grace.unref();
  }

  close(): void {
    this.#options.store.off('change', this.#onConfig);
    this.#options.registry.off('drain', this.#onDrain);
    this.#options.registry.off('registered', this.#onRegistered);
    clearTimeout(this.#grace);
    clearTimeout(this.#settle);
    clearInterval(this.#tick);
  }

  get restoring(): boolean {
    return this.#restoring;
  }

  /**
   * Ends the grace period now (start() schedules it): places what must be
   * placed and from then on reconciles periodically.
   */
  endRestore(): void {
    if (!this.#restoring) return;
    clearTimeout(this.#grace);
    clearTimeout(this.#settle);
    this.#restoring = false;
    this.#options.log.info({ restored: this.#table.size }, 'placement: grace period over');
    this.#configVersion = undefined;
    this.reconcile();
    this.#tick = setInterval(
      () => this.reconcile(),
      this.#options.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS,
    );
    this.#tick.unref();
  }

  /** The placement of a session key now (its PLACEMENT body), or undefined. */
  placementOf(key: string): PlacementBody | undefined {
    const assignment = this.#table.get(key);
    return assignment === undefined ? undefined : bodyOf(assignment);
  }

  /** The PLACEMENT resources to push to every proxy, after the config in force. */
  resources(): readonly PushedResource[] {
    this.#syncConfig();
    return [...this.#resources.values()];
  }

  /**
   * What a proxy's Hello says it holds. Taken only during the grace period:
   * afterwards the table's own decisions stand and the node is sent them.
   * A key reported by several nodes keeps the newest `since`.
   */
  reported(node: string, held: readonly { readonly key: string; readonly body: PlacementBody }[]) {
    if (!this.#restoring) return;
    if (held.length > 0) {
      this.#restart = true;
      clearTimeout(this.#settle);
    }
    let changed = false;
    for (const { key, body } of held) {
      const sinceMs = Date.parse(body.since);
      const current = this.#table.get(key);
      if (current !== undefined && current.sinceMs >= sinceMs) continue;
      this.#record(this.#table.restore(key, body.node, sinceMs, body.reason));
      changed = true;
    }
    this.#options.log.debug({ node, placements: held.length }, 'placement: node reported');
    if (changed) this.emit('change');
  }

  /** One pass: nodes from the registry, keys from the config, failed nodes' keys moved. */
  reconcile(): void {
    if (this.#restoring) return;
    let changed = this.#syncNodes();
    changed = this.#syncConfig() || changed;
    for (const moved of this.#table.rebalance()) {
      this.#record(moved);
      changed = true;
    }
    if (changed) this.emit('change');
  }

  view(): PlacementsView {
    const loads = this.#table.loads();
    const total = this.#table.size;
    const nodes: PlacementNodeView[] = [];
    let healthyWeight = 0;
    const proxies = [...this.#options.registry.records()].filter(
      (record) => record.role === 'ROLE_PROXY',
    );
    const states = proxies.map((record) => {
      const state = this.#options.registry.stateOf(record);
      const weight = this.#weightOf(record.load?.capacity);
      const eligible = state !== 'stale' && record.draining === undefined;
      if (eligible) healthyWeight += weight;
      return { record, state, weight, eligible };
    });
    for (const { record, state, weight, eligible } of states) {
      nodes.push({
        id: record.id,
        state,
        draining: record.draining !== undefined,
        keys: loads.get(record.id) ?? 0,
        weight,
        fill: record.load === undefined ? null : fillOf(record.load),
        bound:
          healthyWeight > 0 && eligible
            ? Math.ceil((this.#loadFactor * total * weight) / healthyWeight)
            : 0,
      });
    }
    nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return {
      restoring: this.#restoring,
      loadFactor: this.#loadFactor,
      placements: this.#table.list().map(viewOf),
      nodes,
    };
  }

  /** Sets every proxy of the registry in the table; removes those it forgot. */
  #syncNodes(): boolean {
    const seen = new Set<string>();
    let changed = false;
    for (const record of this.#options.registry.records()) {
      if (record.role !== 'ROLE_PROXY') continue;
      seen.add(record.id);
      const healthy = this.#options.registry.stateOf(record) !== 'stale';
      const { load } = record;
      this.#table.setNode(record.id, {
        weight: this.#weightOf(load?.capacity),
        healthy,
        // Stays true past the deadline: the node takes nothing until it re-registers.
        draining: record.draining !== undefined,
        ...(load === undefined ? {} : { fill: fillOf(load) }),
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
    // A node joining or leaving may give room to keys that had none.
    return this.#placeUnplaced() || changed;
  }

  /**
   * Catches up with the config in force: releases keys it no longer has and
   * places its new ones (not during the grace period). True when an
   * assignment changed.
   */
  #syncConfig(): boolean {
    const { version, config } = this.#options.store.current;
    if (this.#restoring || version === this.#configVersion) return false;
    this.#configVersion = version;
    const keys = new Set(sessionKeys(config));
    let changed = false;
    for (const assignment of this.#table.list()) {
      if (keys.has(assignment.key)) continue;
      this.#table.release(assignment.key);
      this.#resources.delete(assignment.key);
      changed = true;
    }
    for (const key of this.#unplaced) if (!keys.has(key)) this.#unplaced.delete(key);
    for (const key of keys) if (this.#table.get(key) === undefined) this.#unplaced.add(key);
    return this.#placeUnplaced() || changed;
  }

  #placeUnplaced(): boolean {
    let changed = false;
    for (const key of this.#unplaced) {
      const assignment = this.#table.assign(key);
      if (assignment === undefined) break; // no room for one: none for the others either
      this.#unplaced.delete(key);
      this.#record(assignment);
      changed = true;
    }
    return changed;
  }

  #record(assignment: Assignment): void {
    this.#resources.set(assignment.key, placementResource(assignment.key, bodyOf(assignment)));
  }

  #weightOf(capacity: Capacity | undefined): number {
    const declared = capacity ?? this.#options.store.current.config.proxy.capacity;
    // A hostile or broken report could declare 0; the table needs >= 1.
    return Math.max(1, weightOf(declared));
  }
}

function bodyOf(assignment: Assignment): PlacementBody {
  // MoveReason and PlacementReason are one list, kept in two layers.
  const reason: PlacementReason = assignment.reason;
  return { node: assignment.node, since: new Date(assignment.sinceMs).toISOString(), reason };
}

function viewOf(assignment: Assignment): PlacementView {
  const { node, since, reason } = bodyOf(assignment);
  return { key: assignment.key, node, since, reason };
}
