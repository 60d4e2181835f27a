/**
 * Edge tokens on the control plane: its token-issuer certificate and the
 * admin route that mints tokens for viewers and publishers.
 */
export { TOKEN_ISSUER_LIFETIME_MS, TokenIssuer } from './token-issuer.js';
export { addTokenRoutes, type TokenAnswer, type TokenRouteOptions } from './token-routes.js';
