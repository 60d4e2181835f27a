/**
 * Takes packets only from one address, named by the owner at each packet
 * (the latched sender's, for its RTCP; a destination's host, for its
 * feedback): anything else, or anything while there is no such address, is
 * dropped as 'unlatched_source'. Ports are not compared: RTCP may come from
 * the port next to the RTP one (RFC 3550), or from any other socket of the
 * sender. RTCP that a sender sends before its first RTP packet, while no
 * address is named yet, is the owner's to hold back until there is one (the
 * relay's early-sender-rtcp.ts): here it would be a stranger's.
 */
import { PASS, type DropReason, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';
import { UNLATCHED_SOURCE } from './symmetric-latch.js';

export class SourceAddress implements Interceptor {
  readonly name = 'source-address';
  readonly #expected: () => string | undefined;

  constructor(expected: () => string | undefined) {
    this.#expected = expected;
  }

  process(packet: MediaPacket): DropReason | undefined {
    const expected = this.#expected();
    return expected !== undefined && packet.sourceAddress === expected ? PASS : UNLATCHED_SOURCE;
  }
}
