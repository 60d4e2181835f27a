export {
  SignalingServer,
  WEBSOCKET_PATH,
  type HttpRoute,
  type SignalingServerOptions,
} from './signaling-server.js';
export {
  MAX_REMOTE_PRODUCERS_PER_PEER,
  Rooms,
  RoomError,
  type JoinOptions,
  type PeerInfo,
  type ProducerInfo,
  type RoomAppData,
  type RoomMember,
  type RoomProducer,
  type RoomSpan,
  type RoomsEvents,
  type RoomsOptions,
} from './rooms.js';
export {
  RemoteRoster,
  type RosterLimits,
  type RemotePeer,
  type RemoteProducer,
  type RemoteProducerInput,
  type RosterChange,
} from './remote-roster.js';
export { SignalingConnection, MAX_MISSED_PONGS } from './signaling-connection.js';
export {
  doorsOf,
  elsewhere,
  httpDoor,
  redirectLocation,
  websocketDoor,
  websocketUrlOf,
  type DoorDecision,
  type DoorFacts,
  type DoorNode,
  type NodeDirectory,
} from './door.js';
export {
  DEFAULT_WEBRTC_BUDGET,
  OverBudgetError,
  WebRtcBudget,
  budgetedResources,
  isPortExhaustion,
  type BudgetLease,
  type BudgetScope,
  type BudgetedResource,
  type OverBudgetReason,
  type ResourceBudget,
  type WebRtcBudgetLimits,
} from './webrtc-budget.js';
export { DEFAULT_HEARTBEAT_INTERVAL_MS } from './heartbeat.js';
export { roomMediaCodecs } from './codecs.js';
