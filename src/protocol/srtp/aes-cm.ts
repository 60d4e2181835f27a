/**
 * AES_CM_128_HMAC_SHA1_80 and AES_CM_128_HMAC_SHA1_32: AES in counter mode
 * (RFC 3711 §4.1.1) with HMAC-SHA1 (§4.2.1), composed from node:crypto.
 *
 * SRTP:   header || AES-CM(payload) || tag(header || ciphertext || ROC)
 * SRTCP:  header(8) || AES-CM(rest) || E|index || tag(all before the tag)
 *
 * The SRTCP tag is 80 bits under both profiles: the 32-bit tag of
 * AES_CM_128_HMAC_SHA1_32 is for SRTP only (RFC 4568 §6.2.2; RFC 5764 §4.1.2
 * gives it an RTCP_auth_tag_length of 80), and libsrtp does the same, which
 * test/integration/protocol/srtp/libsrtp.test.ts checks byte for byte.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { CtrKeystream } from './ctr-keystream.js';
import type { CmSessionKeys } from './key-derivation.js';
import { rtcpClearHeaderLength } from './rtp-header.js';
import { srtcpEncryptedFlag, type SrtpTransform } from './transform.js';

export const srtcpCmTagLength = 10;

/** The 112-bit session salt as the four big-endian words of salt * 2^16. */
type SaltWords = readonly [number, number, number, number];

function saltWords(salt: Buffer): SaltWords {
  return [
    salt.readUInt32BE(0),
    salt.readUInt32BE(4),
    salt.readUInt32BE(8),
    salt.readUInt16BE(12) * 0x10000,
  ];
}

export class AesCmHmacTransform implements SrtpTransform {
  readonly rtpOverhead: number;
  readonly rtcpOverhead = 4 + srtcpCmTagLength;
  readonly rtpBytesAfterMki: number;
  readonly rtcpBytesAfterMki = srtcpCmTagLength;
  readonly #rtpKeystream: CtrKeystream;
  readonly #rtcpKeystream: CtrKeystream;
  readonly #rtp: CmSessionKeys;
  readonly #rtcp: CmSessionKeys;
  readonly #rtpSalt: SaltWords;
  readonly #rtcpSalt: SaltWords;
  readonly #tagLength: number;
  // Scratch, reused per packet: node:crypto copies IVs and hashed data synchronously.
  readonly #iv = Buffer.alloc(16);
  readonly #roc = Buffer.alloc(4);

  /** `tagLength`: 10 bytes for _80, 4 for _32 (RFC 3711 §4.2.1, RFC 5764 §4.1.2). */
  constructor(
    keys: { readonly rtp: CmSessionKeys; readonly rtcp: CmSessionKeys },
    tagLength: number,
  ) {
    this.#rtp = keys.rtp;
    this.#rtcp = keys.rtcp;
    this.#rtpSalt = saltWords(keys.rtp.salt);
    this.#rtcpSalt = saltWords(keys.rtcp.salt);
    this.#tagLength = tagLength;
    this.rtpOverhead = tagLength;
    this.rtpBytesAfterMki = tagLength;
    this.#rtpKeystream = new CtrKeystream(keys.rtp.encryptionKey);
    this.#rtcpKeystream = new CtrKeystream(keys.rtcp.encryptionKey);
  }

  srtcpIndexOffset(length: number): number {
    return length - srtcpCmTagLength - 4;
  }

  protectRtp(plain: Buffer, headerLength: number, ssrc: number, roc: number, seq: number): Buffer {
    const length = plain.length;
    const out = Buffer.allocUnsafe(length + this.#tagLength);
    plain.copy(out, 0, 0, headerLength);
    this.#setIv(this.#rtpSalt, ssrc, roc, seq);
    this.#rtpKeystream.xor(this.#iv, plain.subarray(headerLength), out, headerLength);
    this.#rtpTag(out, length, roc).copy(out, length, 0, this.#tagLength);
    return out;
  }

  unprotectRtp(
    packet: Buffer,
    headerLength: number,
    ssrc: number,
    roc: number,
    seq: number,
  ): Buffer | undefined {
    const end = packet.length - this.#tagLength;
    const expected = this.#rtpTag(packet, end, roc);
    if (!timingSafeEqual(expected.subarray(0, this.#tagLength), packet.subarray(end))) {
      return undefined;
    }
    const out = Buffer.allocUnsafe(end);
    packet.copy(out, 0, 0, headerLength);
    this.#setIv(this.#rtpSalt, ssrc, roc, seq);
    this.#rtpKeystream.xor(this.#iv, packet.subarray(headerLength, end), out, headerLength);
    return out;
  }

  protectRtcp(plain: Buffer, ssrc: number, index: number, encrypt: boolean): Buffer {
    const length = plain.length;
    const out = Buffer.allocUnsafe(length + this.rtcpOverhead);
    if (encrypt) {
      plain.copy(out, 0, 0, rtcpClearHeaderLength);
      // RFC 3711 §4.1.1: SRTCP uses the 31-bit SRTCP index in place of the packet index.
      this.#setIv(this.#rtcpSalt, ssrc, index >>> 16, index & 0xffff);
      const body = plain.subarray(rtcpClearHeaderLength);
      this.#rtcpKeystream.xor(this.#iv, body, out, rtcpClearHeaderLength);
    } else {
      plain.copy(out, 0, 0, length);
    }
    out.writeUInt32BE((encrypt ? srtcpEncryptedFlag : 0) + index, length);
    // RFC 3711 §3.4: the authenticated portion runs through the E|index word.
    createHmac('sha1', this.#rtcp.authenticationKey)
      .update(out.subarray(0, length + 4))
      .digest()
      .copy(out, length + 4, 0, srtcpCmTagLength);
    return out;
  }

  unprotectRtcp(
    packet: Buffer,
    ssrc: number,
    index: number,
    encrypted: boolean,
  ): Buffer | undefined {
    const tagStart = packet.length - srtcpCmTagLength;
    const end = tagStart - 4;
    const expected = createHmac('sha1', this.#rtcp.authenticationKey)
      .update(packet.subarray(0, tagStart))
      .digest();
    if (!timingSafeEqual(expected.subarray(0, srtcpCmTagLength), packet.subarray(tagStart))) {
      return undefined;
    }
    const out = Buffer.allocUnsafe(end);
    if (encrypted) {
      packet.copy(out, 0, 0, rtcpClearHeaderLength);
      this.#setIv(this.#rtcpSalt, ssrc, index >>> 16, index & 0xffff);
      const body = packet.subarray(rtcpClearHeaderLength, end);
      this.#rtcpKeystream.xor(this.#iv, body, out, rtcpClearHeaderLength);
    } else {
      packet.copy(out, 0, 0, end);
    }
    return out;
  }

  /**
   * RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), where the
   * 48-bit index i is `high` (ROC, 32 bits) then `low` (SEQ, 16 bits).
   */
  #setIv(salt: SaltWords, ssrc: number, high: number, low: number): void {
    const iv = this.#iv;
    iv.writeUInt32BE(salt[0], 0);
    iv.writeUInt32BE((salt[1] ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((salt[2] ^ high) >>> 0, 8);
    iv.writeUInt32BE((salt[3] ^ (low << 16)) >>> 0, 12);
  }

  /** RFC 3711 §4.2: HMAC-SHA1 over the authenticated portion, then the ROC. */
  #rtpTag(packet: Buffer, end: number, roc: number): Buffer {
    this.#roc.writeUInt32BE(roc, 0);
    return createHmac('sha1', this.#rtp.authenticationKey)
      .update(packet.subarray(0, end))
      .update(this.#roc)
      .digest();
  }
}
