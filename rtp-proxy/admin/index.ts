/**
 * The proxy's own admin routes (`/streams`, `/keys`, `/placements`).
 */
export { addKeyRoutes, keyFingerprint, type KeySummary } from './keys.js';
export { addStreamRoutes } from './streams.js';
export { addPlacementRoutes } from './placements.js';
export { addHopRoutes } from './hops.js';
