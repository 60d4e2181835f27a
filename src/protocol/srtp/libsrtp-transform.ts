/**
 * The libsrtp2 engine: the SrtpTransform of SrtpSession over the native addon
 * (native/srtp). The session still does everything libsrtp does not do our
 * way (parsing and length checks, index estimate, our replay windows, LRU of
 * SSRCs, freshIndicesOnly, key_expired): libsrtp runs the crypto and keeps
 * its own per-SSRC state in step (the addon checks that its ROC and SRTCP
 * index agree with ours, packet by packet).
 *
 * A packet returned is a view of one of four work buffers this transform
 * owns, one per operation (protect RTP, unprotect RTP, protect RTCP,
 * unprotect RTCP): the next call of the SAME operation overwrites it, a call
 * of another one does not. The relay holds an unprotected RTP packet while
 * the SRTCP that came ahead of it is unprotected and sent (media-route.ts),
 * and protects RTCP for a leg while an RTP packet is in flight: one shared
 * buffer handed it the other packet's bytes. The caller copies what it keeps
 * past the next call of the same operation.
 *
 * Where libsrtp's API cannot do what the node:crypto engine does, that packet
 * goes through the node:crypto transform (created on first need), so the
 * bytes and verdicts of both engines stay the same:
 * - SRTCP index 0. libsrtp increments its SRTCP index before sending, so its
 *   first packet carries index 1; RFC 3711 §3.4 and our engine start at 0.
 *   The first SRTCP packet of each sending SSRC (one per stream, RTCP's rate)
 *   is protected here; libsrtp then sends index 1 onward.
 * - An RTP packet to send more than `libsrtpSendWindow` indices behind the
 *   highest sent (libsrtp refuses it as replay_old even with allow_repeat_tx;
 *   ours protects it unless freshIndicesOnly).
 * - An SRTCP packet received 128 or more indices behind the highest while the
 *   session's replay window is larger: libsrtp's SRTCP replay database is a
 *   fixed 128 bits (srtp_rdb_t); ours follows the replayWindow option.
 * Each such packet is counted (nodeCryptoPackets): it costs node:crypto's
 * CPU, several times libsrtp's, and an operator sees it per route.
 */
import type { SrtpKeyingMaterial, SrtpProfile } from './keys.js';
import {
  libsrtpCode,
  libsrtpOp,
  type LibsrtpAddon,
  type LibsrtpHandle,
  type LibsrtpOp,
} from './libsrtp-addon.js';
import { insertMki, removeMki } from './mki.js';
import { createNodeTransform } from './node-transform.js';
import type { SrtpDropReason } from './result.js';
import type { SrtpTransform, SsrcStateKind } from './transform.js';

/**
 * libsrtp's replay window on the sending side (allow_repeat_tx lets it send an
 * index again inside it). 1,024 bits per sending SSRC; a packet reordered by
 * more before it reaches the sender goes through node:crypto.
 */
export const libsrtpSendWindow = 1024;
/** libsrtp's SRTCP replay database (srtp_rdb_t), fixed. */
export const libsrtpSrtcpWindow = 128;

/** libsrtp's srtp_profile_t code points (RFC 5764 §4.1.2, RFC 7714 §14.2). */
const profileCodes: Readonly<Record<SrtpProfile, number>> = {
  AES_CM_128_HMAC_SHA1_80: 1,
  AES_CM_128_HMAC_SHA1_32: 2,
  AEAD_AES_128_GCM: 7,
  AEAD_AES_256_GCM: 8,
};

/** Room libsrtp may write past the packet (SRTP_MAX_TRAILER_LEN, the SRTCP word) and an MKI. */
const headroom = 144 + 4 + 128;
const initialWorkBytes = 2048;

export class LibsrtpTransform implements SrtpTransform {
  readonly handlesMki = true;
  readonly rtpOverhead: number;
  readonly rtcpOverhead: number;
  readonly rtpBytesAfterMki: number;
  readonly rtcpBytesAfterMki: number;
  failure: SrtpDropReason = 'auth_failed';
  readonly #addon: LibsrtpAddon;
  readonly #handle: LibsrtpHandle;
  readonly #keys: SrtpKeyingMaterial;
  readonly #mki: Buffer | undefined;
  readonly #srtcpWindow: number;
  /** One work buffer per operation, indexed by libsrtpOp: see the header. */
  readonly #work: [Buffer, Buffer, Buffer, Buffer] = [
    Buffer.allocUnsafeSlow(initialWorkBytes),
    Buffer.allocUnsafeSlow(initialWorkBytes),
    Buffer.allocUnsafeSlow(initialWorkBytes),
    Buffer.allocUnsafeSlow(initialWorkBytes),
  ];
  /**
   * The last view returned per operation: a stream's packets are mostly of
   * one size (audio frames, full-MTU video), and the same view is returned
   * again for the same length instead of a new one per packet.
   */
  readonly #views: [
    Buffer | undefined,
    Buffer | undefined,
    Buffer | undefined,
    Buffer | undefined,
  ] = [undefined, undefined, undefined, undefined];
  #fallback: SrtpTransform | undefined;
  #nodeCryptoPackets = 0;

  /** `replayWindow`: the session's (checked); `mki`: a copy the session keeps unchanged. */
  constructor(
    addon: LibsrtpAddon,
    keys: SrtpKeyingMaterial,
    replayWindow: number,
    mki: Buffer | undefined,
  ) {
    this.#addon = addon;
    this.#keys = keys;
    this.#mki = mki;
    this.#srtcpWindow = replayWindow;
    const keyAndSalt = Buffer.concat([keys.masterKey, keys.masterSalt]);
    this.#handle = addon.create(
      profileCodes[keys.profile],
      keyAndSalt,
      replayWindow,
      libsrtpSendWindow,
      mki,
    );
    keyAndSalt.fill(0);
    const gcm = keys.profile === 'AEAD_AES_128_GCM' || keys.profile === 'AEAD_AES_256_GCM';
    const rtpTag = keys.profile === 'AES_CM_128_HMAC_SHA1_32' ? 4 : 10;
    this.rtpOverhead = gcm ? 16 : rtpTag;
    this.rtcpOverhead = gcm ? 20 : 14;
    this.rtpBytesAfterMki = gcm ? 0 : rtpTag;
    this.rtcpBytesAfterMki = gcm ? 0 : 10;
  }

  get nodeCryptoPackets(): number {
    return this.#nodeCryptoPackets;
  }

  srtcpIndexOffset(length: number): number {
    return this.rtcpBytesAfterMki === 0 ? length - 4 : length - this.rtcpBytesAfterMki - 4;
  }

  protectRtp(
    plain: Buffer,
    headerLength: number,
    ssrc: number,
    roc: number,
    seq: number,
    streamRoc: number,
  ): Buffer | undefined {
    const length = this.#run(libsrtpOp.protectRtp, plain, streamRoc);
    if (length >= 0) return this.#view(libsrtpOp.protectRtp, length);
    if (length === libsrtpCode.replayOld) {
      // Older than libsrtp's send window (libsrtp changed nothing): see the header.
      const packet = this.#node().protectRtp(plain, headerLength, ssrc, roc, seq, streamRoc);
      return packet === undefined ? undefined : this.#withMki(packet, this.rtpBytesAfterMki);
    }
    return this.#result(libsrtpOp.protectRtp, length, true);
  }

  unprotectRtp(
    received: Buffer,
    _headerLength: number,
    _ssrc: number,
    _roc: number,
    _seq: number,
    streamRoc: number,
  ): Buffer | undefined {
    const length = this.#run(libsrtpOp.unprotectRtp, received, streamRoc);
    return this.#result(libsrtpOp.unprotectRtp, length, false);
  }

  protectRtcp(plain: Buffer, ssrc: number, index: number, encrypt: boolean): Buffer | undefined {
    if (index === 0 || !encrypt) {
      // libsrtp starts at index 1 and always encrypts: see the header.
      const packet = this.#node().protectRtcp(plain, ssrc, index, encrypt);
      return packet === undefined ? undefined : this.#withMki(packet, this.rtcpBytesAfterMki);
    }
    const length = this.#run(libsrtpOp.protectRtcp, plain, index);
    return this.#result(libsrtpOp.protectRtcp, length, true);
  }

  unprotectRtcp(
    received: Buffer,
    ssrc: number,
    index: number,
    encrypted: boolean,
  ): Buffer | undefined {
    const length = this.#run(libsrtpOp.unprotectRtcp, received, 0);
    if (length >= 0) return this.#view(libsrtpOp.unprotectRtcp, length);
    if (length === libsrtpCode.replayOld && this.#srtcpWindow > libsrtpSrtcpWindow) {
      // Inside our window, below libsrtp's fixed one (libsrtp changed nothing): see the header.
      const packet =
        this.#mki === undefined
          ? received
          : removeMki(received, this.#mki.length, this.rtcpBytesAfterMki);
      const plain = this.#node().unprotectRtcp(packet, ssrc, index, encrypted);
      if (plain === undefined) this.failure = 'auth_failed';
      return plain;
    }
    return this.#result(libsrtpOp.unprotectRtcp, length, false);
  }

  forget(kind: SsrcStateKind, ssrc: number): void {
    this.#addon.removeStream(this.#handle, kind, ssrc);
  }

  #run(op: LibsrtpOp, input: Buffer, expected: number): number {
    let work = this.#work[op];
    if (input.length + headroom > work.length) {
      // Once per larger packet size, never past a UDP datagram and the headroom.
      // The old buffer is left to the views still held on it.
      work = Buffer.allocUnsafeSlow(Math.max(input.length + headroom, work.length * 2));
      this.#work[op] = work;
      this.#views[op] = undefined;
    }
    return this.#handle(op, input, work, expected);
  }

  #view(op: LibsrtpOp, length: number): Buffer {
    const last = this.#views[op];
    if (last?.length === length) return last;
    const view = this.#work[op].subarray(0, length);
    this.#views[op] = view;
    return view;
  }

  /** The packet in op's work buffer, or undefined with the reason in `failure`. */
  #result(op: LibsrtpOp, length: number, protecting: boolean): Buffer | undefined {
    if (length >= 0) return this.#view(op, length);
    this.failure = dropReason(length, protecting);
    return undefined;
  }

  /** The node:crypto transform, for one packet (counted). */
  #node(): SrtpTransform {
    this.#nodeCryptoPackets += 1;
    this.#fallback ??= createNodeTransform(this.#keys);
    return this.#fallback;
  }

  #withMki(packet: Buffer, bytesAfterMki: number): Buffer {
    return this.#mki === undefined ? packet : insertMki(packet, this.#mki, bytesAfterMki);
  }
}

/**
 * The drop reason of a negative transform() result. A failure of the engine
 * itself (no memory, the crypto backend, an index that disagrees with ours)
 * is key_expired when protecting (the key cannot be used) and auth_failed
 * when unprotecting (the packet cannot be authenticated): see result.ts.
 */
export function dropReason(code: number, protecting: boolean): SrtpDropReason {
  switch (code) {
    case libsrtpCode.authFail:
    case libsrtpCode.badMki:
    case libsrtpCode.mkiMismatch:
      return 'auth_failed';
    case libsrtpCode.replayFail:
      return 'replay';
    case libsrtpCode.replayOld:
      return 'replay_too_old';
    case libsrtpCode.keyExpired:
      return 'key_expired';
    case libsrtpCode.tooShort:
    case libsrtpCode.badParam:
      return 'too_short';
    case libsrtpCode.badHeader:
    case libsrtpCode.parseErr:
      return 'bad_header';
    default:
      return protecting ? 'key_expired' : 'auth_failed';
  }
}
