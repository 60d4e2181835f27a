/**
 * Camera hops: the control plane's side of a camera pulled once by the
 * whole mesh. Proxies ask for the camera streams they want over a hop
 * (HopRequests); the HopPlanner decides the hops from those requests, the
 * placements and the registry, keys them and rotates their keys, and its
 * MEDIA_KEY resources go to each hop's two nodes with the config push.
 * stream-path.ts turns the proxies' stats reports into one stream's path,
 * hop by hop, for the admin view.
 */
export {
  DEFAULT_HANDOVER_MS,
  DEFAULT_HOP_RECONCILE_INTERVAL_MS,
  HOP_LISTEN_ADDRESS,
  HopPlanner,
  mergeBodies,
  type HopKeyView,
  type HopPlannerOptions,
  type HopsView,
  type HopView,
  type SessionPlacements,
} from './hop-planner.js';
export { checkHopRequests, isHopAddress, type HopRequestDefect } from './hop-requests.js';
export {
  hopStatsOf,
  streamHopsView,
  type CameraHop,
  type ProxyHop,
  type StreamHopsView,
  type ViewersHop,
} from './stream-path.js';
