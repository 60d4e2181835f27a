/**
 * What the packet path holds for one SRTP key: protect and unprotect RTP and
 * RTCP. SrtpSession implements it over either engine (srtp-engine.ts):
 * node:crypto, or libsrtp2 through the native addon. Both give the same bytes
 * and the same drop reasons for the same input (test/unit/protocol/srtp).
 */
import type { SrtpProfile } from './keys.js';
import type { SrtpResult } from './result.js';

export type SrtpEngineName = 'libsrtp' | 'node';
export type SrtpEngineChoice = 'auto' | SrtpEngineName;

export interface SrtpContext {
  readonly profile: SrtpProfile;
  /** Which engine runs the crypto. */
  readonly engine: SrtpEngineName;
  /** The MKI this session sends and expects, or undefined. A copy. */
  readonly mki: Buffer | undefined;
  /** Whether a protected packet carries this session's MKI: no crypto. False without an MKI. */
  carriesMki(protectedPacket: Buffer, kind: 'rtp' | 'rtcp'): boolean;
  /**
   * Each of the four never modifies its input and never throws on packet
   * data: a packet that cannot pass is a drop with its reason.
   *
   * The packet of an ok result may be a VIEW OF A BUFFER THE SESSION REUSES
   * (the libsrtp engine protects in place in buffers it owns, so that no
   * packet allocates one). The session keeps one such buffer per method: the
   * packet stays valid until the next call of THE SAME METHOD on this session
   * (which may overwrite it even when it drops its packet), and calls of the
   * other three leave it intact. So an unprotected RTP packet survives the unprotectRtcp of
   * SRTCP that is relayed ahead of it, and protectRtcp of a report sent while
   * an RTP packet is in flight. A caller that keeps the packet past the next
   * call of the same method (queues it, sends it asynchronously, holds it
   * for later) copies it first. Input may be such a view (of this or another
   * session, of any method's buffer).
   */
  protectRtp(plain: Buffer): SrtpResult;
  unprotectRtp(received: Buffer): SrtpResult;
  protectRtcp(plain: Buffer): SrtpResult;
  unprotectRtcp(received: Buffer): SrtpResult;
}
