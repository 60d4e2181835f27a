/** The public shapes of placement: what a table holds and what it is told. */
import type { Clock } from '../../shared/clock.js';

/**
 * Why a session is on its node: the reason of its last move.
 * - `placed`: first placement of the key.
 * - `node_failed`: its node was removed or reported unhealthy.
 * - `node_drained`: its node is draining.
 * - `overloaded`: its node carried more than its declared capacity.
 * - `restored`: rebuilt from what a node reported after a control-plane restart.
 */
export type MoveReason = 'placed' | 'node_failed' | 'node_drained' | 'overloaded' | 'restored';

/** One session key and the node carrying it. */
export interface Assignment {
  /** The session key: a camera path, an RTP route, a room id. */
  readonly key: string;
  /** Node id (as in the registry). */
  readonly node: string;
  /** When the key came to this node (its last move), ms since the epoch by the table's clock. */
  readonly sinceMs: number;
  readonly reason: MoveReason;
}

/** What the table needs to know about a node; see PlacementTable for how each enters. */
export interface PlacementNode {
  /**
   * Sessions the node can carry: its declared `capacity.sessions`
   * (weightOf). Sets its share of new sessions and its hard ceiling; >= 1.
   */
  readonly weight: number;
  /** False once the registry shows it stale or gone: its sessions move. */
  readonly healthy: boolean;
  /** Takes no new session; its sessions move. */
  readonly draining: boolean;
  /**
   * Measured fill, the share of its declared capacity in use by the latest
   * load report (fillOf): 0.5 is half full, above 1 is overloaded. Absent
   * until the node has reported; the table then counts only what it placed.
   */
  readonly fill?: number;
}

export interface PlacementOptions {
  /**
   * c of bounded loads: no node takes a new session beyond c times its
   * weighted share of all sessions. > 1; default 1.25.
   */
  readonly loadFactor?: number;
  /** Ring points of a node of average weight (a node gets points in proportion to its weight); default 100. */
  readonly virtualNodes?: number;
  /** Gives sinceMs; default the system clock. */
  readonly clock?: Clock;
}
