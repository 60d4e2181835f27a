/**
 * The camera's URL and the URLs derived from it: where to connect, what to
 * put in request lines (never the credentials), and the control URL of each
 * media section (RFC 2326 §C.1.1).
 */
import type { RtspResponse } from '../../protocol/rtsp/index.js';
import { CameraProtocolError } from './camera-errors.js';

/** RFC 2326 §3.2: rtsp URLs default to port 554. */
const DEFAULT_RTSP_PORT = 554;

export interface CameraCredentials {
  readonly username: string;
  readonly password: string;
}

export interface CameraAddress {
  /** The URL without user information: what request lines and logs carry. */
  readonly url: string;
  /** Host for net.connect (an IPv6 literal without its brackets). */
  readonly host: string;
  readonly port: number;
  /** From the URL's user information, percent-decoded; undefined when it has none. */
  readonly credentials: CameraCredentials | undefined;
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // A lone '%' is a legal password character to a person typing a config.
    return text;
  }
}

/** Splits `rtsp://[user:password@]host[:port]/path`; throws CameraProtocolError when it is not one. */
export function parseCameraUrl(text: string): CameraAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CameraProtocolError('the camera URL is not a URL');
  }
  if (url.protocol !== 'rtsp:') throw new CameraProtocolError('the camera URL is not rtsp://');
  if (url.hostname === '') throw new CameraProtocolError('the camera URL has no host');
  const credentials =
    url.username === '' && url.password === ''
      ? undefined
      : { username: percentDecode(url.username), password: percentDecode(url.password) };
  url.username = '';
  url.password = '';
  // Fragments are never sent (RFC 3986 §3.5); the query is part of the resource.
  url.hash = '';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? DEFAULT_RTSP_PORT : Number(url.port);
  return { url: url.href, host, port, credentials };
}

/**
 * The base for relative control URLs (RFC 2326 §C.1.1): Content-Base, else
 * Content-Location, else the DESCRIBE request URL. A relative header value
 * is resolved against the request URL.
 */
export function contentBase(response: RtspResponse, requestUrl: string): string {
  for (const name of ['Content-Base', 'Content-Location']) {
    const value = response.headers.get(name)?.trim();
    if (value === undefined || value === '') continue;
    try {
      return new URL(value, requestUrl).href;
    } catch {
      throw new CameraProtocolError(`camera sent an unusable ${name}`);
    }
  }
  return requestUrl;
}

const ABSOLUTE_RTSP = /^rtsp[su]?:\/\//i;

/**
 * A media or session control URL (the value of `a=control`, RFC 2326 §C.1.1):
 * an absolute rtsp URL is used as is; `*` or none means the base itself;
 * anything else is relative to the base. Cameras write controls such as
 * `trackID=1` meaning "<base>/trackID=1", which RFC 3986 resolution against a
 * base without a trailing slash would get wrong, so the two are joined
 * textually, as every RTSP client does.
 */
export function resolveControl(base: string, control: string | undefined): string {
  const value = control?.trim();
  if (value === undefined || value === '' || value === '*') return base;
  if (ABSOLUTE_RTSP.test(value)) return value;
  return base.endsWith('/') ? base + value : `${base}/${value}`;
}
