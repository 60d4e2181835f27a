/**
 * Per-destination SSRC and sequence rewriting (a relay destination's
 * `rewrite`): the packet is copied first, since the same bytes go to every
 * destination; renumbered sequence numbers run on without gaps from a
 * random start (RFC 3550 §5.1), whatever the sender's numbering.
 */
import { setRtpSequenceNumber, setRtpSsrc } from '../../protocol/rtp/index.js';
import { PASS, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

export interface HeaderRewriteOptions {
  readonly ssrc?: number | undefined;
  /** Renumber sequence numbers from `firstSequence` (default: random). */
  readonly renumber: boolean;
  readonly firstSequence?: number;
}

export class HeaderRewrite implements Interceptor {
  readonly name = 'header-rewrite';
  readonly #ssrc: number | undefined;
  #nextSequence: number | undefined;

  constructor(options: HeaderRewriteOptions) {
    this.#ssrc = options.ssrc;
    this.#nextSequence = options.renumber
      ? (options.firstSequence ?? Math.floor(Math.random() * 0x10000)) & 0xffff
      : undefined;
  }

  process(packet: MediaPacket): undefined {
    const out = Buffer.from(packet.buffer);
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
}
