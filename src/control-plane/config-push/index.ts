/**
 * The config the control plane serves and its incremental push to nodes (mesh.proto).
 */
export { ConfigStore, type ConfigLayer } from './config-store.js';
export { ConfigPushServer, type ChannelSecurity } from './server.js';
export {
  checkLoad,
  checkPipeEndpoints,
  checkRoomReports,
  parsePipeId,
  registeredHostsOf,
  type CheckedPipeEndpoint,
  type PipeEndpointsDefect,
  type RoomReportsDefect,
} from './node-messages.js';
