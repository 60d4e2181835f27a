/**
 * The mesh CA's one error class; its codes tell the failures apart:
 * ERR_CA_CSR (a request that is not a valid, self-signed PKCS#10),
 * ERR_CA_IDENTITY (an ID the CA will not certify), ERR_CA_FILE and
 * ERR_CA_KEY_FILE_MODE (a root that cannot be loaded or is kept unsafely),
 * ERR_CA_STATE (an operation this CA cannot do, e.g. rotating an operator's root).
 */
import { StreammeshError } from '../../shared/errors.js';

export type CaErrorCode =
  'ERR_CA_CSR' | 'ERR_CA_IDENTITY' | 'ERR_CA_FILE' | 'ERR_CA_KEY_FILE_MODE' | 'ERR_CA_STATE';

export class CaError extends StreammeshError {
  declare readonly code: CaErrorCode;

  /** `cause`: the error underneath (a parser's, a file system's), kept for logs. */
  constructor(code: CaErrorCode, message: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
  }
}
