/**
 * SRTP/SRTCP protect (RFC 3711) with one leg's send session, last before the
 * socket. A packet that cannot be protected (the key is used up) is dropped
 * as 'protect_failed', never sent in clear. The packet continues as the
 * session's output, which may be a view it reuses on its next call
 * (SrtpContext): the send step copies it into its slab at once.
 */
import type { SrtpContext } from '../../protocol/srtp/index.js';
import { PASS, type DropReason, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';
import type { SrtpPacketKind } from './srtp-unprotect.js';

export const PROTECT_FAILED = 'protect_failed';

export class SrtpProtect implements Interceptor {
  readonly name: string;
  readonly #session: SrtpContext;
  readonly #rtcp: boolean;

  constructor(session: SrtpContext, kind: SrtpPacketKind = 'rtp') {
    this.name = kind === 'rtp' ? 'srtp-protect' : 'srtcp-protect';
    this.#session = session;
    this.#rtcp = kind === 'rtcp';
  }

  process(packet: MediaPacket): DropReason | undefined {
    const result = this.#rtcp
      ? this.#session.protectRtcp(packet.buffer)
      : this.#session.protectRtp(packet.buffer);
    if (!result.ok) return PROTECT_FAILED;
    packet.buffer = result.packet;
    return PASS;
  }
}
