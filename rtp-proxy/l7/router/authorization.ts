/**
 * Authorization between identities on an L7 listener (the listener fronts
 * one service, so "destination service" is the listener): its rules are
 * tried in order and the first whose every field matches decides, else the
 * policy's default. `from` matches only a peer identity verified by mutual
 * TLS on a mesh listener; a header can never stand in for it.
 *
 * Paths are compared after normalisation, so that one resource has one
 * spelling for the policy: "/users/../billing", "//billing" and
 * "/%62illing" are all "/billing" here, as they are to most upstream
 * servers. Without it, an allow rule on "/users" would let "/users/../billing"
 * through to a server that resolves the dots (Envoy normalises for its RBAC
 * filter for the same reason). An encoded "/" or "\" stays encoded: servers
 * differ on it, and decoding it would invent segments the client never sent.
 *
 * Targets that upstreams read in more than one way are denied under any
 * policy (rule "ambiguous_target"): a fragment ("#" never belongs in a request
 * target, and servers differ on whether it ends the path) and a dot segment
 * with parameters ("/..;/", which Tomcat resolves as ".."). Methods are
 * compared upper-cased: HTTP/2 lets a client send "delete", which node's
 * HTTP/1.1 client forwards as DELETE, and a deny rule on DELETE must hold.
 */
import type { HttpListenerConfig } from '../../../src/config/index.js';

type Policy = NonNullable<HttpListenerConfig['authorization']>;

export interface AuthorizationRequest {
  readonly method: string;
  /** The request target as received (path and query). */
  readonly url: string;
  /** The peer's SPIFFE ID verified by mutual TLS; undefined on a listener without one. */
  readonly peer: string | undefined;
}

export type AuthorizationDecision =
  | { readonly allowed: true }
  /** `rule`: the index of the deny rule, or "default" (a bounded metric label). */
  | { readonly allowed: false; readonly rule: string };

export type Authorizer = (request: AuthorizationRequest) => AuthorizationDecision;

const ALLOWED: AuthorizationDecision = { allowed: true };

/** The listener's policy as a function; every request is allowed on a listener without one. */
export function compileAuthorization(policy: Policy | undefined): Authorizer {
  if (policy === undefined) return () => ALLOWED;
  const rules = policy.rules.map((rule, index) => {
    const from = rule.from === undefined ? undefined : new Set(rule.from);
    const methods = rule.methods === undefined ? undefined : new Set(rule.methods);
    const paths = rule.paths;
    const matches = (request: AuthorizationRequest, path: string): boolean =>
      (from === undefined ||
        (request.peer !== undefined && (from.has('*') || from.has(request.peer)))) &&
      (methods === undefined || methods.has(request.method.toUpperCase())) &&
      (paths === undefined || paths.some((prefix) => path.startsWith(prefix)));
    const decision: AuthorizationDecision =
      rule.action === 'allow' ? ALLOWED : { allowed: false, rule: String(index) };
    return { matches, decision };
  });
  const fallback: AuthorizationDecision =
    policy.default === 'allow' ? ALLOWED : { allowed: false, rule: 'default' };
  return (request) => {
    if (isAmbiguousTarget(request.url)) return AMBIGUOUS;
    const path = normalizePath(request.url);
    return rules.find((rule) => rule.matches(request, path))?.decision ?? fallback;
  };
}

const AMBIGUOUS: AuthorizationDecision = { allowed: false, rule: 'ambiguous_target' };

/** A fragment, or a "." or ".." segment with parameters (";"), in the path. */
function isAmbiguousTarget(url: string): boolean {
  if (url.includes('#')) return true;
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return /(^|\/)(%2e|\.)(%2e|\.)?;/i.test(path);
}

/** Unreserved characters (RFC 3986 section 2.3): decoding them changes no meaning. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * The path of a request target for matching: no query or fragment,
 * percent-encoded unreserved characters decoded (other escapes upper-cased),
 * runs of "/" merged, and "." and ".." segments resolved (RFC 3986 section
 * 5.2.4; ".." never climbs above the root). Always starts with "/"; an
 * absolute-form target ("http://host/path") is reduced to its path.
 */
export function normalizePath(url: string): string {
  // An absolute-form target (HTTP/1.1 to a proxy) names its path after the authority.
  const target = url.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/, '');
  const end = target.search(/[?#]/);
  const raw = end === -1 ? target : target.slice(0, end);
  const decoded = raw.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : escape.toUpperCase();
  });
  const segments: string[] = [];
  const parts = decoded.split('/');
  parts.forEach((segment, index) => {
    const last = index === parts.length - 1;
    if (segment === '..') {
      segments.pop();
      if (last) segments.push('');
    } else if (segment === '.') {
      if (last) segments.push('');
    } else if (segment !== '' || last) {
      segments.push(segment);
    }
  });
  return `/${segments.join('/')}`;
}
