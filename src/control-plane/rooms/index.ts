/**
 * SFU rooms across signaling nodes (issue 18), the control plane's side:
 * directory and keys, never in the media-signalling path.
 *
 *   RoomMembership  which node has participants in which room (RoomReports)
 *   RoomPlacement   each room's home node: PLACEMENT room/<name>
 *   SignalingNodes  SIGNALING_NODE: every live signaling node, url and link
 *   PipePlanner     PIPE: each pair of nodes sharing a room, ends' keys relayed
 *   roomsView       GET /rooms
 *
 * The config push sends the three resource kinds to signaling nodes only
 * (PIPEs to their two ends only) and hands them what the nodes report.
 */
export {
  PipePlanner,
  type PipeEndView,
  type PipePlannerOptions,
  type PipesView,
  type PipeView,
  type RestoreGrace,
} from './pipe-planner.js';
export { RoomMembership, type RoomShare } from './room-membership.js';
export {
  DEFAULT_ROOM_LINGER_MS,
  MAX_RESTORED_SINCE_SKEW_MS,
  ROOM_KEY_PREFIX,
  RoomPlacement,
  roomKey,
  signalingFillOf,
  type RoomPlacementOptions,
  type RoomPlacementsView,
} from './room-placement.js';
export { roomsView, type RoomsParts, type RoomsView, type RoomView } from './rooms-view.js';
export {
  CASCADE_LISTEN_ADDRESS,
  SIGNALING_LISTEN_ADDRESS,
  SIGNALING_URL_LISTEN_ADDRESS,
  SignalingNodes,
  signalingNodeBodyOf,
} from './signaling-nodes.js';
export { roomHopsView, type RoomHopsView } from './room-hops.js';
