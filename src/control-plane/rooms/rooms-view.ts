/**
 * GET /rooms: every SFU room some signaling node reports, its home node
 * (the room PLACEMENT) and its member nodes with the peers and producers
 * each reported, and the pipes between them (no keys). Read-only: built
 * from RoomMembership, RoomPlacement and PipePlanner at each request.
 */
import type { PlacementReason } from '../../config/index.js';
import type { PipePlanner, PipeView } from './pipe-planner.js';
import type { RoomMembership, RoomShare } from './room-membership.js';
import type { RoomPlacement } from './room-placement.js';

export interface RoomView {
  readonly room: string;
  /** Its home node, null while none could take it (or in the restore grace). */
  readonly home: {
    readonly node: string;
    readonly since: string;
    readonly reason: PlacementReason;
  } | null;
  readonly peers: number;
  readonly producers: number;
  readonly nodes: RoomShare[];
  readonly pipes: PipeView[];
}

export interface RoomsView {
  readonly rooms: RoomView[];
}

export interface RoomsParts {
  readonly membership: RoomMembership;
  readonly placement: RoomPlacement;
  readonly pipes: PipePlanner;
}

export function roomsView({ membership, placement, pipes }: RoomsParts): RoomsView {
  const pipesByRoom = new Map<string, PipeView[]>();
  for (const pipe of pipes.view().pipes) {
    pipesByRoom.set(pipe.room, [...(pipesByRoom.get(pipe.room) ?? []), pipe]);
  }
  const rooms: RoomView[] = [];
  for (const [room, nodes] of membership.rooms()) {
    rooms.push({
      room,
      home: placement.homeOf(room) ?? null,
      peers: nodes.reduce((sum, share) => sum + share.peers, 0),
      producers: nodes.reduce((sum, share) => sum + share.producers, 0),
      nodes,
      pipes: pipesByRoom.get(room) ?? [],
    });
  }
  return { rooms };
}
