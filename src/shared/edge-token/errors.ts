/** A token the control plane was asked to mint but will not (a bad request, no signing key). */
import { StreammeshError } from '../errors.js';

export type EdgeTokenErrorCode = 'ERR_EDGE_TOKEN_REQUEST' | 'ERR_EDGE_TOKEN_SIGNER';

export class EdgeTokenError extends StreammeshError {
  declare readonly code: EdgeTokenErrorCode;
}
