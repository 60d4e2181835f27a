/**
 * Incremental parser of an RTSP TCP byte stream (RFC 2326 §4, §10.12):
 * requests and responses interleaved with `$`-framed binary data.
 *
 * `push()` never throws on input. A malformed or oversized message gives one
 * `error` event carrying the status the proxy should answer with; the parser
 * then ignores everything (the connection should be closed).
 *
 * Memory: between pushes the parser holds at most
 * max(maxHeaderBytes, maxBodyBytes, 4 + 65535) bytes (see `bufferedBytes`).
 */
import { isToken, RtspHeaders } from './headers.js';
import {
  INTERLEAVED_MAGIC,
  type RtspRequest,
  type RtspResponse,
  type RtspVersion,
} from './message.js';

export type RtspParseErrorReason =
  | 'headers-too-large'
  | 'too-many-headers'
  | 'uri-too-long'
  | 'bad-request-line'
  | 'bad-status-line'
  | 'version-not-supported'
  | 'control-character'
  | 'invalid-header-name'
  | 'header-without-colon'
  | 'invalid-content-length'
  | 'conflicting-content-length'
  | 'body-too-large';

/** The status a server answers each reason with. */
export const RTSP_PARSE_ERROR_STATUS: Readonly<Record<RtspParseErrorReason, number>> = {
  'headers-too-large': 431,
  'too-many-headers': 431,
  'uri-too-long': 414,
  'bad-request-line': 400,
  'bad-status-line': 400,
  'version-not-supported': 505,
  'control-character': 400,
  'invalid-header-name': 400,
  'header-without-colon': 400,
  'invalid-content-length': 400,
  'conflicting-content-length': 400,
  'body-too-large': 413,
};

export type RtspParseEvent =
  | { type: 'request'; request: RtspRequest }
  | { type: 'response'; response: RtspResponse }
  | { type: 'interleaved'; channel: number; payload: Buffer }
  | { type: 'error'; reason: RtspParseErrorReason; status: number };

export interface RtspStreamParserOptions {
  /** Start line + header lines + the blank line, in bytes. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Header lines. Default 64. */
  maxHeaders?: number;
  /** Content-Length. Default 64 KiB. */
  maxBodyBytes?: number;
  /** Request-URI length. Default 2048. */
  maxUrlLength?: number;
}

export const RTSP_PARSER_DEFAULTS: Readonly<Required<RtspStreamParserOptions>> = {
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 64,
  maxBodyBytes: 64 * 1024,
  maxUrlLength: 2048,
};

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);
const MIN_STORAGE = 4096;
const VERSION = /^RTSP\/(\d)\.(\d)$/;
const STATUS = /^\d{3}$/;

type Head =
  | { kind: 'request'; method: string; url: string; version: RtspVersion; headers: RtspHeaders }
  | {
      kind: 'response';
      version: RtspVersion;
      status: number;
      reason: string;
      headers: RtspHeaders;
    };

class ParseFailure {
  constructor(readonly reason: RtspParseErrorReason) {}
}

function isControl(byte: number): boolean {
  return byte < 0x20 || byte === 0x7f;
}

function hasControl(text: string, allowTab: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isControl(c) && !(allowTab && c === 0x09)) return true;
  }
  return false;
}

function parseVersion(text: string): RtspVersion | ParseFailure {
  const match = VERSION.exec(text);
  if (match === null) {
    return new ParseFailure(
      /^[A-Z]+\/\d+\.\d+$/.test(text) ? 'version-not-supported' : 'bad-request-line',
    );
  }
  if (text === 'RTSP/1.0' || text === 'RTSP/2.0') return text;
  return new ParseFailure('version-not-supported');
}

export class RtspStreamParser {
  readonly #limits: Required<RtspStreamParserOptions>;
  /** The bytes not yet parsed: a view of the pushed chunk or of #storage. */
  #buffer: Buffer = EMPTY;
  /** The parser's own buffer, reused across pushes. */
  #storage: Buffer = EMPTY;
  /** Where to resume the search for the end of the header block. */
  #scanFrom = 0;
  /** Bytes of the (unterminated) start line already checked for control characters. */
  #lineChecked = 0;
  #head: Head | undefined;
  #bodyLength = 0;
  #closed = false;

  constructor(options: RtspStreamParserOptions = {}) {
    this.#limits = { ...RTSP_PARSER_DEFAULTS, ...options };
  }

  /** True after an error event: the parser ignores further input. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes held between pushes (bounded by the limits). */
  get bufferedBytes(): number {
    return this.#buffer.length;
  }

  /** Capacity of the parser's own buffer (at most 4 × max(bufferedBytes, 16 KiB)). */
  get retainedBytes(): number {
    return this.#storage.length;
  }

  push(chunk: Buffer): RtspParseEvent[] {
    const events: RtspParseEvent[] = [];
    if (this.#closed || chunk.length === 0) return events;
    // Parse straight from the chunk when nothing is pending; otherwise append
    // to the owned buffer, which grows by doubling so that many small pushes
    // cost linear, not quadratic, copying.
    const owned = this.#buffer.length > 0;
    if (owned) this.#append(chunk);
    else this.#buffer = chunk;
    try {
      while (this.#step(events));
    } catch (error) {
      // Not expected: a bug must not take the process down with it.
      this.#fail(events, error instanceof ParseFailure ? error.reason : 'bad-request-line');
    }
    this.#keepRemainder(owned);
    return events;
  }

  #append(chunk: Buffer): void {
    const length = this.#buffer.length;
    const start = this.#buffer.byteOffset - this.#storage.byteOffset;
    const needed = length + chunk.length;
    if (start + needed > this.#storage.length) {
      if (needed <= this.#storage.length / 2) {
        this.#storage.copy(this.#storage, 0, start, start + length);
      } else {
        const storage = Buffer.allocUnsafeSlow(Math.max(MIN_STORAGE, needed * 2));
        this.#storage.copy(storage, 0, start, start + length);
        this.#storage = storage;
      }
      this.#buffer = this.#storage.subarray(0, length);
    }
    const offset = this.#buffer.byteOffset - this.#storage.byteOffset;
    chunk.copy(this.#storage, offset + length);
    this.#buffer = this.#storage.subarray(offset, offset + needed);
  }

  /** Copies what is left of a caller's chunk into the owned buffer; shrinks it when oversized. */
  #keepRemainder(owned: boolean): void {
    const length = this.#buffer.length;
    const roomy = Math.max(length, MIN_STORAGE * 4);
    if (length === 0) {
      this.#buffer = EMPTY;
      if (this.#storage.length > roomy) this.#storage = EMPTY;
      return;
    }
    if (owned && this.#storage.length <= roomy * 4) return;
    const storage =
      this.#storage.length >= length && this.#storage.length <= roomy * 4
        ? this.#storage
        : Buffer.allocUnsafeSlow(Math.max(MIN_STORAGE, length * 2));
    this.#buffer.copy(storage, 0);
    this.#storage = storage;
    this.#buffer = storage.subarray(0, length);
  }

  #fail(events: RtspParseEvent[], reason: RtspParseErrorReason): false {
    this.#closed = true;
    this.#buffer = EMPTY;
    this.#head = undefined;
    events.push({ type: 'error', reason, status: RTSP_PARSE_ERROR_STATUS[reason] });
    return false;
  }

  #consume(length: number): void {
    this.#buffer = length >= this.#buffer.length ? EMPTY : this.#buffer.subarray(length);
    this.#scanFrom = 0;
    this.#lineChecked = 0;
  }

  /** One unit of progress; false when more input is needed. */
  #step(events: RtspParseEvent[]): boolean {
    if (this.#head !== undefined) return this.#readBody(events);
    const buffer = this.#buffer;
    if (buffer.length === 0) return false;
    const first = buffer[0];
    if (first === INTERLEAVED_MAGIC) {
      if (buffer.length < 4) return false;
      const length = buffer.readUInt16BE(2);
      if (buffer.length < 4 + length) return false;
      const channel = buffer[1] ?? 0;
      const payload = Buffer.from(buffer.subarray(4, 4 + length));
      this.#consume(4 + length);
      events.push({ type: 'interleaved', channel, payload });
      return true;
    }
    if (first === CR || first === LF) {
      // Empty lines between messages (keep-alives, a trailing CRLF after a body).
      this.#consume(1);
      return true;
    }
    const end = this.#findHeaderEnd();
    if (end === undefined) {
      if (buffer.length > this.#limits.maxHeaderBytes)
        return this.#fail(events, 'headers-too-large');
      const reason = this.#checkPartialStartLine();
      if (reason !== undefined) return this.#fail(events, reason);
      return false;
    }
    if (end.blockEnd > this.#limits.maxHeaderBytes) return this.#fail(events, 'headers-too-large');
    const head = this.#parseHead(buffer.subarray(0, end.textEnd).toString('latin1'));
    if (head instanceof ParseFailure) return this.#fail(events, head.reason);
    const length = this.#contentLength(head.headers);
    if (length instanceof ParseFailure) return this.#fail(events, length.reason);
    this.#consume(end.blockEnd);
    this.#head = head;
    this.#bodyLength = length;
    return true;
  }

  #readBody(events: RtspParseEvent[]): boolean {
    const head = this.#head;
    if (head === undefined || this.#buffer.length < this.#bodyLength) return false;
    const body =
      this.#bodyLength === 0 ? EMPTY : Buffer.from(this.#buffer.subarray(0, this.#bodyLength));
    this.#consume(this.#bodyLength);
    this.#head = undefined;
    if (head.kind === 'request') {
      const { method, url, version, headers } = head;
      events.push({ type: 'request', request: { method, url, version, headers, body } });
    } else {
      const { version, status, reason, headers } = head;
      events.push({ type: 'response', response: { version, status, reason, headers, body } });
    }
    return true;
  }

  /** Finds LF LF or LF CR LF; textEnd excludes the final empty line. */
  #findHeaderEnd(): { textEnd: number; blockEnd: number } | undefined {
    const buffer = this.#buffer;
    let at = buffer.indexOf(LF, this.#scanFrom);
    while (at !== -1) {
      const next = buffer[at + 1];
      if (next === undefined) break;
      if (next === LF) return { textEnd: at + 1, blockEnd: at + 2 };
      if (next === CR) {
        const after = buffer[at + 2];
        if (after === undefined) break;
        if (after === LF) return { textEnd: at + 1, blockEnd: at + 3 };
      }
      at = buffer.indexOf(LF, at + 1);
    }
    this.#scanFrom = Math.max(0, buffer.length - 2);
    return undefined;
  }

  /** Refuses an unterminated start line early when it already cannot be valid. */
  #checkPartialStartLine(): RtspParseErrorReason | undefined {
    const buffer = this.#buffer;
    const lf = buffer.indexOf(LF);
    const lineEnd = lf === -1 ? buffer.length : lf;
    for (let i = this.#lineChecked; i < lineEnd; i++) {
      const byte = buffer[i] ?? 0;
      if (isControl(byte) && !(byte === CR && (i + 1 === lineEnd || i + 1 === buffer.length))) {
        return 'control-character';
      }
    }
    this.#lineChecked = Math.max(0, lineEnd - 1);
    // Method SP URL SP RTSP/x.y: a longer line cannot hold an acceptable URL.
    if (lf === -1 && lineEnd > this.#limits.maxUrlLength + 64) {
      return buffer.subarray(0, 5).toString('latin1') === 'RTSP/'
        ? 'bad-status-line'
        : 'uri-too-long';
    }
    return undefined;
  }

  #parseHead(text: string): Head | ParseFailure {
    const lines = text.split('\n');
    // Drop the empty string after the final LF.
    lines.pop();
    const stripped: string[] = [];
    for (const line of lines) {
      stripped.push(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    const startLine = stripped[0] ?? '';
    if (hasControl(startLine, false)) return new ParseFailure('control-character');
    const headers = new RtspHeaders();
    let count = 0;
    let last: [string, string] | undefined;
    const pending: [string, string][] = [];
    for (let i = 1; i < stripped.length; i++) {
      const line = stripped[i] ?? '';
      if (hasControl(line, true)) return new ParseFailure('control-character');
      if ((line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) {
        // Obsolete line folding (RFC 2326 §4.2 allows LWS continuation).
        last[1] = `${last[1]} ${line.trim()}`.trim();
        continue;
      }
      if (++count > this.#limits.maxHeaders) return new ParseFailure('too-many-headers');
      const colon = line.indexOf(':');
      if (colon === -1) return new ParseFailure('header-without-colon');
      const name = line.slice(0, colon);
      if (!isToken(name)) return new ParseFailure('invalid-header-name');
      last = [name, line.slice(colon + 1).trim()];
      pending.push(last);
    }
    for (const [name, value] of pending) headers.append(name, value);
    return startLine.startsWith('RTSP/')
      ? this.#parseStatusLine(startLine, headers)
      : this.#parseRequestLine(startLine, headers);
  }

  #parseRequestLine(line: string, headers: RtspHeaders): Head | ParseFailure {
    const parts = line.split(' ');
    if (parts.length !== 3) {
      const url = parts[1];
      if (url !== undefined && url.length > this.#limits.maxUrlLength) {
        return new ParseFailure('uri-too-long');
      }
      return new ParseFailure('bad-request-line');
    }
    const [method = '', url = '', versionText = ''] = parts;
    if (!isToken(method) || url === '') return new ParseFailure('bad-request-line');
    if (url.length > this.#limits.maxUrlLength) return new ParseFailure('uri-too-long');
    const version = parseVersion(versionText);
    if (version instanceof ParseFailure) return version;
    return { kind: 'request', method, url, version, headers };
  }

  #parseStatusLine(line: string, headers: RtspHeaders): Head | ParseFailure {
    const first = line.indexOf(' ');
    const versionText = first === -1 ? line : line.slice(0, first);
    const version = parseVersion(versionText);
    if (version instanceof ParseFailure) {
      return version.reason === 'bad-request-line' ? new ParseFailure('bad-status-line') : version;
    }
    if (first === -1) return new ParseFailure('bad-status-line');
    const rest = line.slice(first + 1);
    const second = rest.indexOf(' ');
    const statusText = second === -1 ? rest : rest.slice(0, second);
    if (!STATUS.test(statusText)) return new ParseFailure('bad-status-line');
    const status = Number(statusText);
    if (status < 100) return new ParseFailure('bad-status-line');
    const reason = second === -1 ? '' : rest.slice(second + 1);
    return { kind: 'response', version, status, reason, headers };
  }

  #contentLength(headers: RtspHeaders): number | ParseFailure {
    const values = headers.getAll('Content-Length');
    if (values.length === 0) return 0;
    let length: number | undefined;
    for (const value of values) {
      if (!/^\d+$/.test(value)) return new ParseFailure('invalid-content-length');
      const n = value.length > 15 ? Number.POSITIVE_INFINITY : Number(value);
      if (length !== undefined && n !== length)
        return new ParseFailure('conflicting-content-length');
      length = n;
    }
    if (length === undefined) return 0;
    if (length > this.#limits.maxBodyBytes) return new ParseFailure('body-too-large');
    return length;
  }
}
