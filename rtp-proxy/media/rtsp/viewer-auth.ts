/**
 * Who may talk to the RTSP proxy (`proxy.rtsp.auth`): a `?token=` in the
 * request URL, or an Authorization header with Basic (RFC 7617) or Digest
 * (RFC 2617, RFC 7616) credentials of a configured user. RTSP borrows HTTP
 * authentication (RFC 2326 §D.2). With `auth.jwt`, an edge token signed by
 * the control plane (`?jwt=`, as MediaMTX reads it, or `Authorization:
 * Bearer`) also opens the path it names, for the role it names; a token
 * decides alone, as `?token=` does, and is checked against the mesh trust
 * bundle with nothing asked of the control plane.
 *
 * What real clients do, seen with a server answering 401 (ffmpeg 5.1,
 * GStreamer 1.22 rtspsrc, curl 7.88):
 * - ffmpeg and GStreamer pick Digest over Basic whatever the order of the
 *   challenges; ffmpeg answers qop="auth" with qop, nc and cnonce, GStreamer
 *   ignores qop and sends the RFC 2069 form (no qop), so both are accepted.
 * - Several Digest challenges: ffmpeg takes the last, curl the first, and
 *   GStreamer always computes MD5 without naming the algorithm. ffmpeg fails
 *   on SHA-256. So SHA-256 is offered only on request (`offerSha256`), and
 *   then before MD5 (RFC 7616 §3.7 preference order), which every one of
 *   them copes with; a SHA-256 response is accepted either way.
 * - Both send `uri` as the full request URL without the credentials, curl
 *   sends `*` for `OPTIONS *`.
 *
 * `check` never throws and does bounded work: headers over 4 KiB are refused
 * before they are parsed, and at most a few hashes are computed.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RtspAuthConfig } from '../../../src/config/index.js';
import {
  digestResponse,
  isToken,
  parseWwwAuthenticate,
  type DigestAlgorithm,
  type RtspHeaders,
} from '../../../src/protocol/rtsp/index.js';
import {
  carriedToken,
  failureStatus,
  EdgeTokenGate,
  type EdgeTokenFailure,
} from '../../../src/shared/edge-token/index.js';
import { DigestNonces } from './digest-nonce.js';

export type AuthFailure =
  | 'missing'
  | 'bad-credentials'
  | 'bad-token'
  | 'stale-nonce'
  | 'malformed'
  | `jwt_${EdgeTokenFailure}`;

/**
 * - missing: no credentials at all (the usual first request of a client).
 * - bad-credentials: unknown user, wrong password or response, wrong realm,
 *   or a scheme that `methods` does not offer.
 * - bad-token: a `token` query parameter that is not configured.
 * - stale-nonce: a correct Digest response for an expired (or foreign) nonce;
 *   the challenge says `stale=true` so the client retries without asking
 *   its user (RFC 7616 §3.3).
 * - malformed: unparsable or unsupported credentials, or a Digest `uri` that
 *   is not the request's (RFC 7616 §3.4.6 suggests 400 for that one).
 * - jwt_<reason>: an edge token refused (EdgeTokenFailure): 401, or 403 for
 *   a valid token of another path or role, or 503 before this node holds
 *   the trust bundle.
 */
export type AuthVerdict =
  | { readonly ok: true; readonly user: string | null }
  | {
      readonly ok: false;
      readonly reason: AuthFailure;
      /** The status to answer: 401 unless a token was refused with 403 or 503. */
      readonly status: 401 | 403 | 503;
      /** WWW-Authenticate values for a 401, one header line each. */
      readonly challenges: readonly string[];
    };

export interface ViewerAuthOptions {
  /** The protection space named in challenges. Default "streammesh". */
  readonly realm?: string;
  /** Wall clock in ms, for nonce expiry. */
  readonly now?: () => number;
  /** Key of the nonce MAC; replicas behind one address must share it. Random by default. */
  readonly secret?: Buffer;
  /** Also offer Digest SHA-256, before MD5. Default false (ffmpeg cannot do SHA-256). */
  readonly offerSha256?: boolean;
  /** Checks edge tokens; given when `auth.jwt` is on. */
  readonly edgeTokens?: EdgeTokenGate | undefined;
}

export interface AuthRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: RtspHeaders;
  /** The path the request names: what an edge token must open. */
  readonly pathName?: string;
  /** ANNOUNCE, or SETUP in record mode: an edge token must be a publisher's. */
  readonly publishing?: boolean;
}

/** Longer Authorization values are refused unparsed (real ones are under 400 bytes). */
const MAX_AUTHORIZATION_LENGTH = 4096;
/** Longer request URLs are refused (the RTSP parser's own limit is lower). */
const MAX_URL_LENGTH = 8192;
const TOKEN_PARAMETER = 'token';
/** Where MediaMTX and its clients put a JWT. */
export const JWT_PARAMETER = 'jwt';
const PRINTABLE_ASCII = /^[\x20-\x7e\t]*$/;
const BASIC = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i;
const HEX = /^[0-9A-Fa-f]+$/;
const NONCE_COUNT = /^[0-9A-Fa-f]{8}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface User {
  readonly password: string;
  readonly passwordHash: Buffer;
}

const OPEN: AuthVerdict = Object.freeze({ ok: true, user: null });

export class ViewerAuth {
  /** False when there is no `auth` section: everyone is let in. */
  readonly required: boolean;
  readonly #realm: string;
  readonly #methods: readonly ('basic' | 'digest')[];
  readonly #users = new Map<string, User>();
  readonly #tokenHashes: readonly Buffer[];
  readonly #nonces: DigestNonces;
  readonly #offerSha256: boolean;
  readonly #edgeTokens: EdgeTokenGate | undefined;
  /** Checked against when the user is unknown, so that costs the same as a wrong password. */
  readonly #decoy: User;

  constructor(config: RtspAuthConfig | undefined, options: ViewerAuthOptions = {}) {
    this.required = config !== undefined;
    this.#realm = options.realm ?? 'streammesh';
    if (!/^[\x20-\x7e]{1,128}$/.test(this.#realm) || /["\\]/.test(this.#realm)) {
      throw new RangeError('the realm must be 1-128 printable ASCII characters without " or \\');
    }
    this.#methods = [...new Set(config?.methods ?? [])];
    // The first entry of a user listed twice wins.
    for (const { user, password } of config?.users ?? []) {
      if (this.#users.has(user)) continue;
      this.#users.set(user, { password, passwordHash: sha256(password) });
    }
    this.#tokenHashes = (config?.tokens ?? []).map((token) => sha256(token));
    const nonceOptions: { secret?: Buffer; now?: () => number } = {};
    if (options.secret !== undefined) nonceOptions.secret = options.secret;
    if (options.now !== undefined) nonceOptions.now = options.now;
    this.#nonces = new DigestNonces(nonceOptions);
    this.#offerSha256 = options.offerSha256 ?? false;
    // Without a gate (a caller that has no trust bundle), every token is refused as not ready.
    this.#edgeTokens =
      config?.jwt === true
        ? (options.edgeTokens ??
          new EdgeTokenGate({ trustBundle: () => undefined, trustDomain: 'unset.invalid' }))
        : undefined;
    const decoy = randomBytes(24).toString('base64url');
    this.#decoy = { password: decoy, passwordHash: sha256(decoy) };
  }

  check(request: AuthRequest): AuthVerdict {
    if (!this.required) return OPEN;
    try {
      return this.#check(request);
    } catch {
      // Nothing above should throw; a request must never take the proxy down.
      return this.#refuse('malformed');
    }
  }

  #check(request: AuthRequest): AuthVerdict {
    if (request.url.length > MAX_URL_LENGTH || !isToken(request.method)) {
      return this.#refuse('malformed');
    }
    // A token decides alone: a wrong one is refused even with good credentials
    // in the header, so a stale token shows up as such instead of being masked.
    const token = tokenParameter(request.url);
    if (token.kind === 'malformed') return this.#refuse('malformed');
    if (token.kind === 'given') {
      return this.#tokenMatches(token.value) ? OPEN : this.#refuse('bad-token');
    }
    const values = request.headers.getAll('Authorization');
    if (this.#edgeTokens !== undefined) {
      const edgeToken = carriedToken(values, request.url, JWT_PARAMETER);
      if (edgeToken.kind === 'malformed') return this.#refuse('jwt_malformed');
      if (edgeToken.kind === 'given') return this.#edgeToken(edgeToken.token, request);
    }
    const value = values[0];
    if (value === undefined) return this.#refuse('missing');
    if (
      values.length > 1 ||
      value.length > MAX_AUTHORIZATION_LENGTH ||
      !PRINTABLE_ASCII.test(value)
    ) {
      return this.#refuse('malformed');
    }
    const scheme = /^[A-Za-z]+/.exec(value.trimStart())?.[0].toLowerCase();
    if (scheme === 'basic') {
      return this.#methods.includes('basic')
        ? this.#basic(value.trim())
        : this.#refuse('bad-credentials');
    }
    if (scheme === 'digest') {
      return this.#methods.includes('digest')
        ? this.#digest(value, request)
        : this.#refuse('bad-credentials');
    }
    return this.#refuse('malformed');
  }

  /** An edge token decides alone: its path must be the request's, its role fit the method. */
  #edgeToken(token: string, request: AuthRequest): AuthVerdict {
    const gate = this.#edgeTokens;
    if (gate === undefined || request.pathName === undefined) return this.#refuse('malformed');
    const verdict = gate.check(token, {
      role: request.publishing === true ? 'publisher' : 'viewer',
      path: request.pathName,
    });
    if (verdict.ok) return { ok: true, user: verdict.claims.sub ?? null };
    return this.#refuse(`jwt_${verdict.reason}`, failureStatus(verdict.reason));
  }

  /** Every configured token is compared, in constant time each, so timing says nothing. */
  #tokenMatches(token: string): boolean {
    const given = sha256(token);
    let matched = false;
    for (const hash of this.#tokenHashes) matched = timingSafeEqual(given, hash) || matched;
    return matched;
  }

  /** RFC 7617 §2: base64(user-id ":" password), UTF-8. */
  #basic(value: string): AuthVerdict {
    const encoded = BASIC.exec(value)?.[1];
    if (encoded === undefined || encoded.length % 4 !== 0) return this.#refuse('malformed');
    let pair: string;
    try {
      pair = utf8.decode(Buffer.from(encoded, 'base64'));
    } catch {
      return this.#refuse('malformed');
    }
    const colon = pair.indexOf(':');
    if (colon === -1) return this.#refuse('malformed');
    const name = pair.slice(0, colon);
    const known = this.#users.get(name);
    // Digests of equal length: neither the password's length nor its prefix leaks.
    const matches = timingSafeEqual(
      sha256(pair.slice(colon + 1)),
      (known ?? this.#decoy).passwordHash,
    );
    return known !== undefined && matches
      ? { ok: true, user: name }
      : this.#refuse('bad-credentials');
  }

  /** RFC 7616 §3.4 (and the RFC 2069 form without qop, RFC 2617 §3.2.2.1). */
  #digest(value: string, request: AuthRequest): AuthVerdict {
    // The credentials use the auth-param syntax of challenges (RFC 7616 §3.4).
    const parsed = parseWwwAuthenticate(value);
    if (parsed?.scheme !== 'Digest') return this.#refuse('malformed');
    const { username, realm, nonce, uri, response, qop, nc, cnonce } = parsed.params;
    if (
      username === undefined ||
      realm === undefined ||
      nonce === undefined ||
      uri === undefined ||
      response === undefined ||
      !HEX.test(response)
    ) {
      return this.#refuse('malformed');
    }
    // userhash (RFC 7616 §3.4.4) is not supported: no client here uses it.
    if (parsed.params.userhash?.toLowerCase() === 'true') return this.#refuse('malformed');
    const algorithm = digestAlgorithm(parsed.params.algorithm);
    if (algorithm === undefined) return this.#refuse('malformed');
    let counter: { qop: 'auth'; nc: string; cnonce: string } | undefined;
    if (qop !== undefined) {
      // auth-int would need the body; nobody sends it to an RTSP server.
      if (qop.toLowerCase() !== 'auth' || nc === undefined || !NONCE_COUNT.test(nc)) {
        return this.#refuse('malformed');
      }
      if (cnonce === undefined || cnonce === '') return this.#refuse('malformed');
      counter = { qop: 'auth', nc, cnonce };
    }
    if (!sameTarget(uri, request.url)) return this.#refuse('malformed');
    if (realm !== this.#realm) return this.#refuse('bad-credentials');

    const known = this.#users.get(username);
    const expected = digestResponse({
      username,
      password: (known ?? this.#decoy).password,
      realm,
      nonce,
      method: request.method,
      uri,
      algorithm,
      ...counter,
    });
    const given = Buffer.from(response.toLowerCase(), 'latin1');
    const wanted = Buffer.from(expected, 'latin1');
    const matches = given.length === wanted.length && timingSafeEqual(given, wanted);
    if (known === undefined || !matches) return this.#refuse('bad-credentials');
    // Only a client that proved the password is told its nonce is merely stale
    // (RFC 2617 §3.2.1): it may then retry without asking its user again.
    // A foreign nonce (another secret, e.g. before a restart) is treated alike.
    if (this.#nonces.check(nonce) !== 'fresh') return this.#refuse('stale-nonce');
    return { ok: true, user: username };
  }

  #refuse(reason: AuthFailure, status: 401 | 403 | 503 = 401): AuthVerdict {
    const challenges = status === 401 ? this.#challenges(reason === 'stale-nonce') : [];
    return { ok: false, reason, status, challenges };
  }

  /** One WWW-Authenticate value per offered method, in the configured order. */
  #challenges(stale: boolean): readonly string[] {
    const realm = `realm="${this.#realm}"`;
    const challenges: string[] = [];
    for (const method of this.#methods) {
      if (method === 'basic') {
        challenges.push(`Basic ${realm}`);
        continue;
      }
      const nonce = this.#nonces.issue();
      // qop is a quoted list in a challenge (RFC 7616 §3.3), unlike in a response.
      const tail = `qop="auth"${stale ? ', stale=true' : ''}`;
      if (this.#offerSha256) {
        challenges.push(`Digest ${realm}, nonce="${nonce}", algorithm=SHA-256, ${tail}`);
      }
      challenges.push(`Digest ${realm}, nonce="${nonce}", algorithm=MD5, ${tail}`);
    }
    // Last: clients pick Digest or Basic whatever the order, and none of ffmpeg, GStreamer or curl does Bearer.
    if (this.#edgeTokens !== undefined) challenges.push(`Bearer ${realm}`);
    return Object.freeze(challenges);
  }
}

/** The request URL without its token and jwt query parameters (what the proxy logs and matches paths with). */
export function stripToken(url: string): string {
  const parts = splitQuery(url);
  if (parts === undefined) return url;
  const kept = parts.parameters.filter((parameter) => {
    const name = parameterName(parameter);
    return name !== TOKEN_PARAMETER && name !== JWT_PARAMETER;
  });
  return kept.length === 0
    ? parts.base + parts.fragment
    : `${parts.base}?${kept.join('&')}${parts.fragment}`;
}

type TokenParameter =
  | { readonly kind: 'absent' }
  | { readonly kind: 'given'; readonly value: string }
  /** Given twice, or badly percent-encoded. */
  | { readonly kind: 'malformed' };

/** The `token` query parameter, percent-decoded. */
function tokenParameter(url: string): TokenParameter {
  const tokens = (splitQuery(url)?.parameters ?? []).filter(
    (parameter) => parameterName(parameter) === TOKEN_PARAMETER,
  );
  const token = tokens[0];
  if (token === undefined) return { kind: 'absent' };
  if (tokens.length > 1) return { kind: 'malformed' };
  const equals = token.indexOf('=');
  try {
    return {
      kind: 'given',
      value: equals === -1 ? '' : decodeURIComponent(token.slice(equals + 1)),
    };
  } catch {
    return { kind: 'malformed' };
  }
}

/**
 * The query of `url` split at `&`, textually, so that stripping the token
 * leaves every other byte of the URL as the client sent it.
 */
function splitQuery(
  url: string,
): { base: string; parameters: string[]; fragment: string } | undefined {
  const question = url.indexOf('?');
  if (question === -1) return undefined;
  const hash = url.indexOf('#', question);
  const end = hash === -1 ? url.length : hash;
  return {
    base: url.slice(0, question),
    parameters: url.slice(question + 1, end).split('&'),
    fragment: url.slice(end),
  };
}

function parameterName(parameter: string): string {
  const equals = parameter.indexOf('=');
  return equals === -1 ? parameter : parameter.slice(0, equals);
}

/** RFC 7616 §3.4: absent means MD5. */
function digestAlgorithm(text: string | undefined): DigestAlgorithm | undefined {
  const upper = (text ?? 'MD5').toUpperCase();
  return upper === 'MD5' || upper === 'SHA-256' ? upper : undefined;
}

/**
 * Whether the Digest `uri` names the request's target (RFC 7616 §3.4.6).
 * Clients send the whole URL (ffmpeg, GStreamer), possibly with or without
 * credentials or host, or only the path: the path and query must match.
 */
function sameTarget(digestUri: string, requestUrl: string): boolean {
  if (digestUri === requestUrl) return true;
  const a = pathAndQuery(digestUri);
  return a !== undefined && a === pathAndQuery(requestUrl);
}

function pathAndQuery(text: string): string | undefined {
  if (text === '*' || text === '') return undefined;
  try {
    const url = new URL(text, 'rtsp://target.invalid');
    return url.pathname + url.search;
  } catch {
    return undefined;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
