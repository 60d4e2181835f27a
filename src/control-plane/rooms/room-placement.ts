/**
 * Room placement (issue 18): each SFU room some signaling node reports
 * gets a home node, the PLACEMENT `room/<name>` that the config push sends
 * to every signaling node (a node that cannot take a participant sends it
 * home: a WebSocket `moved`, a WHIP/WHEP 307). Its own table over the
 * registry's signaling nodes (RolePlacements) and start (PlacementGrace),
 * both shared with PlacementService, which drives the proxies' one:
 *
 * - Nodes: the registry's signaling nodes. Healthy while not stale; weight
 *   their declared capacity.sessions (before a load report, the config's
 *   signaling.capacity); fill their latest load report, where the busiest
 *   mediasoup worker's CPU counts against one core (a worker is one
 *   thread: at 1 it is saturated, whatever the sessions say). A draining node
 *   takes no new room and its rooms move (`node_drained`); a stale or
 *   forgotten node's rooms move (`node_failed`).
 * - Keys: demand-keyed. A room is placed at the first report that names it
 *   (RoomMembership 'change', at once) and released lingerMs (10 s) after
 *   no node reports it any more, so a room whose last participant rejoins
 *   at once keeps its home.
 * - Fair share: reports are a node's word, so one node's rooms may fill at
 *   most a fair share of the table (the eligible nodes' capacity over their
 *   number): a room is placed only while one of the nodes reporting it has
 *   fewer placed rooms than that. A room counts against the nodes whose
 *   reports placed it until it is released, lingering included. Past it, its rooms wait (and are placed
 *   as its others are released), and one node reporting thousands of rooms
 *   cannot use up the bounds every other node's rooms need (review
 *   finding 3; the push server also caps and rate-limits the reports).
 * - Start and restart: as PlacementService. For graceMs nothing is placed
 *   (on a first start, where no signaling Hello returns a room, only until
 *   FIRST_START_SETTLE_MS after the last signaling node registered); the
 *   signaling nodes' Hellos return the room PLACEMENTs they hold
 *   (reported()) and the table is rebuilt from them, the newest `since`
 *   winning. What a Hello returns is a node's word (review finding 4): a
 *   `since` more than MAX_RESTORED_SINCE_SKEW_MS ahead of the clock is
 *   refused (it would win every later claim), and at the end of the grace
 *   a restored home of a room some node reports stays only where its node
 *   itself reports it; otherwise the room is placed again.
 * - When: on a membership change and a drain at once, and every
 *   reconcileIntervalMs (staleness, lingering rooms). A pass that changes
 *   assignments emits 'change' once.
 */
import { EventEmitter } from 'node:events';
import type { PlacementBody, PushedResource } from '../../config/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import {
  fillOf,
  PlacementGrace,
  RolePlacements,
  type ConfigSource,
  type MeasuredLoad,
  type PlacementNodeView,
  type PlacementView,
} from '../placement/index.js';
import type { Registry } from '../registry/index.js';
import type { RoomMembership, RoomShare } from './room-membership.js';

/** The prefix of a room's placement key: `room/<name>`. */
export const ROOM_KEY_PREFIX = 'room/';
/** Default time a room nobody reports keeps its home. */
export const DEFAULT_ROOM_LINGER_MS = 10_000;

/**
 * How far ahead of the control plane's clock a restored `since` may be (the
 * skew certificates allow too); later is a node's invention, refused.
 */
export const MAX_RESTORED_SINCE_SKEW_MS = 5 * 60_000;

export function roomKey(room: string): string {
  return `${ROOM_KEY_PREFIX}${room}`;
}

export interface RoomPlacementOptions {
  /** The config in force: signaling.capacity stands in before a node's first load report. */
  readonly store: ConfigSource;
  readonly registry: Registry;
  readonly membership: RoomMembership;
  readonly clock: Clock;
  readonly log: Logger;
  readonly loadFactor?: number;
  readonly graceMs?: number;
  readonly reconcileIntervalMs?: number;
  readonly lingerMs?: number;
}

/** Room placements as GET /placements shows them (its `rooms`). */
export interface RoomPlacementsView {
  readonly restoring: boolean;
  readonly loadFactor: number;
  readonly lingerMs: number;
  readonly placements: PlacementView[];
  readonly nodes: PlacementNodeView[];
}

export interface RoomPlacementEvents {
  /** Room assignments changed: push them to the signaling nodes. */
  change: [];
}

export class RoomPlacement extends EventEmitter<RoomPlacementEvents> {
  readonly #options: RoomPlacementOptions;
  readonly #placements: RolePlacements;
  readonly #grace: PlacementGrace;
  readonly #loadFactor: number;
  readonly #lingerMs: number;
  /** Reported rooms' keys that found no node yet. */
  readonly #unplaced = new Set<string>();
  /** Placed keys no node reports, and since when (clock ms). */
  readonly #unreportedSince = new Map<string, number>();
  /** The nodes whose reports placed each key, charged for it until it is released. */
  readonly #chargedTo = new Map<string, readonly string[]>();
  /** Keys restored from Hellos, judged once at the end of the grace (see the header). */
  readonly #restored = new Set<string>();
  readonly #onInput = (): void => {
    this.reconcile();
  };

  constructor(options: RoomPlacementOptions) {
    super();
    this.#options = options;
    this.#loadFactor = options.loadFactor ?? 1.25;
    this.#lingerMs = options.lingerMs ?? DEFAULT_ROOM_LINGER_MS;
    this.#placements = new RolePlacements({
      registry: options.registry,
      role: 'ROLE_SIGNALING',
      clock: options.clock,
      loadFactor: this.#loadFactor,
      declaredCapacity: () => options.store.current.config.signaling.capacity,
      fillOf: signalingFillOf,
    });
    this.#grace = new PlacementGrace({
      registry: options.registry,
      role: 'ROLE_SIGNALING',
      graceMs: options.graceMs,
      reconcileIntervalMs: options.reconcileIntervalMs,
      ended: () => {
        this.#options.log.info(
          { restored: this.#placements.size },
          'room placement: grace period over',
        );
        this.reconcile();
      },
      reconcile: () => this.reconcile(),
    });
  }

  /** Starts the grace period, then reconciles on input and every reconcileIntervalMs. */
  start(): void {
    this.#options.membership.on('change', this.#onInput);
    this.#options.registry.on('drain', this.#onInput);
    this.#grace.start();
  }

  close(): void {
    this.#options.membership.off('change', this.#onInput);
    this.#options.registry.off('drain', this.#onInput);
    this.#grace.close();
  }

  get restoring(): boolean {
    return this.#grace.restoring;
  }

  /** Ends the grace period now: places what must be placed, then reconciles periodically. */
  endRestore(): void {
    this.#grace.end();
  }

  /** The home of `room` now (its PLACEMENT body), or undefined. */
  homeOf(room: string): PlacementBody | undefined {
    return this.#placements.bodyOf(roomKey(room));
  }

  /** The room PLACEMENT resources every signaling node should hold. */
  resources(): readonly PushedResource[] {
    return this.#placements.resources();
  }

  /**
   * The room PLACEMENTs a signaling node's Hello says it holds. Taken only
   * during the grace period, and only `room/` keys; the newest `since` wins,
   * and one later than MAX_RESTORED_SINCE_SKEW_MS ahead of now is refused.
   */
  reported(node: string, held: readonly { readonly key: string; readonly body: PlacementBody }[]) {
    if (!this.#grace.restoring) return;
    const rooms = held.filter(({ key }) => key.startsWith(ROOM_KEY_PREFIX));
    if (rooms.length > 0) this.#grace.restarted();
    let changed = false;
    let refused = 0;
    const latest = this.#options.clock.now() + MAX_RESTORED_SINCE_SKEW_MS;
    for (const { key, body } of rooms) {
      const sinceMs = Date.parse(body.since);
      if (!Number.isFinite(sinceMs) || sinceMs > latest) {
        refused += 1;
        continue;
      }
      if (!this.#placements.restore(key, body, sinceMs)) continue;
      this.#restored.add(key);
      changed = true;
    }
    if (refused > 0) {
      this.#options.log.warn(
        { node, refused },
        'room placement: restored homes with a `since` in the future refused',
      );
    }
    this.#options.log.debug({ node, rooms: rooms.length }, 'room placement: node reported');
    if (changed) this.emit('change');
  }

  /** One pass: nodes from the registry, rooms from the reports, failed nodes' rooms moved. */
  reconcile(): void {
    if (this.#grace.restoring) return;
    this.#options.membership.forgetLapsed();
    let changed = this.#placements.syncNodes();
    changed = this.#dropUnclaimedRestores() || changed;
    changed = this.#syncRooms() || changed;
    changed = this.#placements.rebalance() || changed;
    if (changed) this.emit('change');
  }

  view(): RoomPlacementsView {
    return {
      restoring: this.#grace.restoring,
      loadFactor: this.#loadFactor,
      lingerMs: this.#lingerMs,
      placements: this.#placements.placementsView(),
      nodes: this.#placements.nodesView(),
    };
  }

  /**
   * Once, at the first pass after the grace: a restored home whose node
   * does not itself report the room while others do is released, and
   * placed again (from the reports) like a new room. A Hello's word alone
   * keeps no home.
   */
  #dropUnclaimedRestores(): boolean {
    if (this.#restored.size === 0) return false;
    const rooms = this.#options.membership.rooms();
    let changed = false;
    for (const key of this.#restored) {
      const assignment = this.#placements.get(key);
      if (assignment === undefined) continue;
      const reporters = rooms.get(key.slice(ROOM_KEY_PREFIX.length)) ?? [];
      // Nobody's room any more: it lingers and goes as any unreported room.
      if (reporters.length === 0) continue;
      if (reporters.some(({ node }) => node === assignment.node)) continue;
      this.#release(key);
      this.#options.log.info(
        { key, node: assignment.node },
        'room placement: a restored home whose node does not report the room is placed again',
      );
      changed = true;
    }
    this.#restored.clear();
    return changed;
  }

  /** Places newly reported rooms, releases those nobody reported for lingerMs. */
  #syncRooms(): boolean {
    const now = this.#options.clock.now();
    const rooms = this.#options.membership.rooms();
    const reported = new Set([...rooms.keys()].map(roomKey));
    let changed = false;
    for (const assignment of this.#placements.list()) {
      const { key } = assignment;
      if (reported.has(key)) {
        this.#unreportedSince.delete(key);
        continue;
      }
      const since = this.#unreportedSince.get(key);
      if (since === undefined) {
        this.#unreportedSince.set(key, now);
        continue;
      }
      if (now - since < this.#lingerMs) continue;
      this.#release(key);
      this.#options.log.debug({ key }, 'room placement: room released');
      changed = true;
    }
    for (const key of this.#unplaced) if (!reported.has(key)) this.#unplaced.delete(key);
    for (const key of reported) {
      if (this.#placements.get(key) === undefined) this.#unplaced.add(key);
    }
    const shares = this.#shares(rooms);
    let heldBack = 0;
    for (const key of this.#unplaced) {
      const reporters = rooms.get(key.slice(ROOM_KEY_PREFIX.length)) ?? [];
      if (!reporters.some(({ node }) => shares.has(node))) {
        heldBack += 1;
        continue;
      }
      const assignment = this.#placements.assign(key);
      if (assignment === undefined) break; // no room for one: none for the others either
      this.#unplaced.delete(key);
      const charged = reporters.map(({ node }) => node);
      this.#chargedTo.set(key, charged);
      for (const node of charged) shares.take(node);
      changed = true;
    }
    if (heldBack > 0) {
      this.#options.log.debug(
        { heldBack, fairShare: shares.fairShare },
        'room placement: rooms of nodes past their fair share wait',
      );
    }
    return changed;
  }

  /**
   * What each node may still have placed of the rooms it reports: a fair
   * share of the table, the eligible nodes' capacity over their number,
   * less the placed rooms it reports already (see the header).
   */
  #shares(rooms: ReadonlyMap<string, readonly RoomShare[]>): FairShares {
    const { capacity, eligible } = this.#placements.eligibleCapacity();
    const fairShare = Math.ceil(capacity / Math.max(1, eligible));
    const used = new Map<string, number>();
    for (const { key } of this.#placements.list()) {
      // A lingering room stays charged to whoever placed it: reporting fresh
      // rooms while the last ones linger must not take more than the share.
      const charged =
        this.#chargedTo.get(key) ??
        (rooms.get(key.slice(ROOM_KEY_PREFIX.length)) ?? []).map(({ node }) => node);
      for (const node of charged) used.set(node, (used.get(node) ?? 0) + 1);
    }
    return {
      fairShare,
      has: (node) => (used.get(node) ?? 0) < fairShare,
      take: (node) => used.set(node, (used.get(node) ?? 0) + 1),
    };
  }

  /** Releases a room's home and forgets what was kept about it. */
  #release(key: string): void {
    this.#placements.release(key);
    this.#unreportedSince.delete(key);
    this.#chargedTo.delete(key);
  }
}

/**
 * A signaling node's fill: fillOf, or its busiest worker's cores over one
 * core when that is larger. The registry keeps the figures checkLoad
 * passed, workerCpuCores among them when the node sends it.
 */
export function signalingFillOf(load: MeasuredLoad & { readonly workerCpuCores?: number }): number {
  const worker = load.workerCpuCores;
  const workerFill = worker !== undefined && Number.isFinite(worker) && worker > 0 ? worker : 0;
  return Math.max(fillOf(load), workerFill);
}

/** Per node, whether it may have one more of its reported rooms placed now. */
interface FairShares {
  readonly fairShare: number;
  has(node: string): boolean;
  take(node: string): void;
}
