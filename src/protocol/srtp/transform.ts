/**
 * What SrtpSession needs from a cipher suite: packet index in, protected packet
 * out. The session owns parsing, rollover counters and replay state; a
 * transform owns the session keys and the RFC's byte layout. Transforms never
 * mutate their input: the relay fans one plain packet out to many legs.
 *
 * Two engines implement it: node:crypto (aes-cm.ts, aead-gcm.ts: every
 * packet returned is a new Buffer) and libsrtp2 (libsrtp-transform.ts: the
 * packet returned is a view of a buffer the transform reuses on the next call
 * of the same method; each method has its own).
 */
import type { SrtpDropReason } from './result.js';

/** The four kinds of per-SSRC state a session keeps apart (the native addon's kind numbers). */
export const ssrcStateKind = { rtpSend: 0, rtpReceive: 1, rtcpSend: 2, rtcpReceive: 3 } as const;
export type SsrcStateKind = (typeof ssrcStateKind)[keyof typeof ssrcStateKind];

export interface SrtpTransform {
  /** Bytes SRTP appends to an RTP packet (the authentication tag). */
  readonly rtpOverhead: number;
  /** Bytes SRTCP appends to an RTCP packet (E flag and SRTCP index, and the tag). */
  readonly rtcpOverhead: number;
  /**
   * Bytes that follow an MKI in a protected SRTP / SRTCP packet: the AES-CM
   * authentication tag comes after the MKI (RFC 3711 §3.1, §3.4), while GCM's
   * tag is part of the ciphertext before it (RFC 7714 §8.1, §9.1), so 0.
   */
  readonly rtpBytesAfterMki: number;
  readonly rtcpBytesAfterMki: number;
  /** Where the 32-bit E|SRTCP index word sits in a protected packet of `length` bytes (no MKI). */
  srtcpIndexOffset(length: number): number;
  /**
   * True when the transform puts the MKI in and takes it out itself (libsrtp:
   * in its own buffer, no copy): the session then hands it received packets
   * with their MKI (checked already) and takes protected ones as they are.
   */
  readonly handlesMki?: boolean;
  /** Why the last call that returned undefined failed; auth_failed when absent. */
  readonly failure?: SrtpDropReason;
  /**
   * The libsrtp engine: packets it handed to node:crypto, where libsrtp's
   * API cannot do what RFC 3711 says (libsrtp-transform.ts). Absent: none.
   */
  readonly nodeCryptoPackets?: number;
  /** The session forgot one SSRC's state of one kind (its table evicted it). */
  forget?(kind: SsrcStateKind, ssrc: number): void;
  /**
   * `headerLength` has been checked against `plain.length`; `roc` and `seq` are
   * the two halves of the 48-bit packet index (RFC 3711 §3.3.1). `streamRoc`
   * is the ROC of the SSRC's highest index once this packet counts (the
   * libsrtp engine checks libsrtp's own against it).
   */
  protectRtp(
    plain: Buffer,
    headerLength: number,
    ssrc: number,
    roc: number,
    seq: number,
    streamRoc: number,
  ): Buffer | undefined;
  /** The plain packet, or undefined when authentication (or, see `failure`, the engine) fails. */
  unprotectRtp(
    packet: Buffer,
    headerLength: number,
    ssrc: number,
    roc: number,
    seq: number,
    streamRoc: number,
  ): Buffer | undefined;
  /** `index` is the 31-bit SRTCP index; `encrypt` false sends an authenticated-only packet (E=0). */
  protectRtcp(plain: Buffer, ssrc: number, index: number, encrypt: boolean): Buffer | undefined;
  /** The plain packet, or undefined when authentication fails. */
  unprotectRtcp(
    packet: Buffer,
    ssrc: number,
    index: number,
    encrypted: boolean,
  ): Buffer | undefined;
}

/** RFC 3711 §3.4: the E flag, the top bit of the word that carries the SRTCP index. */
export const srtcpEncryptedFlag = 0x8000_0000;
export const srtcpIndexMask = 0x7fff_ffff;
