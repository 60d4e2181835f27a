/**
 * The config the control plane serves and its incremental push to nodes (mesh.proto).
 */
export { ConfigStore } from './config-store.js';
export { ConfigPushServer } from './server.js';
