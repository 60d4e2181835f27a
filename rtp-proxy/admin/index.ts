/**
 * The proxy's own admin routes (`/streams`, `/keys`).
 */
export { addKeyRoutes, keyFingerprint, type KeySummary } from './keys.js';
export { addStreamRoutes } from './streams.js';
