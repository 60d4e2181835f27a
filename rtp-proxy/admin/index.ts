/**
 * The proxy's own admin routes (`/streams`, `/keys`).
 */
export { addStreamRoutes } from './streams.js';
