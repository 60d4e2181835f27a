/**
 * Symmetric RTP (RFC 4961 style "latching"): a route takes media from one
 * sender at a time, the first that sends a valid packet, and sends its RTCP
 * back to that address. Two interceptors share the state:
 *
 *   gate     first in the chain: the locked address only (when configured),
 *            and only the latched sender, unless it has been silent for
 *            `relatchAfterMs` ('source_not_allowed', 'unlatched_source');
 *   confirm  after the packet proved valid (SRTP, RTP check, stream
 *            admitted): latch this sender, or refresh it.
 *
 * So garbage from a stranger can neither latch nor unlatch a route.
 *
 * `isOpenTo` tells the route's RTCP side whether a source could still latch
 * the route: a sender's first RTCP may arrive before its first RTP packet
 * (ffmpeg sends an SR just ahead of it), when nobody is latched yet.
 */
import { PASS, type DropReason, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

export const SOURCE_NOT_ALLOWED = 'source_not_allowed';
export const UNLATCHED_SOURCE = 'unlatched_source';

export interface LatchedSender {
  readonly address: string;
  readonly port: number;
  lastSeenMs: number;
}

export interface SymmetricLatchOptions {
  /** Only this address may send (latch.address of a route). */
  readonly lockedAddress?: string | undefined;
  /** A latched sender silent this long may be replaced by a new one. */
  readonly relatchAfterMs: number;
}

export class SymmetricLatch {
  readonly gate: Interceptor;
  readonly confirm: Interceptor;
  readonly #lockedAddress: string | undefined;
  readonly #relatchAfterMs: number;
  #sender: LatchedSender | undefined;

  constructor(options: SymmetricLatchOptions) {
    this.#lockedAddress = options.lockedAddress;
    this.#relatchAfterMs = options.relatchAfterMs;
    this.gate = {
      name: 'latch-gate',
      process: (packet: MediaPacket): DropReason | undefined => {
        if (!this.#allows(packet.sourceAddress)) return SOURCE_NOT_ALLOWED;
        const sender = this.#sender;
        if (sender !== undefined && this.#isSender(sender, packet)) return PASS;
        return this.isOpen(packet.arrivalMs) ? PASS : UNLATCHED_SOURCE;
      },
    };
    this.confirm = {
      name: 'latch-confirm',
      process: (packet: MediaPacket): DropReason | undefined => {
        const sender = this.#sender;
        if (sender !== undefined && this.#isSender(sender, packet)) {
          sender.lastSeenMs = packet.arrivalMs;
        } else {
          this.#sender = {
            address: packet.sourceAddress,
            port: packet.sourcePort,
            lastSeenMs: packet.arrivalMs,
          };
        }
        return PASS;
      },
    };
  }

  /** The latched sender, if any: where RTCP for it goes. */
  get sender(): LatchedSender | undefined {
    return this.#sender;
  }

  /**
   * No sender holds the route at `nowMs`: none has latched yet, or the
   * latched one has been silent past `relatchAfterMs`.
   */
  isOpen(nowMs: number): boolean {
    const sender = this.#sender;
    return sender === undefined || nowMs - sender.lastSeenMs > this.#relatchAfterMs;
  }

  /** Whether a valid packet from `address` arriving at `nowMs` could latch the route. */
  isOpenTo(address: string, nowMs: number): boolean {
    return this.#allows(address) && this.isOpen(nowMs);
  }

  #allows(address: string): boolean {
    return this.#lockedAddress === undefined || address === this.#lockedAddress;
  }

  #isSender(sender: LatchedSender, packet: MediaPacket): boolean {
    return sender.address === packet.sourceAddress && sender.port === packet.sourcePort;
  }
}
