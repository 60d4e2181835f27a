/**
 * What an edge token says: who signed it (iss), whom it is for (sub, free
 * text), when it is valid (iat, nbf, exp, as JWT NumericDates: seconds), its
 * role, and what it opens — camera paths (RTSP and WHEP) or signaling rooms,
 * never both, so one token never opens two kinds of door by accident (the
 * shape of LiveKit's room grants and MediaMTX's path permissions).
 *
 * A publisher may also view what it may publish: a camera that pushes a
 * stream commonly checks it by playing it back.
 */
import { spiffeId } from '../identity/index.js';

export type EdgeRole = 'viewer' | 'publisher';

/** The claims of a valid token. Times are Unix seconds. */
export interface EdgeTokenClaims {
  readonly iss: string;
  readonly sub: string | undefined;
  readonly iat: number;
  readonly nbf: number | undefined;
  readonly exp: number;
  readonly role: EdgeRole;
  /** Camera paths (exact names), or ['*'] for every path; undefined for a room token. */
  readonly paths: readonly string[] | undefined;
  /** Signaling rooms (exact names), or ['*']; undefined for a path token. */
  readonly rooms: readonly string[] | undefined;
}

/** What an edge asks a token to allow: a role on one path or one room. */
export type EdgeAccess =
  | { readonly role: EdgeRole; readonly path: string }
  | { readonly role: EdgeRole; readonly room: string };

export const DEFAULT_TOKEN_TTL_SEC = 3600;
export const MAX_TOKEN_TTL_SEC = 30 * 86_400;
/** Paths or rooms one token may name: a token rides in a URL, which must stay short. */
export const MAX_TOKEN_SCOPES = 64;
/** Longest path or room name a token may carry. */
export const MAX_SCOPE_NAME = 256;
export const MAX_SUBJECT = 256;
/** Matches every path (or every room). */
export const ANY_SCOPE = '*';

/** The SPIFFE ID whose certificate signs edge tokens in a trust domain. */
export function tokenIssuerId(trustDomain: string): string {
  return spiffeId({ trustDomain, namespace: 'streammesh', serviceAccount: 'token-issuer' });
}

/** Why a valid token does not open this door, or undefined when it does. */
export function scopeRefusal(
  claims: EdgeTokenClaims,
  access: EdgeAccess,
): 'wrong_scope' | 'wrong_role' | undefined {
  const names = 'path' in access ? claims.paths : claims.rooms;
  const name = 'path' in access ? access.path : access.room;
  if (names === undefined || !(names.includes(ANY_SCOPE) || names.includes(name))) {
    return 'wrong_scope';
  }
  if (access.role === 'publisher' && claims.role !== 'publisher') return 'wrong_role';
  return undefined;
}
