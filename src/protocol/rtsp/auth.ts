/**
 * RTSP authentication (RFC 2326 §D.2 refers to HTTP): WWW-Authenticate
 * challenges, Authorization credentials and the Digest response of
 * RFC 2617 §3.2.2 / RFC 7616 §3.4.1.
 */
import { createHash } from 'node:crypto';
import { StreammeshError } from '../../shared/errors.js';
import { isToken } from './headers.js';

export interface AuthChallenge {
  scheme: 'Basic' | 'Digest';
  /** Parameter names lower-cased, quoted values unquoted. */
  params: Record<string, string>;
}

/** Parses one `Basic …` or `Digest …` challenge; undefined for anything else. */
export function parseWwwAuthenticate(value: string): AuthChallenge | undefined {
  const text = value.trim();
  const space = text.search(/\s/);
  const schemeText = space === -1 ? text : text.slice(0, space);
  const lower = schemeText.toLowerCase();
  if (lower !== 'basic' && lower !== 'digest') return undefined;
  const scheme = lower === 'basic' ? 'Basic' : 'Digest';
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  let i = space === -1 ? text.length : space;
  const n = text.length;
  const skipSpace = (): void => {
    while (i < n && /\s/.test(text.charAt(i))) i++;
  };
  while (i < n) {
    skipSpace();
    if (text.charAt(i) === ',') {
      i++;
      continue;
    }
    if (i >= n) break;
    const nameStart = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(text.charAt(i))) i++;
    const name = text.slice(nameStart, i).toLowerCase();
    if (name === '') return undefined;
    skipSpace();
    if (text.charAt(i) !== '=') {
      // Start of another challenge (`…, Basic realm=…`): this one is complete.
      break;
    }
    i++;
    skipSpace();
    let paramValue = '';
    if (text.charAt(i) === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = text.charAt(i++);
        if (c === '\\' && i < n) paramValue += text.charAt(i++);
        else if (c === '"') {
          closed = true;
          break;
        } else paramValue += c;
      }
      if (!closed) return undefined;
    } else {
      const valueStart = i;
      while (i < n && text.charAt(i) !== ',' && !/\s/.test(text.charAt(i))) i++;
      paramValue = text.slice(valueStart, i);
      if (paramValue === '') return undefined;
    }
    params[name] = paramValue;
    skipSpace();
    if (i < n && text.charAt(i) !== ',') return undefined;
  }
  if (scheme === 'Digest' && (params.realm === undefined || params.nonce === undefined)) {
    return undefined;
  }
  return { scheme, params: { ...params } };
}

export class RtspAuthError extends StreammeshError {
  constructor(message: string) {
    super('ERR_RTSP_AUTH', message);
  }
}

export type DigestAlgorithm = 'MD5' | 'SHA-256';

export interface DigestInput {
  username: string;
  password: string;
  realm: string;
  nonce: string;
  method: string;
  uri: string;
  algorithm?: DigestAlgorithm;
  /** `auth` (auth-int is not supported); with it, nc and cnonce are required. */
  qop?: 'auth';
  nc?: string;
  cnonce?: string;
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === 'MD5' ? 'md5' : 'sha256')
    .update(text, 'utf8')
    .digest('hex');
}

/** The Digest `response` value (lower-case hex). */
export function digestResponse(input: DigestInput): string {
  const algorithm = input.algorithm ?? 'MD5';
  const ha1 = hash(algorithm, `${input.username}:${input.realm}:${input.password}`);
  const ha2 = hash(algorithm, `${input.method}:${input.uri}`);
  if (input.qop === undefined) return hash(algorithm, `${ha1}:${input.nonce}:${ha2}`);
  if (input.nc === undefined || input.cnonce === undefined) {
    throw new RtspAuthError('Digest with qop needs nc and cnonce');
  }
  return hash(algorithm, `${ha1}:${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}:${ha2}`);
}

export type AuthCredentials =
  | { scheme: 'Basic'; username: string; password: string }
  | { scheme: 'Digest'; params: Record<string, string> };

/** Parameters sent without quotes (RFC 2617 §3.2.2, RFC 7616 §3.4). */
const UNQUOTED = new Set(['algorithm', 'qop', 'nc', 'stale', 'userhash']);

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** An Authorization header value. */
export function formatAuthorization(credentials: AuthCredentials): string {
  if (credentials.scheme === 'Basic') {
    const token = Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8');
    return `Basic ${token.toString('base64')}`;
  }
  const parts: string[] = [];
  for (const [name, value] of Object.entries(credentials.params)) {
    if (!isToken(name)) throw new RtspAuthError(`parameter name ${JSON.stringify(name)}`);
    if (/[\r\n]/.test(value)) throw new RtspAuthError(`line break in ${name}`);
    parts.push(
      `${name}=${UNQUOTED.has(name.toLowerCase()) && isToken(value) ? value : quote(value)}`,
    );
  }
  return `Digest ${parts.join(', ')}`;
}

/**
 * The Digest Authorization value answering `challenge` for one request.
 * Uses qop=auth when the server offers it (nc and cnonce are then required).
 */
export function digestAuthorization(
  challenge: AuthChallenge,
  request: { username: string; password: string; method: string; uri: string },
  counter?: { nc: string; cnonce: string },
): string | undefined {
  const { realm, nonce, opaque } = challenge.params;
  if (challenge.scheme !== 'Digest' || realm === undefined || nonce === undefined) return undefined;
  const algorithmText = (challenge.params.algorithm ?? 'MD5').toUpperCase();
  if (algorithmText !== 'MD5' && algorithmText !== 'SHA-256') return undefined;
  const algorithm: DigestAlgorithm = algorithmText;
  const offersAuth = (challenge.params.qop ?? '')
    .split(',')
    .some((q) => q.trim().toLowerCase() === 'auth');
  const input: DigestInput = { ...request, realm, nonce, algorithm };
  const params: Record<string, string> = {
    username: request.username,
    realm,
    nonce,
    uri: request.uri,
  };
  if (offersAuth && counter !== undefined) {
    input.qop = 'auth';
    input.nc = counter.nc;
    input.cnonce = counter.cnonce;
  }
  params.response = digestResponse(input);
  if (challenge.params.algorithm !== undefined) params.algorithm = algorithm;
  if (opaque !== undefined) params.opaque = opaque;
  if (input.qop !== undefined && counter !== undefined) {
    params.qop = 'auth';
    params.nc = counter.nc;
    params.cnonce = counter.cnonce;
  }
  return formatAuthorization({ scheme: 'Digest', params });
}
