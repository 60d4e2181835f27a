/**
 * HTTP/1.1 -> HTTP/2 cleartext Upgrade (RFC 7540 section 3.2; RFC 9113 drops
 * it, but clients such as curl --http2 on http:// still use it).
 *
 * node:http2 has no API for a connection whose stream 1 was opened by an
 * HTTP/1.1 request. So after answering 101 we read the client's connection
 * preface and its first SETTINGS frame ourselves, append one synthetic
 * HEADERS frame on stream 1 carrying the upgrade request, put all those bytes
 * back into the socket (`unshift`) and hand the socket to the http2 server.
 * Node's Http2Session replays bytes already buffered in a socket before it
 * reads from the wire, and keeps reading the native handle directly from then
 * on: no JS stream sits in the data path and the socket's lifetime is the
 * session's, so destroying either destroys the other.
 *
 * The HEADERS frame goes right after the client's SETTINGS, before any frame
 * the client sends next, so stream 1 exists before the client's stream 3.
 * Its HPACK block uses only "literal without indexing, new name" fields:
 * neither side's dynamic table is touched, so the client's own HPACK state
 * stays in step with the server's.
 *
 * The HTTP2-Settings header is validated but its values are not applied: the
 * client repeats its settings in the SETTINGS frame of its preface, and the
 * 101 acknowledges them implicitly (a SETTINGS ACK would be unexpected).
 */
import type { IncomingMessage } from 'node:http';
import type { Http2Server } from 'node:http2';
import type { Duplex } from 'node:stream';

/** "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (RFC 9113 section 3.4). */
const CLIENT_MAGIC = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER_LENGTH = 9;
const FRAME_TYPE_HEADERS = 0x1;
const FRAME_TYPE_SETTINGS = 0x4;
const FLAGS_END_STREAM_END_HEADERS = 0x1 | 0x4;
const UPGRADED_STREAM_ID = 1;
/** SETTINGS_MAX_FRAME_SIZE's initial value: the largest frame any peer must accept. */
export const MAX_FRAME_PAYLOAD = 16_384;
const SETTING_ENTRY_LENGTH = 6;

/** How long the client may take to send its preface after the 101. */
export const DEFAULT_PREFACE_TIMEOUT_MS = 10_000;

/**
 * Headers that belong to the HTTP/1.1 hop and that HTTP/2 forbids
 * (RFC 9113 section 8.2.2); "te" survives only as "trailers".
 */
const HOP_BY_HOP = new Set([
  'connection',
  'upgrade',
  'http2-settings',
  'keep-alive',
  'transfer-encoding',
  'te',
  'proxy-connection',
  'host',
]);

export interface H2cUpgradeOptions {
  /** The socket is destroyed when the preface has not arrived by then. */
  readonly prefaceTimeoutMs?: number;
  /**
   * Gives the socket, its bytes put back, to an HTTP/2 session; by default
   * the server's own 'connection'. A listener passes its own, so the frame
   * check it is configured with applies to upgraded connections too.
   */
  readonly handOff?: (socket: Duplex) => void;
}

function tokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token !== '');
}

/** Every value of header `name` as sent, however many times it was repeated. */
function rawValues(req: IncomingMessage, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]?.toLowerCase() === name) values.push(req.rawHeaders[i + 1] ?? '');
  }
  return values;
}

/** token68 in base64url (RFC 7540 section 3.2.1) holding whole 6-byte settings. */
function isValidSettingsHeader(value: string): boolean {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(trimmed)) return false;
  return Buffer.from(trimmed, 'base64url').length % SETTING_ENTRY_LENGTH === 0;
}

function hasNoBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return false;
  const length = req.headers['content-length'];
  return length === undefined || /^0+$/.test(length.trim());
}

/**
 * True when req asks for "Upgrade: h2c" (Connection lists Upgrade and
 * HTTP2-Settings, exactly one valid HTTP2-Settings header), has no body
 * (Content-Length absent or 0, no Transfer-Encoding), and its headers fit
 * one HEADERS frame (see h2cHeaderBlock). When false, the caller answers the
 * request over HTTP/1.1 as if it carried no Upgrade.
 */
export function wantsH2cUpgrade(req: IncomingMessage): boolean {
  if (!tokens(req.headers.upgrade).includes('h2c')) return false;
  const connection = tokens(req.headers.connection);
  if (!connection.includes('upgrade') || !connection.includes('http2-settings')) return false;
  const settings = rawValues(req, 'http2-settings');
  if (settings.length !== 1 || !isValidSettingsHeader(settings[0] ?? '')) return false;
  return hasNoBody(req) && h2cHeaderBlock(req) !== undefined;
}

/** HPACK integer with an N-bit prefix (RFC 7541 section 5.1); `first` holds the bits above it. */
function hpackInteger(value: number, prefixBits: number, first: number): number[] {
  const limit = (1 << prefixBits) - 1;
  if (value < limit) return [first | value];
  const bytes = [first | limit];
  let rest = value - limit;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

/** HPACK string literal without Huffman coding (RFC 7541 section 5.2). */
function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([Buffer.from(hpackInteger(bytes.length, 7, 0x00)), bytes]);
}

/** "Literal Header Field without Indexing -- New Name" (RFC 7541 section 6.2.2). */
function hpackLiteralField(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.of(0x00), hpackString(name), hpackString(value)]);
}

/** :path and :authority of the request line, origin-form or absolute-form. */
function target(req: IncomingMessage): { path: string; authority: string | undefined } {
  const url = req.url ?? '/';
  const host = req.headers.host;
  if (url.startsWith('/') || url === '*') return { path: url, authority: host };
  try {
    const absolute = new URL(url);
    return { path: `${absolute.pathname}${absolute.search}`, authority: absolute.host };
  } catch {
    return { path: url, authority: host };
  }
}

/** The request's end-to-end headers as [lowercase name, value] pairs, repeats kept. */
function forwardedFields(req: IncomingMessage): [string, string][] {
  // Headers that Connection names are hop-by-hop too (RFC 9110 section 7.6.1).
  const named = new Set(tokens(req.headers.connection));
  const fields: [string, string][] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] ?? '').toLowerCase();
    const value = req.rawHeaders[i + 1] ?? '';
    if (name === 'te') {
      if (value.trim().toLowerCase() === 'trailers') fields.push([name, 'trailers']);
      continue;
    }
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    fields.push([name, value]);
  }
  return fields;
}

/**
 * The HPACK block that replays req as stream 1: pseudo-headers first
 * (:method, :scheme http, :authority from Host, :path), then the end-to-end
 * headers. Undefined when it would not fit one frame of the default maximum
 * size (16,384 bytes); such a request is not upgraded.
 */
export function h2cHeaderBlock(req: IncomingMessage): Buffer | undefined {
  const { path, authority } = target(req);
  const parts = [
    hpackLiteralField(':method', req.method ?? 'GET'),
    hpackLiteralField(':scheme', 'http'),
  ];
  if (authority !== undefined) parts.push(hpackLiteralField(':authority', authority));
  parts.push(hpackLiteralField(':path', path));
  let size = parts.reduce((sum, part) => sum + part.length, 0);
  for (const [name, value] of forwardedFields(req)) {
    const field = hpackLiteralField(name, value);
    size += field.length;
    if (size > MAX_FRAME_PAYLOAD) return undefined;
    parts.push(field);
  }
  return size > MAX_FRAME_PAYLOAD ? undefined : Buffer.concat(parts);
}

function headersFrame(block: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_LENGTH);
  header.writeUIntBE(block.length, 0, 3);
  header.writeUInt8(FRAME_TYPE_HEADERS, 3);
  header.writeUInt8(FLAGS_END_STREAM_END_HEADERS, 4);
  header.writeUInt32BE(UPGRADED_STREAM_ID, 5);
  return Buffer.concat([header, block]);
}

export type PrefaceScan =
  | { readonly state: 'incomplete' }
  | { readonly state: 'invalid' }
  | { readonly state: 'complete'; readonly end: number };

/**
 * Where the client's magic and first SETTINGS frame end in `bytes`. Never
 * needs more than 24 + 9 + 16,384 bytes to decide.
 */
export function scanClientPreface(bytes: Buffer): PrefaceScan {
  const magicPart = bytes.subarray(0, CLIENT_MAGIC.length);
  if (!magicPart.equals(CLIENT_MAGIC.subarray(0, magicPart.length))) return { state: 'invalid' };
  const frameStart = CLIENT_MAGIC.length;
  if (bytes.length < frameStart + FRAME_HEADER_LENGTH) return { state: 'incomplete' };
  const length = bytes.readUIntBE(frameStart, 3);
  const type = bytes.readUInt8(frameStart + 3);
  const streamId = bytes.readUInt32BE(frameStart + 5) & 0x7fff_ffff;
  const validSettings =
    type === FRAME_TYPE_SETTINGS &&
    streamId === 0 &&
    length <= MAX_FRAME_PAYLOAD &&
    length % SETTING_ENTRY_LENGTH === 0;
  if (!validSettings) return { state: 'invalid' };
  const end = frameStart + FRAME_HEADER_LENGTH + length;
  return bytes.length < end ? { state: 'incomplete' } : { state: 'complete', end };
}

function refuseOverHttp1(socket: Duplex, statusLine: string): void {
  socket.end(`HTTP/1.1 ${statusLine}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/**
 * Answers 101 Switching Protocols on `socket` and hands the connection to
 * `h2server` (from http2.createServer) so that the upgrade request arrives
 * there as stream 1 (method, path, authority from Host, end-to-end headers,
 * END_STREAM). `head` is what node:http read past the request.
 *
 * Call it only when wantsH2cUpgrade(req) is true; otherwise it answers
 * "431" (headers too large for one frame) over HTTP/1.1 and ends the socket.
 * A client whose bytes after the 101 are not an HTTP/2 preface, or which
 * sends none within prefaceTimeoutMs, has its socket destroyed.
 */
export function upgradeToH2c(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  h2server: Http2Server,
  options: H2cUpgradeOptions = {},
): void {
  const block = h2cHeaderBlock(req);
  if (block === undefined) {
    refuseOverHttp1(socket, '431 Request Header Fields Too Large');
    return;
  }
  const injected = headersFrame(block);
  let buffered = head;
  const stopWaiting = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', fail);
    socket.off('error', fail);
    socket.off('close', fail);
  };
  function fail(): void {
    stopWaiting();
    socket.destroy();
  }
  const timer = setTimeout(fail, options.prefaceTimeoutMs ?? DEFAULT_PREFACE_TIMEOUT_MS);
  function onData(chunk: Buffer): void {
    buffered = Buffer.concat([buffered, chunk]);
    handOffWhenComplete();
  }
  function handOffWhenComplete(): void {
    const scan = scanClientPreface(buffered);
    if (scan.state === 'incomplete') return;
    if (scan.state === 'invalid') {
      fail();
      return;
    }
    stopWaiting();
    socket.pause();
    // node:http keeps sockets half-open after the client's FIN; an HTTP/2
    // session would then outlive its client. Http2Server's own sockets do not.
    socket.allowHalfOpen = false;
    // The session replays what is buffered in the socket before reading on.
    socket.unshift(
      Buffer.concat([buffered.subarray(0, scan.end), injected, buffered.subarray(scan.end)]),
    );
    if (options.handOff === undefined) h2server.emit('connection', socket);
    else options.handOff(socket);
  }

  socket.on('end', fail);
  socket.on('error', fail);
  socket.on('close', fail);
  socket.on('data', onData);
  socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
  if (buffered.length > 0) handOffWhenComplete();
}
