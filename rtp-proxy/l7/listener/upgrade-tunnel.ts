/**
 * HTTP/1.1 Upgrade pass-through (WebSocket and any upgrade other than h2c):
 * the request goes to one upstream endpoint over a fresh TCP connection; a
 * 101 answer turns both connections into one byte pipe, any other answer is
 * relayed whole and ends the client connection.
 *
 * The client's bytes (including `head`, what node:http read past the
 * request) are held until the upstream has said 101: before that the upstream
 * connection is still HTTP, and bytes a client sends early could be read by
 * the upstream as a second, unrouted request.
 */
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface TunnelTarget {
  readonly host: string;
  readonly port: number;
}

export interface TunnelOptions {
  /** Longest wait for the TCP connection to the upstream; then 504. */
  readonly connectTimeoutMs: number;
  /** No byte either way for this long closes both sides (504 while awaiting the answer). */
  readonly idleTimeoutMs: number;
  /** Request headers for the upstream, already edited by the caller, including upgrade and connection. */
  readonly headers: OutgoingHttpHeaders;
  readonly method: string;
  readonly path: string;
}

export interface TunnelResult {
  /** What the client was answered: 101, the upstream's status, 502 or 504; 0 if the client left first. */
  readonly status: number;
  /** Bytes relayed client -> upstream after the request head (`head` included). */
  readonly bytesUp: number;
  /** Bytes relayed upstream -> client after the response head. */
  readonly bytesDown: number;
}

/** A response head longer than this is refused with 502. */
export const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;
/** A chunk-size or trailer line longer than this ends the relay. */
const MAX_CHUNK_LINE_BYTES = 4 * 1024;

export type BodyFraming =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'until-close' };

export type ResponseHeadScan =
  | { readonly state: 'incomplete' }
  | { readonly state: 'invalid' }
  | {
      readonly state: 'complete';
      readonly headLength: number;
      readonly status: number;
      readonly framing: BodyFraming;
    };

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * The response head at the start of `bytes` (RFC 9112 sections 4 and 6.3):
 * its length, status and how its body is delimited. Invalid past
 * MAX_RESPONSE_HEAD_BYTES or when the status line or framing is malformed.
 */
export function scanResponseHead(bytes: Buffer, requestMethod: string): ResponseHeadScan {
  const end = bytes.subarray(0, MAX_RESPONSE_HEAD_BYTES).indexOf(HEAD_END);
  if (end < 0) {
    return bytes.length >= MAX_RESPONSE_HEAD_BYTES ? { state: 'invalid' } : { state: 'incomplete' };
  }
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const statusMatch = /^HTTP\/1\.[01] ([1-5][0-9]{2})(?: .*)?$/.exec(lines[0] ?? '');
  if (statusMatch === null) return { state: 'invalid' };
  const status = Number(statusMatch[1]);
  const lengths = new Set<string>();
  let transferEncoding: string | undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return { state: 'invalid' };
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      for (const part of value.split(',')) lengths.add(part.trim());
    } else if (name === 'transfer-encoding') {
      transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
    }
  }
  const headLength = end + HEAD_END.length;
  const complete = (framing: BodyFraming): ResponseHeadScan => ({
    state: 'complete',
    headLength,
    status,
    framing,
  });
  const bodiless = status < 200 || status === 204 || status === 304 || requestMethod === 'HEAD';
  if (bodiless) return complete({ kind: 'none' });
  if (transferEncoding !== undefined) {
    const codings = transferEncoding.toLowerCase().split(',');
    const chunkedLast = codings.at(-1)?.trim() === 'chunked';
    return complete(chunkedLast ? { kind: 'chunked' } : { kind: 'until-close' });
  }
  if (lengths.size > 1) return { state: 'invalid' };
  const [length] = lengths;
  if (length === undefined) return complete({ kind: 'until-close' });
  if (!/^[0-9]{1,15}$/.test(length)) return { state: 'invalid' };
  return complete({ kind: 'length', length: Number(length) });
}

/**
 * Finds where a chunked body (RFC 9112 section 7.1) ends, fed in pieces.
 * `feed` answers how many bytes of the piece belong to the body, `done`
 * once the last chunk and the trailer section went by; `invalid` for a
 * malformed chunk-size line.
 */
export class ChunkedBodyEnd {
  #state: 'size' | 'data' | 'data-crlf' | 'trailer' | 'done' | 'invalid' = 'size';
  #line = '';
  #remaining = 0;

  get done(): boolean {
    return this.#state === 'done';
  }

  get invalid(): boolean {
    return this.#state === 'invalid';
  }

  feed(bytes: Buffer): number {
    let offset = 0;
    while (offset < bytes.length && this.#state !== 'done' && this.#state !== 'invalid') {
      if (this.#state === 'data') {
        const take = Math.min(this.#remaining, bytes.length - offset);
        offset += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = 'data-crlf';
        continue;
      }
      const byte = bytes[offset] ?? 0;
      offset += 1;
      if (byte !== 0x0a) {
        this.#line += String.fromCharCode(byte);
        if (this.#line.length > MAX_CHUNK_LINE_BYTES) this.#state = 'invalid';
        continue;
      }
      const line = this.#line.replace(/\r$/, '');
      this.#line = '';
      this.#onLine(line);
    }
    return offset;
  }

  #onLine(line: string): void {
    if (this.#state === 'data-crlf') {
      this.#state = line === '' ? 'size' : 'invalid';
    } else if (this.#state === 'trailer') {
      if (line === '') this.#state = 'done';
    } else {
      const size = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(line);
      if (size === null) {
        this.#state = 'invalid';
        return;
      }
      this.#remaining = parseInt(size[1] ?? '', 16);
      this.#state = this.#remaining === 0 ? 'trailer' : 'data';
    }
  }
}

/** The request line and headers, or undefined when one of them could not be sent safely. */
export function serializeRequestHead(
  method: string,
  path: string,
  headers: OutgoingHttpHeaders,
  target: TunnelTarget,
): string | undefined {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method) || !/^[\x21-\x7e]+$/.test(path)) {
    return undefined;
  }
  const lines = [`${method} ${path} HTTP/1.1`];
  let hasHost = false;
  try {
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      validateHeaderName(name);
      for (const item of Array.isArray(value) ? value : [value]) {
        const text = String(item);
        validateHeaderValue(name, text);
        lines.push(`${name}: ${text}`);
      }
      if (name.toLowerCase() === 'host') hasHost = true;
    }
  } catch {
    return undefined;
  }
  if (!hasHost) {
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    lines.push(`host: ${host}:${target.port}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function errorResponse(status: number): string {
  const reason = STATUS_CODES[status] ?? '';
  return `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
}

type Phase = 'connecting' | 'awaiting-response' | 'relaying-response' | 'tunnel' | 'answered';

/** One upgrade's life: connect, request, answer, then bytes both ways until both sides close. */
class UpgradeTunnel {
  #phase: Phase = 'connecting';
  #status = 0;
  #bytesUp = 0;
  #bytesDown = 0;
  #responseBytes = Buffer.alloc(0);
  #body: { framing: BodyFraming; remaining: number; chunked: ChunkedBodyEnd } | undefined;
  #upstream: Socket | undefined;
  #clientEnded = false;
  #clientClosed = false;
  #upstreamEnded = false;
  #upstreamClosed = true;
  #idleTimer: NodeJS.Timeout | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #finished = false;

  constructor(
    readonly client: Duplex,
    readonly head: Buffer,
    readonly target: TunnelTarget,
    readonly options: TunnelOptions,
    readonly resolve: (result: TunnelResult) => void,
  ) {}

  start(): void {
    const { client, options } = this;
    client.on('error', () => this.#destroyBoth());
    client.on('end', () => (this.#clientEnded = true));
    client.on('close', () => {
      this.#clientClosed = true;
      if (this.#phase === 'connecting' || this.#phase === 'awaiting-response') {
        this.#phase = 'answered'; // nobody left to answer: status stays 0
      }
      // Only a clean FIN in the tunnel leaves the upstream to finish on its own.
      if (this.#phase !== 'tunnel' || !this.#clientEnded) this.#upstream?.destroy();
      this.#finishWhenBothClosed();
    });
    if (client.destroyed) {
      this.#clientClosed = true;
      this.#finishWhenBothClosed();
      return;
    }
    client.pause();
    const requestHead = serializeRequestHead(
      options.method,
      options.path,
      options.headers,
      this.target,
    );
    if (requestHead === undefined) {
      this.#answer(502);
      return;
    }
    this.#idleTimer = setTimeout(() => this.#onIdle(), options.idleTimeoutMs);
    const upstream = connect({ host: this.target.host, port: this.target.port });
    this.#upstream = upstream;
    this.#upstreamClosed = false;
    this.#connectTimer = setTimeout(() => this.#answer(504), options.connectTimeoutMs);
    upstream.setNoDelay(true);
    upstream.once('connect', () => {
      clearTimeout(this.#connectTimer);
      this.#phase = 'awaiting-response';
      this.#idleTimer?.refresh();
      upstream.write(requestHead);
    });
    upstream.on('data', (chunk: Buffer) => this.#onUpstreamData(chunk));
    upstream.on('end', () => {
      this.#upstreamEnded = true;
      this.#onUpstreamEnd();
    });
    upstream.on('error', () =>
      this.#phase === 'tunnel' ? this.#destroyBoth() : this.#answer(502),
    );
    upstream.on('close', () => {
      this.#upstreamClosed = true;
      clearTimeout(this.#connectTimer);
      if (this.#phase === 'connecting' || this.#phase === 'awaiting-response') this.#answer(502);
      else if (this.#phase === 'relaying-response') this.#endClient();
      else if (this.#phase === 'tunnel' && !this.#upstreamEnded) this.client.destroy();
      this.#finishWhenBothClosed();
    });
  }

  #onIdle(): void {
    if (this.#phase === 'connecting' || this.#phase === 'awaiting-response') this.#answer(504);
    else this.#destroyBoth();
  }

  #onUpstreamData(chunk: Buffer): void {
    this.#idleTimer?.refresh();
    if (this.#phase === 'tunnel') {
      this.#relay(chunk, this.client, 'down');
    } else if (this.#phase === 'relaying-response') {
      this.#relayBody(chunk);
    } else if (this.#phase === 'awaiting-response') {
      this.#responseBytes = Buffer.concat([this.#responseBytes, chunk]);
      this.#readResponseHeads();
    }
  }

  /** Relays interim (1xx) heads as they come, then acts on the final head. */
  #readResponseHeads(): void {
    for (;;) {
      const scan = scanResponseHead(this.#responseBytes, this.options.method);
      if (scan.state === 'incomplete') return;
      if (scan.state === 'invalid') {
        this.#answer(502);
        return;
      }
      const headBytes = this.#responseBytes.subarray(0, scan.headLength);
      const rest = this.#responseBytes.subarray(scan.headLength);
      this.#responseBytes = Buffer.alloc(0);
      this.#status = scan.status;
      this.client.write(headBytes);
      if (scan.status === 101) {
        this.#openTunnel(rest);
        return;
      }
      if (scan.status >= 200) {
        this.#phase = 'relaying-response';
        this.#discardClientInput();
        const remaining = scan.framing.kind === 'length' ? scan.framing.length : 0;
        this.#body = { framing: scan.framing, remaining, chunked: new ChunkedBodyEnd() };
        this.#relayBody(rest);
        return;
      }
      this.#responseBytes = rest;
    }
  }

  #openTunnel(upstreamRest: Buffer): void {
    const upstream = this.#upstream;
    if (upstream === undefined) return;
    this.#phase = 'tunnel';
    if (upstreamRest.length > 0) this.#relay(upstreamRest, this.client, 'down');
    if (this.head.length > 0) this.#relay(this.head, upstream, 'up');
    this.client.on('data', (chunk: Buffer) => {
      this.#idleTimer?.refresh();
      this.#relay(chunk, upstream, 'up');
    });
    // A FIN from one side is passed on; the other side may still answer.
    this.client.on('end', () => upstream.end());
    this.client.resume();
  }

  #relay(chunk: Buffer, to: Duplex, direction: 'up' | 'down'): void {
    if (direction === 'up') this.#bytesUp += chunk.length;
    else this.#bytesDown += chunk.length;
    if (to.write(chunk)) return;
    const from = direction === 'up' ? this.client : this.#upstream;
    from?.pause();
    to.once('drain', () => from?.resume());
  }

  /** Copies the non-101 answer's body to the client and ends it once the body is complete. */
  #relayBody(bytes: Buffer): void {
    const body = this.#body;
    if (body === undefined || bytes.length === 0) {
      if (
        body?.framing.kind === 'none' ||
        (body?.framing.kind === 'length' && body.remaining === 0)
      ) {
        this.#endClient();
      }
      return;
    }
    let take = bytes.length;
    let complete = false;
    switch (body.framing.kind) {
      case 'none':
        take = 0;
        complete = true;
        break;
      case 'length':
        take = Math.min(body.remaining, bytes.length);
        body.remaining -= take;
        complete = body.remaining === 0;
        break;
      case 'chunked':
        take = body.chunked.feed(bytes);
        complete = body.chunked.done || body.chunked.invalid;
        break;
      case 'until-close':
        break;
    }
    if (take > 0) this.#relay(bytes.subarray(0, take), this.client, 'down');
    if (complete) this.#endClient();
  }

  #onUpstreamEnd(): void {
    if (this.#phase === 'tunnel' || this.#phase === 'relaying-response') this.#endClient();
  }

  /** Ends the client's side gracefully (flushing what was written) and lets the upstream go. */
  #endClient(): void {
    if (this.#phase === 'relaying-response') {
      this.#phase = 'answered';
      this.#upstream?.destroy();
    }
    this.client.end();
  }

  /** Answers the client with an error status unless it already got an answer, then closes upstream. */
  #answer(status: number): void {
    clearTimeout(this.#connectTimer);
    this.#upstream?.destroy();
    if (
      this.#phase === 'tunnel' ||
      this.#phase === 'relaying-response' ||
      this.#phase === 'answered'
    ) {
      if (this.#phase === 'tunnel') this.#destroyBoth();
      return;
    }
    this.#phase = 'answered';
    this.#status = status;
    this.#discardClientInput();
    this.client.end(errorResponse(status));
  }

  /**
   * Reads and drops what the client still sends once its answer is decided:
   * closing a socket with unread input makes the kernel send a reset, which
   * can destroy the answer before the client reads it.
   */
  #discardClientInput(): void {
    this.client.on('data', () => undefined);
    this.client.resume();
  }

  #destroyBoth(): void {
    this.#upstream?.destroy();
    this.client.destroy();
  }

  #finishWhenBothClosed(): void {
    if (!this.#clientClosed || !this.#upstreamClosed || this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#connectTimer);
    this.resolve({ status: this.#status, bytesUp: this.#bytesUp, bytesDown: this.#bytesDown });
  }
}

/**
 * Opens a TCP connection to target, sends the upgrade request, and when the
 * upstream answers 101 relays its raw response head and then pipes bytes both
 * ways (`head` included). A non-101 answer is relayed to the client as is
 * (body delimited by its Content-Length, chunked coding or the upstream's
 * close) and the client socket ended. Connect failure, a malformed or
 * oversized (> 16 KiB) response head or an upstream that closes early -> 502;
 * connect timeout or idle while awaiting the answer -> 504. Idle for
 * idleTimeoutMs closes both. Never rejects: resolves when both sides are closed.
 */
export function tunnelUpgrade(
  clientSocket: Duplex,
  head: Buffer,
  target: TunnelTarget,
  options: TunnelOptions,
): Promise<TunnelResult> {
  return new Promise((resolve) => {
    new UpgradeTunnel(clientSocket, head, target, options, resolve).start();
  });
}
