/**
 * SRTP/SRTCP unprotect (RFC 3711) with one leg's receive session: the packet
 * continues decrypted and authenticated, or is dropped as
 * 'srtp_<reason>' / 'srtcp_<reason>' (auth_failed, replay, ...). The
 * decrypted packet may be a view the session reuses on its next call
 * (SrtpContext): the chain uses it before the next datagram is unprotected.
 */
import type { SrtpContext, SrtpDropReason } from '../../protocol/srtp/index.js';
import { PASS, type DropReason, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

export type SrtpPacketKind = 'rtp' | 'rtcp';

/** 'srtp_replay' etc., built once: dropping allocates no string. */
export function srtpDropReasons(kind: SrtpPacketKind): Readonly<Record<SrtpDropReason, string>> {
  const prefix = kind === 'rtp' ? 'srtp_' : 'srtcp_';
  return {
    too_short: `${prefix}too_short`,
    bad_header: `${prefix}bad_header`,
    auth_failed: `${prefix}auth_failed`,
    replay: `${prefix}replay`,
    replay_too_old: `${prefix}replay_too_old`,
    key_expired: `${prefix}key_expired`,
    index_reused: `${prefix}index_reused`,
  };
}

export class SrtpUnprotect implements Interceptor {
  readonly name: string;
  readonly #session: SrtpContext;
  readonly #rtcp: boolean;
  readonly #reasons: Readonly<Record<SrtpDropReason, string>>;

  constructor(session: SrtpContext, kind: SrtpPacketKind = 'rtp') {
    this.name = kind === 'rtp' ? 'srtp-unprotect' : 'srtcp-unprotect';
    this.#session = session;
    this.#rtcp = kind === 'rtcp';
    this.#reasons = srtpDropReasons(kind);
  }

  process(packet: MediaPacket): DropReason | undefined {
    const result = this.#rtcp
      ? this.#session.unprotectRtcp(packet.buffer)
      : this.#session.unprotectRtp(packet.buffer);
    if (!result.ok) return this.#reasons[result.reason];
    packet.buffer = result.packet;
    return PASS;
  }
}
