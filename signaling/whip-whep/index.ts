/**
 * WHIP (RFC 9725) ingest and WHEP egress on the signaling node's HTTP
 * listener: `whipWhepRoutes()` gives the routes for SignalingServer's
 * `routes` option. See signaling/WHIP-WHEP.md for the resources.
 */
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_SESSIONS,
  whipWhepRoutes,
  type WhipWhepOptions,
} from './routes.js';
export { SDPFRAG_TYPE, SDP_TYPE, WhipWhepError, type RefusalReason } from './http.js';
export type { Endpoint } from './metrics.js';
