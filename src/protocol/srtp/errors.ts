import { StreammeshError } from '../../shared/errors.js';

/**
 * Keying material that cannot be used: an unknown profile, a key or salt of the
 * wrong length, an SDES inline value that is not base64 or carries an MKI.
 * Messages never quote the key material itself: it is a secret.
 */
export class SrtpKeyError extends StreammeshError {
  constructor(message: string) {
    super('ERR_SRTP_KEY', message);
  }
}

/** SrtpSession options out of range (replay window, SSRC table size). */
export class SrtpOptionsError extends StreammeshError {
  constructor(message: string) {
    super('ERR_SRTP_OPTIONS', message);
  }
}

/**
 * The SRTP engine asked for cannot run: `libsrtp` without the native addon
 * built (native/srtp, needs libsrtp2-dev), or an engine name that is none of
 * auto, libsrtp, node.
 */
export class SrtpEngineError extends StreammeshError {
  constructor(message: string) {
    super('ERR_SRTP_ENGINE', message);
  }
}
