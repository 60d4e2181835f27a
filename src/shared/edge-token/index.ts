/**
 * Edge tokens: JWTs (ES256) the control plane signs with its token-issuer
 * certificate, which viewers and publishers show at the media edges (RTSP,
 * WHIP/WHEP, WebSocket rooms). The control plane mints; every edge verifies
 * with the mesh trust bundle alone.
 */
export {
  ANY_SCOPE,
  DEFAULT_TOKEN_TTL_SEC,
  MAX_SCOPE_NAME,
  MAX_TOKEN_SCOPES,
  MAX_TOKEN_TTL_SEC,
  scopeRefusal,
  tokenIssuerId,
  type EdgeAccess,
  type EdgeRole,
  type EdgeTokenClaims,
} from './claims.js';
export { EdgeTokenGate, type EdgeTokenGateOptions } from './edge-gate.js';
export { EdgeTokenError, type EdgeTokenErrorCode } from './errors.js';
export { mint, type EdgeTokenSigner, type MintedToken, type MintRequest } from './mint.js';
export { carriedToken, withoutParameter, type CarriedToken } from './token-carrier.js';
export {
  CLOCK_LEEWAY_SEC,
  failureStatus,
  MAX_TOKEN_BYTES,
  parseTrustBundle,
  verifyEdgeToken,
  type EdgeTokenFailure,
  type EdgeTokenVerdict,
  type VerifyOptions,
} from './verify.js';
export { IssuerCache, thumbprint } from './issuer-cache.js';
