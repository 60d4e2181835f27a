/**
 * Header rules for the L7 proxy: what crosses a hop, what the proxy adds
 * (X-Forwarded-*), the route's add/remove edits, and the HTTP/2 pseudo-header
 * split. One place, so HTTP/1.1 and HTTP/2 listeners and pools agree.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { HttpRouteConfig } from '../../src/config/index.js';

/**
 * Connection-scoped headers (RFC 9110 section 7.6.1) belong to one hop and are
 * never forwarded; "te" is the exception when it only asks for trailers.
 * HTTP/2 forbids them outright (RFC 9113 section 8.2.2).
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'proxy-authenticate',
  'proxy-authorization',
  'host',
]);

export type HeaderEdit = NonNullable<HttpRouteConfig['action']['requestHeaders']>;

/**
 * Headers minus hop-by-hop ones (and those the Connection header names) and
 * minus HTTP/2 pseudo-headers; "host" goes too: the authority travels apart.
 */
export function endToEndHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = namedByConnection(headers.connection);
  const kept: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 58 /* ":" */) continue;
    if (HOP_BY_HOP.has(name) || named?.has(name) === true) continue;
    kept[name] = value;
  }
  return kept;
}

/**
 * The headers a Connection header names; undefined for none, and for the
 * values nearly every message carries (keep-alive, close, upgrade), which
 * name only hop-by-hop headers dropped anyway: no Set and no split per
 * message (both ends of every proxied request pass here).
 */
function namedByConnection(connection: string | undefined): ReadonlySet<string> | undefined {
  if (connection === undefined) return undefined;
  const lower = connection.toLowerCase();
  if (lower === 'keep-alive' || lower === 'close' || lower === 'upgrade') return undefined;
  return new Set(
    lower
      .split(',')
      .map((token) => token.trim())
      .filter((token) => token !== ''),
  );
}

/**
 * The caller's SPIFFE ID, as this proxy verified it by mutual TLS (Envoy's
 * x-forwarded-client-cert plays this part). Only the proxy sets it: a
 * client's own copy is always removed first, so it cannot be forged.
 */
export const PEER_IDENTITY_HEADER = 'x-streammesh-peer-identity';

/** What the proxy knows of the downstream connection a request came on. */
export interface DownstreamFacts {
  readonly clientAddress: string | undefined;
  readonly encrypted: boolean;
  /** The peer's SPIFFE ID verified by mutual TLS, if any. */
  readonly peerIdentity: string | undefined;
}

/**
 * Adds this hop to X-Forwarded-For, says how the request came
 * (X-Forwarded-Proto, x-streammesh-peer-identity) and keeps "te: trailers"
 * (gRPC needs it).
 */
export function forwardedRequestHeaders(
  headers: IncomingHttpHeaders,
  downstream: DownstreamFacts,
): OutgoingHttpHeaders {
  const kept = endToEndHeaders(headers);
  Reflect.deleteProperty(kept, PEER_IDENTITY_HEADER);
  if (downstream.peerIdentity !== undefined) {
    kept[PEER_IDENTITY_HEADER] = downstream.peerIdentity;
  }
  const te = headers['te'];
  if (typeof te === 'string' && te.trim().toLowerCase() === 'trailers') kept['te'] = 'trailers';
  const earlier = headers['x-forwarded-for'];
  const client = downstream.clientAddress ?? 'unknown';
  const chain = Array.isArray(earlier) ? earlier.join(', ') : earlier;
  kept['x-forwarded-for'] = chain === undefined ? client : `${chain}, ${client}`;
  kept['x-forwarded-proto'] = downstream.encrypted ? 'https' : 'http';
  return kept;
}

/** Applies a route's edit in place: removals first, then additions replace. */
export function applyHeaderEdit(headers: OutgoingHttpHeaders, edit: HeaderEdit | undefined): void {
  if (edit === undefined) return;
  for (const name of edit.remove) Reflect.deleteProperty(headers, name.toLowerCase());
  for (const [name, value] of Object.entries(edit.add)) headers[name.toLowerCase()] = value;
}

/** Response headers to relay: end-to-end only, and no HTTP/2 pseudo-headers (":status"). */
export function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return endToEndHeaders(headers);
}
