/**
 * One client's RTSP connection: bytes in through the stream parser, requests
 * answered one at a time in order (RFC 2326 §10: responses in request order),
 * interleaved data routed to the sessions, and the defences every listener
 * needs: a malformed message gets its status and the connection is closed, a
 * client that trickles a message slower than the header timeout is cut off,
 * an idle one too, and a flood of pipelined requests is refused.
 */
import type { Socket } from 'node:net';
import {
  RtspHeaders,
  RtspStreamParser,
  serializeResponse,
  type RtspRequest,
  type RtspResponse,
} from '../../../src/protocol/rtsp/index.js';
import type { SourceDescription } from '../../../src/media/source/index.js';
import type { InterleavedWriter } from './frame-batcher.js';

export type ConnectionDefect =
  | 'parse_error'
  | 'header_timeout'
  | 'idle_timeout'
  | 'pipeline_flood'
  | 'unexpected_response'
  | 'unknown_channel';

export interface ConnectionHandler {
  request(connection: RtspConnection, request: RtspRequest): Promise<RtspResponse>;
  interleaved(connection: RtspConnection, channel: number, payload: Buffer): boolean;
  defect(reason: ConnectionDefect, detail?: string): void;
  closed(connection: RtspConnection): void;
  /** Does the connection still hold sessions (then it is not idle)? */
  hasSessions(connection: RtspConnection): boolean;
  /** The first request head is complete: the listener's head deadline is met. */
  headComplete(connection: RtspConnection): void;
}

export interface ConnectionTimeouts {
  /** A started message must be complete within this. */
  readonly headerMs: number;
  /** No request and no session for this long closes the connection. */
  readonly idleMs: number;
}

/** Requests queued behind the one being answered before the client is cut off. */
const MAX_PIPELINED = 16;

export class RtspConnection implements InterleavedWriter {
  readonly id: number;
  readonly remoteAddress: string;
  readonly socket: Socket;
  /** Paths this connection authenticated for: later requests need not repeat it. */
  readonly authenticated = new Set<string>();
  /** A publisher's ANNOUNCE, waiting for its SETUPs. */
  announced: { pathName: string; description: SourceDescription } | undefined;
  readonly #handler: ConnectionHandler;
  readonly #parser = new RtspStreamParser();
  readonly #timeouts: ConnectionTimeouts;
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;
  #partialSinceMs: number | undefined;
  #lastRequestMs: number;
  #timer: NodeJS.Timeout;
  #closed = false;
  #headSeen = false;

  constructor(
    id: number,
    socket: Socket,
    handler: ConnectionHandler,
    timeouts: ConnectionTimeouts,
  ) {
    this.id = id;
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.#handler = handler;
    this.#timeouts = timeouts;
    this.#lastRequestMs = Date.now();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('data', (chunk: Buffer) => {
      this.#onData(chunk);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#onClose();
    });
    this.#timer = setInterval(() => {
      this.#checkTimeouts();
    }, 1000);
    this.#timer.unref();
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  write(frame: Buffer): void {
    if (!this.#closed) this.socket.write(frame);
  }

  close(): void {
    if (this.#closed) return;
    this.socket.destroy();
    this.#onClose();
  }

  #onData(chunk: Buffer): void {
    for (const event of this.#parser.push(chunk)) {
      switch (event.type) {
        case 'request':
          this.#lastRequestMs = Date.now();
          if (!this.#headSeen) {
            this.#headSeen = true;
            this.#handler.headComplete(this);
          }
          this.#enqueue(event.request);
          break;
        case 'interleaved':
          if (!this.#handler.interleaved(this, event.channel, event.payload)) {
            this.#handler.defect('unknown_channel');
          }
          break;
        case 'response':
          // Clients answer nothing of ours (we send no requests): ignore it.
          this.#handler.defect('unexpected_response');
          break;
        case 'error':
          this.#handler.defect('parse_error', event.reason);
          this.#answerAndClose(event.status, statusText(event.status));
          return;
      }
    }
    this.#partialSinceMs =
      this.#parser.bufferedBytes > 0 ? (this.#partialSinceMs ?? Date.now()) : undefined;
  }

  #enqueue(request: RtspRequest): void {
    if (this.#pending >= MAX_PIPELINED) {
      this.#handler.defect('pipeline_flood');
      this.close();
      return;
    }
    this.#pending += 1;
    this.#queue = this.#queue.then(async () => {
      const response = await this.#handler.request(this, request);
      this.#pending -= 1;
      if (this.#closed) return;
      this.socket.write(serializeResponse(response));
      if (response.headers.get('Connection')?.toLowerCase() === 'close') this.#endGracefully();
    });
  }

  #answerAndClose(status: number, reason: string): void {
    const headers = new RtspHeaders([['Connection', 'close']]);
    const response: RtspResponse = { version: 'RTSP/1.0', status, reason, headers, body: EMPTY };
    // Answer after the requests already queued, in order.
    this.#queue = this.#queue.then(() => {
      if (this.#closed) return;
      this.socket.write(serializeResponse(response));
      this.#endGracefully();
    });
  }

  #endGracefully(): void {
    this.socket.end();
    // A client that never reads its answer must not hold the socket open.
    setTimeout(() => {
      this.close();
    }, 2000).unref();
  }

  #checkTimeouts(): void {
    const now = Date.now();
    // A message in progress is held to the stricter of the two limits.
    const headerLimit = Math.min(this.#timeouts.headerMs, this.#timeouts.idleMs);
    if (this.#partialSinceMs !== undefined && now - this.#partialSinceMs > headerLimit) {
      this.#partialSinceMs = undefined;
      this.#handler.defect('header_timeout');
      this.#answerAndClose(408, 'Request Timeout');
      return;
    }
    const idle = now - this.#lastRequestMs > this.#timeouts.idleMs;
    if (
      idle &&
      this.#partialSinceMs === undefined &&
      this.#pending === 0 &&
      !this.#handler.hasSessions(this)
    ) {
      this.#handler.defect('idle_timeout');
      this.close();
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#handler.closed(this);
  }
}

const EMPTY = Buffer.alloc(0);

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Large',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  451: 'Parameter Not Understood',
  453: 'Not Enough Bandwidth',
  454: 'Session Not Found',
  455: 'Method Not Valid in This State',
  459: 'Aggregate Operation Not Allowed',
  461: 'Unsupported Transport',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'RTSP Version Not Supported',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Error';
}
