/**
 * Checking an edge token at an edge (RTSP, WHIP/WHEP, WebSocket rooms) with
 * nothing but the mesh trust bundle: the `x5c` chain (or, in a compact
 * token, the chain an earlier token carried, named by `x5t#S256`: see
 * issuer-cache.ts) must lead to a root of
 * the bundle, its first certificate must name exactly the token-issuer
 * SPIFFE ID of this trust domain (any other leaf of the mesh CA — a proxy's,
 * a service's — cannot sign tokens), and its key must have made the ES256
 * signature. Only then are the claims read.
 *
 * Every token is hostile until proven otherwise: sizes are capped before
 * anything is parsed, only ES256 is accepted (`alg: none` and HS256 — the
 * classic confusions where a public key is used as an HMAC secret — are
 * refused before any key is touched), base64url is decoded strictly, and
 * nothing here throws: every refusal is a reason, which the edges count.
 */
import { verify as verifySignature, X509Certificate } from 'node:crypto';
import { isRevokedX509, pemCertificateBlocks, type RevokedSerials } from '../identity/index.js';
import { decodeBase64url } from './base64url.js';
import type { IssuerCache } from './issuer-cache.js';
import {
  MAX_SCOPE_NAME,
  MAX_SUBJECT,
  MAX_TOKEN_SCOPES,
  MAX_TOKEN_TTL_SEC,
  tokenIssuerId,
  type EdgeRole,
  type EdgeTokenClaims,
} from './claims.js';

/**
 * - missing: no token given.
 * - not_ready: the edge holds no trust bundle yet (its certificate is not
 *   issued): it cannot tell a good token from a forged one, so it refuses.
 * - oversized: over MAX_TOKEN_BYTES, refused unparsed.
 * - malformed: not three base64url parts of JSON, or claims missing or of the wrong type.
 * - unsupported_algorithm: any alg but ES256 (none, HS256, RS256, ...).
 * - unknown_issuer: a compact token whose signing certificate this edge
 *   has not seen in a full token yet.
 * - untrusted: the x5c chain does not lead to the bundle, is not valid now,
 *   or its leaf is not the token issuer of this trust domain.
 * - bad_signature: the issuer's key did not sign these bytes.
 * - revoked: signed by a token-issuer certificate on the mesh's revocation
 *   list (its key leaked): edges learn the list with the trust bundle.
 * - expired / not_yet_valid: exp is past / nbf or iat is ahead (CLOCK_LEEWAY_SEC either way).
 * - wrong_scope / wrong_role: a valid token for another path or room, or a
 *   viewer token where publishing is asked (scopeRefusal()).
 */
export type EdgeTokenFailure =
  | 'missing'
  | 'not_ready'
  | 'oversized'
  | 'malformed'
  | 'unsupported_algorithm'
  | 'unknown_issuer'
  | 'untrusted'
  | 'bad_signature'
  | 'revoked'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_scope'
  | 'wrong_role';

export type EdgeTokenVerdict =
  | { readonly ok: true; readonly claims: EdgeTokenClaims }
  | { readonly ok: false; readonly reason: EdgeTokenFailure };

export interface VerifyOptions {
  /** PEM roots (or parsed ones); undefined while the edge has none. */
  readonly trustBundle: string | readonly X509Certificate[] | undefined;
  readonly trustDomain: string;
  /** Unix ms. */
  readonly nowMs: number;
  /** Signing chains seen in genuine tokens, for compact ones; without it compact tokens are unknown_issuer. */
  readonly issuers?: IssuerCache | undefined;
  /** The mesh's revocation list; none: nothing is revoked. */
  readonly revoked?: RevokedSerials | undefined;
}

/** Longer tokens are refused unparsed: a real one (one certificate in x5c) is about 1.3 KiB. */
export const MAX_TOKEN_BYTES = 8 * 1024;
/** How far the edge's clock may be from the control plane's. */
export const CLOCK_LEEWAY_SEC = 30;
/** Certificates in x5c: the leaf, intermediates, perhaps the root. */
const MAX_CHAIN = 4;

/** The HTTP status each failure is answered with. */
export function failureStatus(reason: EdgeTokenFailure): 401 | 403 | 503 {
  if (reason === 'wrong_scope' || reason === 'wrong_role') return 403;
  if (reason === 'not_ready') return 503;
  return 401;
}

export function verifyEdgeToken(
  token: string | undefined,
  options: VerifyOptions,
): EdgeTokenVerdict {
  if (token === undefined || token === '') return refuse('missing');
  const roots =
    typeof options.trustBundle === 'string'
      ? parseTrustBundle(options.trustBundle)
      : options.trustBundle;
  if (roots === undefined || roots.length === 0) return refuse('not_ready');
  if (token.length > MAX_TOKEN_BYTES) return refuse('oversized');
  try {
    return check(token, roots, options);
  } catch {
    // Nothing above should throw on any input; a token must never take an edge down.
    return refuse('malformed');
  }
}

/** The certificates of a PEM bundle; undefined when there is none or it does not parse. */
export function parseTrustBundle(pem: string | undefined): X509Certificate[] | undefined {
  if (pem === undefined) return undefined;
  const blocks = pemCertificateBlocks(pem);
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch {
    return undefined;
  }
}

function check(
  token: string,
  roots: readonly X509Certificate[],
  options: VerifyOptions,
): EdgeTokenVerdict {
  const parts = token.split('.');
  const [headerPart, claimsPart, signaturePart] = parts;
  if (
    parts.length !== 3 ||
    headerPart === undefined ||
    claimsPart === undefined ||
    signaturePart === undefined
  ) {
    return refuse('malformed');
  }
  const header = jsonObject(headerPart);
  if (header === undefined) return refuse('malformed');
  if (header['alg'] !== 'ES256') return refuse('unsupported_algorithm');
  // Extensions this verifier would have to understand (RFC 7515 §4.1.11): none is.
  if (header['crit'] !== undefined) return refuse('malformed');
  const carried = header['x5c'] !== undefined;
  let chain: readonly X509Certificate[] | undefined;
  if (carried) {
    chain = certificatesOf(header['x5c']);
    if (chain === undefined) return refuse('malformed');
  } else {
    const named = header['x5t#S256'];
    if (typeof named !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(named)) return refuse('malformed');
    chain = options.issuers?.get(named);
    if (chain === undefined) return refuse('unknown_issuer');
  }
  const [leaf] = chain;
  if (leaf === undefined || !chainsToBundle(chain, roots, options.nowMs))
    return refuse('untrusted');
  const issuer = tokenIssuerId(options.trustDomain);
  if (uriNames(leaf) !== issuer) return refuse('untrusted');
  const key = leaf.publicKey;
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    return refuse('untrusted');
  }
  const signature = decodeBase64url(signaturePart);
  if (signature === undefined || signature.length !== 64) return refuse('bad_signature');
  const signed = verifySignature(
    'sha256',
    Buffer.from(`${headerPart}.${claimsPart}`),
    { key, dsaEncoding: 'ieee-p1363' },
    signature,
  );
  if (!signed) return refuse('bad_signature');
  if (options.revoked !== undefined && isRevokedX509(leaf, options.revoked)) {
    return refuse('revoked');
  }
  // A chain that verified and signed this token: compact tokens may name it now.
  if (carried) options.issuers?.remember(chain);
  const claims = claimsOf(jsonObject(claimsPart));
  if (claims === undefined) return refuse('malformed');
  if (claims.iss !== issuer) return refuse('untrusted');
  const nowSec = options.nowMs / 1000;
  if (nowSec >= claims.exp + CLOCK_LEEWAY_SEC) return refuse('expired');
  if (nowSec + CLOCK_LEEWAY_SEC < Math.max(claims.nbf ?? claims.iat, claims.iat)) {
    return refuse('not_yet_valid');
  }
  return { ok: true, claims };
}

function refuse(reason: EdgeTokenFailure): EdgeTokenVerdict {
  return { ok: false, reason };
}

function jsonObject(part: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64url(part);
  if (bytes === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** x5c: standard base64 DER (RFC 7515 §4.1.6, not base64url), 1..MAX_CHAIN of them. */
function certificatesOf(x5c: unknown): X509Certificate[] | undefined {
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > MAX_CHAIN) return undefined;
  const certificates: X509Certificate[] = [];
  for (const entry of x5c) {
    if (typeof entry !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(entry)) return undefined;
    try {
      certificates.push(new X509Certificate(Buffer.from(entry, 'base64')));
    } catch {
      return undefined;
    }
  }
  return certificates;
}

/**
 * Each certificate is valid now and signed by the next, until one is signed
 * by a root of the bundle (itself valid now). Only the bundle is trusted: a
 * root the token carries counts for nothing unless the bundle holds it.
 */
function chainsToBundle(
  chain: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  nowMs: number,
): boolean {
  for (let index = 0; index < chain.length; index += 1) {
    const certificate = chain[index];
    if (certificate === undefined || !validAt(certificate, nowMs)) return false;
    if (index > 0 && !certificate.ca) return false;
    for (const root of roots) {
      if (issued(root, certificate) && validAt(root, nowMs)) return true;
    }
    const next = chain[index + 1];
    if (next === undefined || !issued(next, certificate)) return false;
  }
  return false;
}

function issued(issuer: X509Certificate, certificate: X509Certificate): boolean {
  // checkIssued is asked of the child: "was this issued by that one?"
  return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

function validAt(certificate: X509Certificate, nowMs: number): boolean {
  return Date.parse(certificate.validFrom) <= nowMs && nowMs <= Date.parse(certificate.validTo);
}

/** The certificate's one URI SAN, or undefined when it has none or several. */
function uriNames(certificate: X509Certificate): string | undefined {
  const uris = (certificate.subjectAltName ?? '')
    .split(', ')
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice('URI:'.length));
  return uris.length === 1 ? uris[0] : undefined;
}

function claimsOf(json: Record<string, unknown> | undefined): EdgeTokenClaims | undefined {
  if (json === undefined) return undefined;
  const { iss, sub, iat, nbf, exp, role, paths, rooms } = json;
  if (typeof iss !== 'string') return undefined;
  if (sub !== undefined && (typeof sub !== 'string' || sub.length > MAX_SUBJECT)) return undefined;
  if (!isSeconds(iat) || !isSeconds(exp) || (nbf !== undefined && !isSeconds(nbf))) {
    return undefined;
  }
  // A token the control plane would never have minted is not honoured either.
  if (exp <= iat || exp - iat > MAX_TOKEN_TTL_SEC) return undefined;
  if (role !== 'viewer' && role !== 'publisher') return undefined;
  const pathNames = names(paths);
  const roomNames = names(rooms);
  if (pathNames === null || roomNames === null) return undefined;
  if ((pathNames === undefined) === (roomNames === undefined)) return undefined;
  return {
    iss,
    sub,
    iat,
    nbf,
    exp,
    role: role satisfies EdgeRole,
    paths: pathNames,
    rooms: roomNames,
  };
}

function isSeconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** undefined when absent, null when present but not a list of names. */
function names(value: unknown): readonly string[] | undefined | null {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_TOKEN_SCOPES) return null;
  const list: string[] = [];
  for (const entry of value) {
    if (typeof entry !== 'string' || entry === '' || entry.length > MAX_SCOPE_NAME) return null;
    list.push(entry);
  }
  return list;
}
