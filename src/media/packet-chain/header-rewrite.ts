/**
 * Per-destination SSRC and sequence rewriting (a relay destination's
 * `rewrite`); renumbered sequence numbers run on without gaps from a random
 * start (RFC 3550 §5.1), whatever the sender's numbering.
 *
 * No copy of the packet where none is needed:
 *
 * - a packet no one else reads (`packet.shared` false: the route's only
 *   destination) is rewritten in place;
 * - with `restore` (the destination protects with SRTP next, which writes a
 *   new buffer anyway), a shared packet is rewritten in place too, and the
 *   owner calls `restore()` once the chain has run (whether it passed or
 *   dropped), which puts the sender's SSRC and sequence number back before
 *   the next destination reads the bytes; all of it is synchronous, so no
 *   socket sees the bytes in between;
 * - otherwise (a shared packet sent as it is) the rewrite goes to a copy,
 *   since the socket may still be sending the original to another
 *   destination.
 */
import { setRtpSequenceNumber, setRtpSsrc } from '../../protocol/rtp/index.js';
import { PASS, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

export interface HeaderRewriteOptions {
  readonly ssrc?: number | undefined;
  /** Renumber sequence numbers from `firstSequence` (default: random). */
  readonly renumber: boolean;
  readonly firstSequence?: number;
  /** The next step writes a new buffer; the owner calls `restore()` after the chain. */
  readonly restore?: boolean;
}

export class HeaderRewrite implements Interceptor {
  readonly name = 'header-rewrite';
  readonly #ssrc: number | undefined;
  readonly #restore: boolean;
  #nextSequence: number | undefined;
  /** The buffer rewritten in place that `restore()` puts back, with its own fields. */
  #rewritten: Buffer | undefined;
  #originalSsrc = 0;
  #originalSequence = 0;

  constructor(options: HeaderRewriteOptions) {
    this.#ssrc = options.ssrc;
    this.#restore = options.restore ?? false;
    this.#nextSequence = options.renumber
      ? (options.firstSequence ?? Math.floor(Math.random() * 0x10000)) & 0xffff
      : undefined;
  }

  process(packet: MediaPacket): undefined {
    let out = packet.buffer;
    if (packet.shared) {
      if (this.#restore) {
        this.#rewritten = out;
        this.#originalSsrc = packet.ssrc;
        this.#originalSequence = packet.sequence;
      } else {
        out = Buffer.from(out);
      }
    }
    if (this.#ssrc !== undefined) {
      setRtpSsrc(out, this.#ssrc);
      packet.ssrc = this.#ssrc >>> 0;
    }
    if (this.#nextSequence !== undefined) {
      setRtpSequenceNumber(out, this.#nextSequence);
      packet.sequence = this.#nextSequence;
      this.#nextSequence = (this.#nextSequence + 1) & 0xffff;
    }
    packet.buffer = out;
    return PASS;
  }

  /** Puts back the header fields of a shared packet rewritten in place; no-op otherwise. */
  restore(): void {
    const rewritten = this.#rewritten;
    if (rewritten === undefined) return;
    this.#rewritten = undefined;
    setRtpSsrc(rewritten, this.#originalSsrc);
    setRtpSequenceNumber(rewritten, this.#originalSequence);
  }
}
