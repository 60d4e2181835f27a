/**
 * The start of a placement after the control plane (re)starts, one way for
 * PlacementService (proxies) and RoomPlacement (signaling nodes): for
 * graceMs nothing is placed while the nodes reconnect and their Hellos
 * return what they hold; then `ended` runs once and `reconcile` every
 * reconcileIntervalMs (staleness is a matter of time passing).
 *
 * A first start, where no node of the role returns a placement, has
 * nothing to restore: placing begins FIRST_START_SETTLE_MS after the last
 * node of the role registered instead of at the end of the grace, so the
 * nodes starting with the control plane share the first keys instead of
 * the quickest taking them all. A Hello that returns placements
 * (restarted()) makes it a restart, which keeps the whole grace.
 */
import type { Role } from '../../protocol/mesh/index.js';
import type { Registry } from '../registry/index.js';

/** Default reconcile period: the most often node changes can move placements. */
export const DEFAULT_RECONCILE_INTERVAL_MS = 200;
/**
 * Default grace after start: a node retries the control plane at most 5 s
 * apart (its backoff's ceiling), so every live node is back within it.
 */
export const DEFAULT_PLACEMENT_GRACE_MS = 6_000;
/**
 * On a first start (no node has returned a placement), placing begins this
 * long after the last node registered instead of at the end of the grace:
 * there is nothing to restore, and the nodes starting together have had
 * time to register and share the keys.
 */
export const FIRST_START_SETTLE_MS = 1_000;

export interface PlacementGraceOptions {
  readonly registry: Registry;
  /** The nodes the placement places on: only their registrations settle a first start. */
  readonly role: Role;
  readonly graceMs?: number | undefined;
  readonly reconcileIntervalMs?: number | undefined;
  /** Runs once as the grace ends (restoring is false by then): place what must be placed. */
  readonly ended: () => void;
  /** Runs every reconcileIntervalMs after the grace. */
  readonly reconcile: () => void;
}

export class PlacementGrace {
  readonly #options: PlacementGraceOptions;
  #restoring = true;
  #restart = false;
  #grace: NodeJS.Timeout | undefined;
  #settle: NodeJS.Timeout | undefined;
  #tick: NodeJS.Timeout | undefined;
  readonly #onRegistered = (id: string): void => {
    if (!this.#restoring || this.#restart) return;
    if (this.#options.registry.get(id)?.role !== this.#options.role) return;
    clearTimeout(this.#settle);
    this.#settle = setTimeout(() => this.end(), FIRST_START_SETTLE_MS);
    this.#settle.unref();
  };

  constructor(options: PlacementGraceOptions) {
    this.#options = options;
  }

  /** Starts the grace period. */
  start(): void {
    this.#options.registry.on('registered', this.#onRegistered);
    this.#grace = setTimeout(() => this.end(), this.#options.graceMs ?? DEFAULT_PLACEMENT_GRACE_MS);
    this.#grace.unref();
  }

  close(): void {
    this.#options.registry.off('registered', this.#onRegistered);
    clearTimeout(this.#grace);
    clearTimeout(this.#settle);
    clearInterval(this.#tick);
  }

  /** True during the grace, while the table is rebuilt from the nodes' Hellos. */
  get restoring(): boolean {
    return this.#restoring;
  }

  /** A node's Hello returned placements: a restart, which keeps the whole grace. */
  restarted(): void {
    this.#restart = true;
    clearTimeout(this.#settle);
  }

  /** Ends the grace now (start() schedules it): `ended`, then `reconcile` periodically. */
  end(): void {
    if (!this.#restoring) return;
    clearTimeout(this.#grace);
    clearTimeout(this.#settle);
    this.#restoring = false;
    this.#options.ended();
    this.#tick = setInterval(
      () => this.#options.reconcile(),
      this.#options.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS,
    );
    this.#tick.unref();
  }
}
