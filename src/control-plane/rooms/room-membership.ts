/**
 * Which signaling nodes have local participants in which SFU room, as the
 * nodes say in their RoomReports (issue 18). Rooms are demand-keyed, not
 * config-keyed: a room exists for the control plane while some node
 * reports it. Room placement (room-placement.ts) places each reported room
 * on a home node, the pipe planner (pipe-planner.ts) joins each pair of
 * nodes that report the same room, and GET /rooms shows both.
 *
 * - A report is a node's whole set (checked by checkRoomReports before it
 *   gets here) and replaces its previous one.
 * - A node's report stays while its stream is closed and it is not stale
 *   (it sends it again after its next Hello), so a control-plane blip moves
 *   no room; it lapses once the node is stale with its stream closed, or
 *   gone from the registry (members() and rooms() leave it out then).
 * - 'change' is emitted when a node's set of rooms changes (not when only
 *   its peer or producer counts do: nothing is placed or piped by them).
 */
import { EventEmitter } from 'node:events';
import type { RoomReport } from '../../protocol/mesh/index.js';
import type { Registry } from '../registry/index.js';

/** One node's share of a room, as it reported it. */
export interface RoomShare {
  readonly node: string;
  readonly peers: number;
  readonly producers: number;
}

export interface RoomMembershipEvents {
  /** Some node's set of rooms changed (or lapsed): place and pipe again. */
  change: [];
}

export class RoomMembership extends EventEmitter<RoomMembershipEvents> {
  readonly #registry: Registry;
  /** Per signaling node: room name -> its report. */
  readonly #reports = new Map<string, Map<string, RoomReport>>();

  constructor(registry: Registry) {
    super();
    this.#registry = registry;
  }

  /** A signaling node's whole set of rooms (checked), replacing its previous one. */
  report(node: string, rooms: readonly RoomReport[]): void {
    const previous = this.#reports.get(node);
    const next = new Map(rooms.map((report) => [report.room, report]));
    if (next.size === 0) this.#reports.delete(node);
    else this.#reports.set(node, next);
    if (!sameRooms(previous, next)) this.emit('change');
  }

  /**
   * Forgets the reports of nodes that lapsed (stale with their stream
   * closed, or gone from the registry); true when one did. The planners
   * call it on each pass: staleness is a matter of time passing.
   */
  forgetLapsed(): boolean {
    let changed = false;
    for (const node of [...this.#reports.keys()]) {
      const record = this.#registry.get(node);
      const lapsed =
        record === undefined ||
        record.role !== 'ROLE_SIGNALING' ||
        (!record.streamOpen && this.#registry.stateOf(record) === 'stale');
      if (!lapsed) continue;
      this.#reports.delete(node);
      changed = true;
    }
    if (changed) this.emit('change');
    return changed;
  }

  /** Every reported room and the nodes reporting it, room names sorted, nodes sorted. */
  rooms(): Map<string, RoomShare[]> {
    const rooms = new Map<string, RoomShare[]>();
    for (const [node, reports] of this.#reports) {
      for (const { room, peers, producers } of reports.values()) {
        const shares = rooms.get(room) ?? [];
        shares.push({ node, peers, producers });
        rooms.set(room, shares);
      }
    }
    for (const shares of rooms.values()) shares.sort((x, y) => compare(x.node, y.node));
    return new Map([...rooms].sort(([x], [y]) => compare(x, y)));
  }

  /** Whether some node reports `room` now. */
  has(room: string): boolean {
    for (const reports of this.#reports.values()) if (reports.has(room)) return true;
    return false;
  }
}

function sameRooms(
  previous: ReadonlyMap<string, RoomReport> | undefined,
  next: ReadonlyMap<string, RoomReport>,
): boolean {
  if ((previous?.size ?? 0) !== next.size) return false;
  for (const room of next.keys()) if (previous?.has(room) !== true) return false;
  return true;
}

function compare(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
