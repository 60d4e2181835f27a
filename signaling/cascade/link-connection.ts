/**
 * One open cascade link: a WebSocket to one peer node, whoever dialed.
 *
 * Every frame from the peer takes a token of the link's bucket, then is
 * parsed (link-messages.ts); a frame over the rate or that does not parse
 * is dropped and counted, and the link stays up: a buggy or newer peer
 * loses a message, not the room. Frames larger than the socket's
 * maxPayload (well above the message cap) are not read at all: ws closes
 * the link (1009), which bounds the memory a peer can make this node hold.
 *
 * Liveness: a `ping` every heartbeat interval, answered by `pong`; a link
 * whose peer left `maxMissedPongs` pings in a row unanswered is ended
 * (across hosts a dead peer sends no RST). A peer that reads nothing makes
 * sends pile up in the socket: past MAX_BUFFERED_BYTES the link is ended
 * rather than this node holding the backlog.
 */
import type { WebSocket } from 'ws';
import type { Logger } from '../../src/shared/log.js';
import { TokenBucket, type RateLimit } from '../../src/shared/rate-limit/index.js';
import {
  encodeLinkMessage,
  MAX_LINK_MESSAGE_BYTES,
  parseLinkMessage,
  type LinkMessage,
} from './link-messages.js';
import type { LinkDropReason } from './link-metrics.js';

/** ws reads frames up to this; 64 KiB - 256 KiB are dropped and counted, larger ones end the link. */
export const MAX_LINK_FRAME_BYTES = 4 * MAX_LINK_MESSAGE_BYTES;
/** Bytes waiting in the socket for a peer that does not read: past this the link ends. */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Close codes of the link (4000-4999 are the application's, RFC 6455 7.4.2). */
export const LINK_CLOSE = {
  /** The node is stopping. */
  goingAway: 1001,
  /** The peer no longer wants this link (no room shared): do not redial. */
  released: 4000,
  /** A newer link to the same node took this one's place. */
  replaced: 4001,
  /** The peer stopped answering pings, or stopped reading. */
  unresponsive: 4002,
  /** The directory no longer knows the peer under the identity the link was made with. */
  unknown: 4003,
} as const;

export interface LinkConnectionOptions {
  readonly node: string;
  /** The peer's SPIFFE ID the link was authenticated under (null without mTLS). */
  readonly identity: string | null;
  readonly socket: WebSocket;
  /** Whether this node dialed it. */
  readonly dialed: boolean;
  readonly heartbeatMs: number;
  readonly maxMissedPongs: number;
  readonly rate: RateLimit;
  readonly now: () => number;
  readonly log: Logger;
  readonly onMessage: (message: LinkMessage) => void;
  readonly onDrop: (reason: LinkDropReason) => void;
  /** Once, when the socket has closed (whoever closed it). */
  readonly onClose: (code: number) => void;
}

export class LinkConnection {
  readonly node: string;
  readonly identity: string | null;
  readonly dialed: boolean;
  readonly #socket: WebSocket;
  readonly #options: LinkConnectionOptions;
  readonly #bucket: TokenBucket;
  readonly #heartbeat: NodeJS.Timeout;
  #missedPongs = 0;
  #closed = false;

  constructor(options: LinkConnectionOptions) {
    this.node = options.node;
    this.identity = options.identity;
    this.dialed = options.dialed;
    this.#socket = options.socket;
    this.#options = options;
    this.#bucket = new TokenBucket(options.rate, options.now());
    this.#socket.on('message', (data: Buffer, isBinary: boolean) => {
      this.#receive(data, isBinary);
    });
    // An error is always followed by 'close', which is where the link ends.
    this.#socket.on('error', (error) => {
      options.log.debug({ node: this.node, err: error.message }, 'cascade link socket error');
    });
    this.#socket.once('close', (code: number) => {
      this.#ended();
      options.onClose(code);
    });
    this.#heartbeat = setInterval(() => {
      this.#beat();
    }, options.heartbeatMs);
    this.#heartbeat.unref();
  }

  get open(): boolean {
    return !this.#closed;
  }

  /** Sends `message`; false (and nothing sent) when it is over the frame cap or the link is closing. */
  send(message: LinkMessage): boolean | 'too_large' {
    if (this.#closed) return false;
    const frame = encodeLinkMessage(message);
    if (Buffer.byteLength(frame) > MAX_LINK_MESSAGE_BYTES) return 'too_large';
    if (this.#socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.#options.log.warn({ node: this.node }, 'cascade link peer reads nothing: ending it');
      this.close(LINK_CLOSE.unresponsive, 'not reading');
      return false;
    }
    this.#socket.send(frame);
    return true;
  }

  /** Starts the close handshake; the socket is cut if it does not finish within a heartbeat. */
  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#ended();
    this.#socket.close(code, reason);
    const cut = setTimeout(() => {
      this.#socket.terminate();
    }, this.#options.heartbeatMs);
    cut.unref();
    this.#socket.once('close', () => {
      clearTimeout(cut);
    });
  }

  #ended(): void {
    this.#closed = true;
    clearInterval(this.#heartbeat);
  }

  #beat(): void {
    if (this.#missedPongs >= this.#options.maxMissedPongs) {
      this.#options.log.info(
        { node: this.node, missed: this.#missedPongs },
        'cascade link peer stopped answering: ending the link',
      );
      this.#ended();
      // No close handshake with a peer that answers nothing.
      this.#socket.terminate();
      return;
    }
    this.#missedPongs += 1;
    this.send({ type: 'ping' });
  }

  #receive(data: Buffer, isBinary: boolean): void {
    if (this.#closed) return;
    if (this.#bucket.take(this.#options.rate, this.#options.now()) !== 0) {
      this.#options.onDrop('rate_limited');
      return;
    }
    if (isBinary) {
      this.#options.onDrop('binary');
      return;
    }
    const parsed = parseLinkMessage(data);
    if (!parsed.ok) {
      this.#options.onDrop(parsed.reason);
      return;
    }
    const { message } = parsed;
    if (message.type === 'ping') {
      this.send({ type: 'pong' });
      return;
    }
    if (message.type === 'pong') {
      this.#missedPongs = 0;
      return;
    }
    this.#options.onMessage(message);
  }
}
