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
 * - Start and restart: PlacementGrace (placement-grace.ts). Nothing is
 *   placed during the grace; nodes reconnect meanwhile and their Hellos
 *   return the PLACEMENT resources they hold (reported()); the table is
 *   rebuilt from them, the newest `since` winning where nodes disagree.
 *   Only then does the first pass place new keys and move those whose node
 *   did not come back.
 *
 * The table over the proxies and its resources are RolePlacements
 * (role-placements.ts), which RoomPlacement drives over signaling nodes.
 */
import { EventEmitter } from 'node:events';
import type { MeshConfig, PlacementBody, PushedResource } from '../../config/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { Registry } from '../registry/index.js';
import { fillOf } from './node-load.js';
import { PlacementGrace } from './placement-grace.js';
import { RolePlacements, type PlacementNodeView, type PlacementView } from './role-placements.js';
import { sessionKeys } from './session-keys.js';

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
  readonly #placements: RolePlacements;
  readonly #grace: PlacementGrace;
  readonly #loadFactor: number;
  /** Keys of the config that have no node yet (none could take them). */
  readonly #unplaced = new Set<string>();
  #configVersion: string | undefined;
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
    this.#placements = new RolePlacements({
      registry: options.registry,
      role: 'ROLE_PROXY',
      clock: options.clock,
      loadFactor: this.#loadFactor,
      declaredCapacity: () => options.store.current.config.proxy.capacity,
      fillOf,
    });
    this.#grace = new PlacementGrace({
      registry: options.registry,
      role: 'ROLE_PROXY',
      graceMs: options.graceMs,
      reconcileIntervalMs: options.reconcileIntervalMs,
      ended: () => {
        this.#options.log.info({ restored: this.#placements.size }, 'placement: grace period over');
        this.#configVersion = undefined;
        this.reconcile();
      },
      reconcile: () => this.reconcile(),
    });
  }

  /** Starts the grace period, then reconciles every reconcileIntervalMs. */
  start(): void {
    this.#options.store.on('change', this.#onConfig);
    this.#options.registry.on('drain', this.#onDrain);
    this.#grace.start();
  }

  close(): void {
    this.#options.store.off('change', this.#onConfig);
    this.#options.registry.off('drain', this.#onDrain);
    this.#grace.close();
  }

  get restoring(): boolean {
    return this.#grace.restoring;
  }

  /**
   * Ends the grace period now (start() schedules it): places what must be
   * placed and from then on reconciles periodically.
   */
  endRestore(): void {
    this.#grace.end();
  }

  /** The placement of a session key now (its PLACEMENT body), or undefined. */
  placementOf(key: string): PlacementBody | undefined {
    return this.#placements.bodyOf(key);
  }

  /** The PLACEMENT resources to push to every proxy, after the config in force. */
  resources(): readonly PushedResource[] {
    this.#syncConfig();
    return this.#placements.resources();
  }

  /**
   * What a proxy's Hello says it holds. Taken only during the grace period:
   * afterwards the table's own decisions stand and the node is sent them.
   * A key reported by several nodes keeps the newest `since`.
   */
  reported(node: string, held: readonly { readonly key: string; readonly body: PlacementBody }[]) {
    if (!this.#grace.restoring) return;
    if (held.length > 0) this.#grace.restarted();
    let changed = false;
    for (const { key, body } of held) {
      if (this.#placements.restore(key, body, Date.parse(body.since))) changed = true;
    }
    this.#options.log.debug({ node, placements: held.length }, 'placement: node reported');
    if (changed) this.emit('change');
  }

  /** One pass: nodes from the registry, keys from the config, failed nodes' keys moved. */
  reconcile(): void {
    if (this.#grace.restoring) return;
    // A node joining or leaving may give room to keys that had none.
    let changed = this.#placements.syncNodes();
    changed = this.#placeUnplaced() || changed;
    changed = this.#syncConfig() || changed;
    changed = this.#placements.rebalance() || changed;
    if (changed) this.emit('change');
  }

  view(): PlacementsView {
    return {
      restoring: this.#grace.restoring,
      loadFactor: this.#loadFactor,
      placements: this.#placements.placementsView(),
      nodes: this.#placements.nodesView(),
    };
  }

  /**
   * Catches up with the config in force: releases keys it no longer has and
   * places its new ones (not during the grace period). True when an
   * assignment changed.
   */
  #syncConfig(): boolean {
    const { version, config } = this.#options.store.current;
    if (this.#grace.restoring || version === this.#configVersion) return false;
    this.#configVersion = version;
    const keys = new Set(sessionKeys(config));
    let changed = false;
    for (const assignment of this.#placements.list()) {
      if (keys.has(assignment.key)) continue;
      this.#placements.release(assignment.key);
      changed = true;
    }
    for (const key of this.#unplaced) if (!keys.has(key)) this.#unplaced.delete(key);
    for (const key of keys) if (this.#placements.get(key) === undefined) this.#unplaced.add(key);
    return this.#placeUnplaced() || changed;
  }

  #placeUnplaced(): boolean {
    let changed = false;
    for (const key of this.#unplaced) {
      const assignment = this.#placements.assign(key);
      if (assignment === undefined) break; // no room for one: none for the others either
      this.#unplaced.delete(key);
      changed = true;
    }
    return changed;
  }
}
