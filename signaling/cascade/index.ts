/**
 * Rooms across signaling nodes (issue 18; CASCADE.md): the cascade links
 * between nodes (links.ts, link-*.ts), the pipes of each room (pipe-set.ts)
 * and the RoomCascade that ties them to the node's Rooms. The rest of the
 * signaling node imports them from here.
 */
export {
  CascadeLinks,
  DEFAULT_DIAL_TIMEOUT_MS,
  DEFAULT_LINK_BACKOFF,
  DEFAULT_LINK_HEARTBEAT_MS,
  DEFAULT_LINK_RATE,
  DEFAULT_MAX_MISSED_PONGS,
  DEFAULT_MAX_QUEUED,
  type CascadeLinksEvents,
  type CascadeLinksOptions,
} from './links.js';
export {
  LinkDownError,
  LinkRequestTimeoutError,
  LinksClosedError,
  NoWorkloadCertificateError,
  UnknownLinkNodeError,
} from './link-errors.js';
export {
  LINK_PROTOCOL_VERSION,
  LINK_SUBPROTOCOL,
  MAX_LINK_MESSAGE_BYTES,
  encodeLinkMessage,
  linkMessageSchemas,
  linkMessageTypes,
  parseLinkMessage,
  type LinkMessage,
  type LinkMessageOf,
  type LinkMessageType,
  type LinkParseFailure,
  type LinkParseResult,
  type PipeReply,
} from './link-messages.js';
export {
  registerLinkMetrics,
  type LinkDialFailure,
  type LinkDropReason,
  type LinkMetrics,
  type LinkRefusal,
} from './link-metrics.js';
export { LINK_NODE_HEADER, type LinkPeerEntry, type LinkPeerLookup } from './link-peer-check.js';
export { LINK_PATH } from './link-server.js';
export {
  PipeSet,
  type PipeAppData,
  type PipeConnectOptions,
  type PipeConnectResult,
  type PipedOut,
  type PipeInRequest,
  type PipeOwnEnd,
  type PipeSetEvents,
  type PipeSetOptions,
  type PipeSetStats,
  type PipeStats,
} from './pipe-set.js';
export {
  PipeSetError,
  connectParameters,
  describeEndpoint,
  endpointOf,
  sameEndpoint,
  type PipeEndpoint,
  type PipeSetErrorCode,
} from './pipe-endpoint.js';
export { registerPipeMetrics } from './pipe-metrics.js';
export {
  JOIN_SETTLE_MS,
  PIPE_REQUEST_TIMEOUT_MS,
  RoomCascade,
  SYNC_ANSWER_WINDOW_MS,
  RoomCascadeError,
  type PipeSource,
  type RoomCascadeErrorCode,
  type RoomCascadeOptions,
} from './room-cascade.js';
export { roomSyncMessages, syncPeer, type SyncPeer, type SyncProducer } from './room-sync.js';
export { RoomCopies, type RoomCopiesOptions } from './room-copies.js';
