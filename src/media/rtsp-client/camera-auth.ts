/**
 * Answers a camera's authentication challenges (RFC 2326 §D.2 defers to
 * HTTP: RFC 7617 Basic, RFC 7616 / RFC 2617 Digest). Credentials are sent only
 * after a 401 asked for them, and from then on with every request of the
 * connection, in the scheme the camera chose.
 */
import { randomBytes } from 'node:crypto';
import {
  digestAuthorization,
  formatAuthorization,
  parseWwwAuthenticate,
  type AuthChallenge,
  type RtspResponse,
} from '../../protocol/rtsp/index.js';
import { CameraAuthError } from './camera-errors.js';
import type { CameraCredentials } from './camera-url.js';

/** Higher is preferred: Digest never puts the password on the wire, SHA-256 over MD5 (RFC 7616 §3.7). */
function strength(challenge: AuthChallenge): number {
  if (challenge.scheme === 'Basic') return 1;
  const algorithm = (challenge.params.algorithm ?? 'MD5').toUpperCase();
  if (algorithm === 'SHA-256') return 3;
  if (algorithm === 'MD5') return 2;
  // MD5-sess, SHA-512-256, ...: not implemented by the codec.
  return 0;
}

/** The strongest challenge of a 401 that we can answer, if any. */
export function chooseChallenge(response: RtspResponse): AuthChallenge | undefined {
  let best: AuthChallenge | undefined;
  for (const value of response.headers.getAll('WWW-Authenticate')) {
    const challenge = parseWwwAuthenticate(value);
    if (challenge === undefined || strength(challenge) === 0) continue;
    if (best === undefined || strength(challenge) > strength(best)) best = challenge;
  }
  return best;
}

export class CameraAuthenticator {
  readonly #credentials: CameraCredentials | undefined;
  #challenge: AuthChallenge | undefined;
  /** Requests sent with the current nonce (the Digest `nc`, RFC 7616 §3.4). */
  #nonceCount = 0;

  constructor(credentials: CameraCredentials | undefined) {
    this.#credentials = credentials;
  }

  /** True once a challenge was accepted: requests carry credentials. */
  get active(): boolean {
    return this.#challenge !== undefined;
  }

  /**
   * Takes the challenge of a 401. Throws CameraAuthError when there is
   * nothing to answer it with (no credentials, or only schemes we lack).
   */
  accept(response: RtspResponse): void {
    if (this.#credentials === undefined) {
      throw new CameraAuthError('camera requires credentials (401) and the camera URL has none');
    }
    const challenge = chooseChallenge(response);
    if (challenge === undefined) {
      throw new CameraAuthError('camera asked for an authentication scheme not supported (401)');
    }
    if (challenge.params.nonce !== this.#challenge?.params.nonce) this.#nonceCount = 0;
    this.#challenge = challenge;
  }

  /** The Authorization value for one request, or undefined before any challenge. */
  authorization(method: string, uri: string): string | undefined {
    const challenge = this.#challenge;
    const credentials = this.#credentials;
    if (challenge === undefined || credentials === undefined) return undefined;
    if (challenge.scheme === 'Basic')
      return formatAuthorization({ scheme: 'Basic', ...credentials });
    this.#nonceCount += 1;
    const counter = {
      nc: this.#nonceCount.toString(16).padStart(8, '0'),
      cnonce: randomBytes(8).toString('hex'),
    };
    return digestAuthorization(challenge, { ...credentials, method, uri }, counter);
  }
}
