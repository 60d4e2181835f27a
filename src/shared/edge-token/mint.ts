/**
 * Minting an edge token: a JWT (RFC 7519) signed ES256 (RFC 7518 §3.4: P-256,
 * SHA-256, the signature as r||s) by the control plane's token-issuer key.
 *
 * The header carries the signing certificate and its chain as `x5c` (RFC
 * 7515 §4.1.6), so an edge needs nothing but the mesh trust bundle it
 * already holds to verify a token: no key distribution, no call to the
 * control plane per viewer, and a new signing key (at each re-issue) is
 * picked up by every edge at once (a compact token names it by thumbprint
 * instead, see MintRequest.compact). node:crypto signs it; no JWT library is
 * added for forty lines.
 */
import { createHash, sign, type KeyObject } from 'node:crypto';
import { encodeBase64url } from './base64url.js';
import {
  ANY_SCOPE,
  DEFAULT_TOKEN_TTL_SEC,
  MAX_SCOPE_NAME,
  MAX_SUBJECT,
  MAX_TOKEN_SCOPES,
  MAX_TOKEN_TTL_SEC,
  type EdgeRole,
} from './claims.js';
import { EdgeTokenError } from './errors.js';

export interface EdgeTokenSigner {
  /** The SPIFFE ID the signing certificate names: the token's iss. */
  readonly issuerId: string;
  /** The P-256 private key of the signing certificate. */
  readonly privateKey: KeyObject;
  /** The signing certificate, then the certificates above it, as DER. */
  readonly certificates: readonly Buffer[];
  /** When the signing certificate expires (Unix ms): no token may outlive it. */
  readonly notAfterMs: number;
}

/** What a token is asked for. Exactly one of paths and rooms. */
export interface MintRequest {
  readonly sub?: string | undefined;
  readonly role: EdgeRole;
  readonly paths?: readonly string[] | undefined;
  readonly rooms?: readonly string[] | undefined;
  /** Default DEFAULT_TOKEN_TTL_SEC, at most MAX_TOKEN_TTL_SEC. */
  readonly ttlSec?: number | undefined;
  /**
   * Name the signing certificate by thumbprint (`x5t#S256`) instead of
   * carrying it (`x5c`): ~0.4 KiB instead of ~1.3, for clients that cut long
   * URLs (ffmpeg: 1023 bytes); verified by edges that have seen a full token
   * of the same certificate.
   */
  readonly compact?: boolean | undefined;
}

export interface MintedToken {
  readonly token: string;
  /** Unix ms. */
  readonly expiresAtMs: number;
}

/** Printable ASCII without spaces: a name that reads the same in a URL, a log and a claim. */
const SCOPE_NAME = /^[\x21-\x7e]+$/;

/** Throws EdgeTokenError ERR_EDGE_TOKEN_REQUEST for a request no edge should honour. */
export function mint(signer: EdgeTokenSigner, request: MintRequest, nowMs: number): MintedToken {
  const scope = scopeOf(request);
  const ttlSec = request.ttlSec ?? DEFAULT_TOKEN_TTL_SEC;
  if (!Number.isInteger(ttlSec) || ttlSec < 1 || ttlSec > MAX_TOKEN_TTL_SEC) {
    throw requestError(`ttlSec must be a whole number of seconds, 1..${MAX_TOKEN_TTL_SEC}`);
  }
  if (request.sub !== undefined && (request.sub.length > MAX_SUBJECT || request.sub === '')) {
    throw requestError(`sub must be 1..${MAX_SUBJECT} characters`);
  }
  const iat = Math.floor(nowMs / 1000);
  const exp = iat + ttlSec;
  if (exp * 1000 > signer.notAfterMs) {
    throw new EdgeTokenError(
      'ERR_EDGE_TOKEN_SIGNER',
      `the signing certificate expires at ${new Date(signer.notAfterMs).toISOString()}, before the token would`,
    );
  }
  const [leaf] = signer.certificates;
  if (leaf === undefined)
    throw new EdgeTokenError('ERR_EDGE_TOKEN_SIGNER', 'no signing certificate');
  const header =
    request.compact === true
      ? {
          alg: 'ES256',
          typ: 'JWT',
          'x5t#S256': createHash('sha256').update(leaf).digest('base64url'),
        }
      : { alg: 'ES256', typ: 'JWT', x5c: signer.certificates.map((der) => der.toString('base64')) };
  const claims = {
    iss: signer.issuerId,
    ...(request.sub === undefined ? {} : { sub: request.sub }),
    iat,
    exp,
    role: request.role,
    ...scope,
  };
  const signingInput = `${encodeBase64url(JSON.stringify(header))}.${encodeBase64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signingInput), {
    key: signer.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return { token: `${signingInput}.${encodeBase64url(signature)}`, expiresAtMs: exp * 1000 };
}

function scopeOf(
  request: MintRequest,
): { paths: readonly string[] } | { rooms: readonly string[] } {
  const { paths, rooms } = request;
  if ((paths === undefined) === (rooms === undefined)) {
    throw requestError('give either paths (camera paths) or rooms (signaling rooms), not both');
  }
  const names = paths ?? rooms ?? [];
  const what = paths === undefined ? 'rooms' : 'paths';
  if (names.length === 0 || names.length > MAX_TOKEN_SCOPES) {
    throw requestError(`${what} must name 1..${MAX_TOKEN_SCOPES} entries ("${ANY_SCOPE}" for all)`);
  }
  for (const name of names) {
    if (typeof name !== 'string' || name.length > MAX_SCOPE_NAME || !SCOPE_NAME.test(name)) {
      throw requestError(
        `${what}: ${JSON.stringify(name.slice(0, 80))} is not a name (1..${MAX_SCOPE_NAME} printable characters, no spaces)`,
      );
    }
  }
  return paths === undefined ? { rooms: [...names] } : { paths: [...names] };
}

function requestError(message: string): EdgeTokenError {
  return new EdgeTokenError('ERR_EDGE_TOKEN_REQUEST', message);
}
