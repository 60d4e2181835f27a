/**
 * The streams a client has open on one HTTP/2 connection, as the server's
 * nghttp2 counts them against the SETTINGS_MAX_CONCURRENT_STREAMS it
 * advertised (RFC 9113 section 5.1.2), followed from the frame headers of
 * both directions: a client HEADERS on a new stream opens it; END_STREAM
 * from each side, or an RST_STREAM from either, closes it.
 *
 * The limit holds from the client's first SETTINGS ACK on (the settings are
 * in force once acknowledged, section 6.5.3): before it, nghttp2 refuses
 * excess streams one by one (REFUSED_STREAM) and the connection goes on;
 * after it, a stream over the limit is a connection error in nghttp2, which
 * node reports only as a generic ERR_HTTP2_ERROR. Seeing it here first lets
 * it be refused and counted under a reason of its own.
 *
 * The view never lags behind a well-behaved client: every frame that closes
 * a stream passes here before the client can see it and open the next one.
 */
import type { FrameHeader } from './h2-frame-reader.js';

const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const END_STREAM = 0x1;
const ACK = 0x1;

/** Bits of a stream's state: which sides have ended it. */
const CLIENT_ENDED = 1;
const SERVER_ENDED = 2;

export class ClientStreamCount {
  readonly #max: number;
  /** Open streams by id, with the sides that have ended them. */
  readonly #open = new Map<number, number>();
  #lastOpened = 0;
  #limitInForce = false;

  constructor(maxConcurrentStreams: number) {
    this.#max = maxConcurrentStreams;
  }

  get open(): number {
    return this.#open.size;
  }

  /** A frame the client sent; false when it opens a stream over the limit. */
  fromClient(frame: FrameHeader): boolean {
    const ended = (frame.flags & END_STREAM) !== 0;
    switch (frame.type) {
      case SETTINGS:
        if ((frame.flags & ACK) !== 0) this.#limitInForce = true;
        return true;
      case HEADERS:
        if (frame.streamId <= this.#lastOpened) {
          // Trailers, on a stream that is open already.
          if (ended) this.#end(frame.streamId, CLIENT_ENDED);
          return true;
        }
        this.#lastOpened = frame.streamId;
        if (this.#limitInForce && this.#open.size >= this.#max) return false;
        this.#open.set(frame.streamId, ended ? CLIENT_ENDED : 0);
        return true;
      case DATA:
        if (ended) this.#end(frame.streamId, CLIENT_ENDED);
        return true;
      case RST_STREAM:
        this.#open.delete(frame.streamId);
        return true;
      default:
        return true;
    }
  }

  /** A frame the server sent. */
  fromServer(frame: FrameHeader): void {
    if (frame.type === RST_STREAM) {
      this.#open.delete(frame.streamId);
      return;
    }
    if ((frame.type === HEADERS || frame.type === DATA) && (frame.flags & END_STREAM) !== 0) {
      this.#end(frame.streamId, SERVER_ENDED);
    }
  }

  #end(streamId: number, side: number): void {
    const state = this.#open.get(streamId);
    if (state === undefined) return;
    const next = state | side;
    if (next === (CLIENT_ENDED | SERVER_ENDED)) this.#open.delete(streamId);
    else this.#open.set(streamId, next);
  }
}
