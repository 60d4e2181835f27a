/**
 * An HTTP/2 request and its response on node's stream API, in place of its
 * compatibility layer (Http2ServerRequest and Http2ServerResponse). The layer
 * wraps every stream in a Readable and a Stream of its own, with five
 * listeners on the stream for each, and copies the request body through its
 * Readable. In one thread beside the bare forwarder on the stream API, the
 * same forwarder on the layer cost 16% more CPU a request for HTTP/2 and 7%
 * for gRPC (README, "HTTP/2 on node's stream API").
 *
 * Here the stream is the body both ways: the request's is read from it, the
 * response's written to it (downstream.ts: requestBodyOf, responseBodyOf).
 * These two classes carry the head, and what the router relied on of the
 * layer: status and headers settable until the head goes, a head that ends
 * the stream when nothing follows it, trailers sent when the body has ended
 * (HTTP/2 has no other way to end a stream after its data), and 'close' when
 * the stream closes.
 */
import type { Socket } from 'node:net';
import {
  constants as h2,
  type IncomingHttpHeaders,
  type Http2Session,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { OutgoingHttpHeader } from 'node:http';

export class Http2Request {
  readonly httpVersion = '2.0';
  readonly stream: ServerHttp2Stream;
  /** Kept from the start: node clears stream.session when the stream closes, before the access log asks. */
  readonly session: Http2Session | undefined;
  readonly headers: IncomingHttpHeaders;
  /** Names and values as received, repeats kept: what nghttp2's header list limit is checked on. */
  readonly rawHeaders: readonly string[];

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]) {
    this.stream = stream;
    this.session = stream.session;
    this.headers = headers;
    this.rawHeaders = rawHeaders;
  }

  get method(): string | undefined {
    return pseudoHeader(this.headers, h2.HTTP2_HEADER_METHOD);
  }

  get url(): string | undefined {
    return pseudoHeader(this.headers, h2.HTTP2_HEADER_PATH);
  }

  /** The session's socket (with the frame guard, the guard, which has no address). */
  get socket(): Socket | null {
    return this.session?.socket ?? null;
  }
}

export class Http2Response {
  readonly stream: ServerHttp2Stream;
  statusCode = 200;
  #headers: OutgoingHttpHeaders = {};
  #trailers: OutgoingHttpHeaders | undefined;
  #ending = false;

  constructor(stream: ServerHttp2Stream) {
    this.stream = stream;
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  /** Set by end(), as node:http's response has it: nothing more will be written. */
  get writableEnded(): boolean {
    return this.#ending;
  }

  /**
   * Every byte of the response, trailers included, handed to nghttp2, and
   * the stream not reset: node marks a reset stream's writable side finished
   * too.
   */
  get writableFinished(): boolean {
    return this.stream.writableFinished && !(this.stream.rstCode > h2.NGHTTP2_NO_ERROR);
  }

  setHeader(name: string, value: OutgoingHttpHeader): this {
    if (this.stream.headersSent) throw new Error(`header "${name}" set after the head was sent`);
    this.#headers[name.toLowerCase()] = value;
    return this;
  }

  /**
   * Sends the head, with trailers to follow the body. Throws what node's
   * respond() throws for a head HTTP/2 cannot carry (a status outside
   * 200-599, a connection-specific header), having sent nothing.
   */
  writeHead(status: number, headers: OutgoingHttpHeaders): this {
    if (this.#gone()) return this;
    this.statusCode = status;
    for (const name in headers) {
      const value = headers[name];
      if (value !== undefined) this.#headers[name] = value;
    }
    this.#respond({ endStream: false, waitForTrailers: true });
    return this;
  }

  addTrailers(trailers: OutgoingHttpHeaders): void {
    this.#trailers = { ...this.#trailers, ...trailers };
  }

  /** Ends the response: sends the head first if it has not gone (one HEADERS frame when there is no body). */
  end(body?: Buffer | string): void {
    if (this.#ending) return;
    this.#ending = true;
    const stream = this.stream;
    if (this.#gone()) return;
    if (!stream.headersSent) {
      const empty = body === undefined || body.length === 0;
      if (empty && this.#trailers === undefined) {
        this.#respond({ endStream: true, waitForTrailers: false });
        return;
      }
      this.#respond({ endStream: false, waitForTrailers: this.#trailers !== undefined });
    }
    // node ends the stream with the head of the answer to HEAD, a 204's or a
    // 304's; their empty body (what node:http's client hands over) must not
    // follow, as a write after that end would destroy the stream.
    if (stream.writableEnded) return;
    if (body === undefined) stream.end();
    else stream.end(body);
  }

  once(event: 'close', listener: () => void): this {
    this.stream.once(event, listener);
    return this;
  }

  /**
   * Closed or destroyed: nothing can be sent. A stream the client reset is
   * closed a moment before node destroys it (its 'aborted' comes between),
   * and respond() on it throws.
   */
  #gone(): boolean {
    return this.stream.closed || this.stream.destroyed;
  }

  #respond(options: { readonly endStream: boolean; readonly waitForTrailers: boolean }): void {
    const headers = this.#headers;
    // Dropped as node's compatibility layer drops it: HTTP/2 has no Connection header.
    Reflect.deleteProperty(headers, 'connection');
    headers[h2.HTTP2_HEADER_STATUS] = this.statusCode;
    this.stream.respond(headers, options);
    if (options.waitForTrailers) this.stream.once('wantTrailers', () => this.#sendTrailers());
  }

  #sendTrailers(): void {
    try {
      this.stream.sendTrailers(this.#trailers ?? {});
    } catch {
      // Trailers HTTP/2 cannot carry: the stream cannot end cleanly, so it is reset.
      this.stream.close(h2.NGHTTP2_INTERNAL_ERROR);
    }
  }
}

/** A pseudo-header nghttp2 let through: one value, never repeated. */
function pseudoHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}
