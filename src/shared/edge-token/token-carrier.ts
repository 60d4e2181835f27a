/**
 * Where a client puts its edge token: `Authorization: Bearer <token>` (RFC
 * 6750 §2.1), or a query parameter for clients that cannot set a header —
 * `?jwt=` as MediaMTX reads it (ffmpeg, GStreamer, a browser's WHEP player
 * URL), `?access_token=` on a WebSocket URL (RFC 6750 §2.3; browsers cannot
 * set headers on a WebSocket). A token given twice, or in both places with
 * two values, is refused as malformed rather than guessed at.
 */
import { MAX_TOKEN_BYTES } from './verify.js';

export type CarriedToken =
  | { readonly kind: 'absent' }
  | { readonly kind: 'given'; readonly token: string }
  | { readonly kind: 'malformed' };

const BEARER = /^bearer[ \t]+([A-Za-z0-9._~+/-]+=*)[ \t]*$/i;
const ABSENT: CarriedToken = { kind: 'absent' };
const MALFORMED: CarriedToken = { kind: 'malformed' };

/**
 * The token of a request. `authorization` holds every Authorization value
 * (a header given twice is malformed); a value of another scheme (Basic,
 * Digest) is not a token and is left to whoever reads it.
 */
export function carriedToken(
  authorization: readonly string[],
  url: string,
  parameter: string,
): CarriedToken {
  const fromQuery = queryValue(url, parameter);
  if (fromQuery.kind === 'malformed') return MALFORMED;
  let fromHeader: CarriedToken = ABSENT;
  const [value] = authorization;
  if (value !== undefined && /^\s*bearer\b/i.test(value)) {
    if (authorization.length > 1 || value.length > MAX_TOKEN_BYTES + 16) return MALFORMED;
    const token = BEARER.exec(value)?.[1];
    fromHeader = token === undefined ? MALFORMED : { kind: 'given', token };
  }
  if (fromHeader.kind === 'malformed') return MALFORMED;
  if (fromHeader.kind === 'given' && fromQuery.kind === 'given') {
    return fromHeader.token === fromQuery.token ? fromHeader : MALFORMED;
  }
  return fromHeader.kind === 'given' ? fromHeader : fromQuery;
}

/** The URL without `parameter` (what an edge logs and routes with), other bytes untouched. */
export function withoutParameter(url: string, parameter: string): string {
  const question = url.indexOf('?');
  if (question === -1) return url;
  const hash = url.indexOf('#', question);
  const end = hash === -1 ? url.length : hash;
  const kept = url
    .slice(question + 1, end)
    .split('&')
    .filter((pair) => nameOf(pair) !== parameter);
  return `${url.slice(0, question)}${kept.length === 0 ? '' : `?${kept.join('&')}`}${url.slice(end)}`;
}

function queryValue(url: string, parameter: string): CarriedToken {
  const question = url.indexOf('?');
  if (question === -1) return ABSENT;
  const hash = url.indexOf('#', question);
  const pairs = url
    .slice(question + 1, hash === -1 ? url.length : hash)
    .split('&')
    .filter((pair) => nameOf(pair) === parameter);
  const [pair] = pairs;
  if (pair === undefined) return ABSENT;
  if (pairs.length > 1 || pair.length > MAX_TOKEN_BYTES * 3) return MALFORMED;
  try {
    const token = decodeURIComponent(pair.slice(parameter.length + 1));
    return token === '' ? ABSENT : { kind: 'given', token };
  } catch {
    return MALFORMED;
  }
}

function nameOf(pair: string): string {
  const equals = pair.indexOf('=');
  return equals === -1 ? pair : pair.slice(0, equals);
}
