/**
 * AEAD_AES_128_GCM and AEAD_AES_256_GCM (RFC 7714), composed from node:crypto's
 * AES-GCM with a 16-byte tag (RFC 7714 §12).
 *
 * SRTP  (§8):  header || AES-GCM(payload) || tag;      AAD = header incl. CSRCs and extension
 * SRTCP (§9):  header(8) || AES-GCM(rest) || tag || E|index;  AAD = header(8) || E|index
 *              (E=0, §9.3: the whole RTCP packet is AAD and nothing is encrypted)
 */
import {
  createCipheriv,
  createDecipheriv,
  type CipherGCM,
  type CipherGCMTypes,
  type DecipherGCM,
} from 'node:crypto';
import type { GcmSessionKeys } from './key-derivation.js';
import { rtcpClearHeaderLength } from './rtp-header.js';
import { srtcpEncryptedFlag, type SrtpTransform } from './transform.js';

export const gcmTagLength = 16;

export class AeadGcmTransform implements SrtpTransform {
  readonly rtpOverhead = gcmTagLength;
  readonly rtcpOverhead = gcmTagLength + 4;
  readonly rtpBytesAfterMki = 0;
  readonly rtcpBytesAfterMki = 0;
  readonly #algorithm: CipherGCMTypes;
  readonly #rtpKey: Buffer;
  readonly #rtcpKey: Buffer;
  readonly #rtpSalt: Buffer;
  readonly #rtcpSalt: Buffer;
  // Scratch, reused per packet: node:crypto copies IVs and AAD synchronously.
  readonly #iv = Buffer.alloc(12);
  readonly #aad = Buffer.alloc(rtcpClearHeaderLength + 4);
  readonly #indexWord = Buffer.alloc(4);

  constructor(keys: { readonly rtp: GcmSessionKeys; readonly rtcp: GcmSessionKeys }) {
    this.#rtpKey = keys.rtp.encryptionKey;
    this.#rtcpKey = keys.rtcp.encryptionKey;
    this.#rtpSalt = keys.rtp.salt;
    this.#rtcpSalt = keys.rtcp.salt;
    this.#algorithm = keys.rtp.encryptionKey.length === 32 ? 'aes-256-gcm' : 'aes-128-gcm';
  }

  srtcpIndexOffset(length: number): number {
    return length - 4;
  }

  protectRtp(plain: Buffer, headerLength: number, ssrc: number, roc: number, seq: number): Buffer {
    const length = plain.length;
    const out = Buffer.allocUnsafe(length + gcmTagLength);
    plain.copy(out, 0, 0, headerLength);
    const cipher = this.#cipher(this.#rtpKey, this.#setRtpIv(ssrc, roc, seq));
    cipher.setAAD(plain.subarray(0, headerLength));
    cipher.update(plain.subarray(headerLength)).copy(out, headerLength);
    cipher.final();
    cipher.getAuthTag().copy(out, length);
    return out;
  }

  unprotectRtp(
    packet: Buffer,
    headerLength: number,
    ssrc: number,
    roc: number,
    seq: number,
  ): Buffer | undefined {
    const end = packet.length - gcmTagLength;
    const decipher = this.#decipher(this.#rtpKey, this.#setRtpIv(ssrc, roc, seq));
    decipher.setAuthTag(packet.subarray(end));
    decipher.setAAD(packet.subarray(0, headerLength));
    const payload = decipher.update(packet.subarray(headerLength, end));
    if (!verified(decipher)) return undefined;
    const out = Buffer.allocUnsafe(end);
    packet.copy(out, 0, 0, headerLength);
    payload.copy(out, headerLength);
    return out;
  }

  protectRtcp(plain: Buffer, ssrc: number, index: number, encrypt: boolean): Buffer {
    const length = plain.length;
    const out = Buffer.allocUnsafe(length + this.rtcpOverhead);
    const word = (encrypt ? srtcpEncryptedFlag : 0) + index;
    const cipher = this.#cipher(this.#rtcpKey, this.#setRtcpIv(ssrc, index));
    if (encrypt) {
      plain.copy(this.#aad, 0, 0, rtcpClearHeaderLength);
      this.#aad.writeUInt32BE(word, rtcpClearHeaderLength);
      cipher.setAAD(this.#aad);
      plain.copy(out, 0, 0, rtcpClearHeaderLength);
      cipher.update(plain.subarray(rtcpClearHeaderLength)).copy(out, rtcpClearHeaderLength);
    } else {
      this.#indexWord.writeUInt32BE(word, 0);
      cipher.setAAD(plain);
      cipher.setAAD(this.#indexWord);
      plain.copy(out, 0, 0, length);
    }
    cipher.final();
    cipher.getAuthTag().copy(out, length);
    out.writeUInt32BE(word, length + gcmTagLength);
    return out;
  }

  unprotectRtcp(
    packet: Buffer,
    ssrc: number,
    index: number,
    encrypted: boolean,
  ): Buffer | undefined {
    const wordOffset = packet.length - 4;
    const end = wordOffset - gcmTagLength;
    const decipher = this.#decipher(this.#rtcpKey, this.#setRtcpIv(ssrc, index));
    decipher.setAuthTag(packet.subarray(end, wordOffset));
    if (encrypted) {
      packet.copy(this.#aad, 0, 0, rtcpClearHeaderLength);
      packet.copy(this.#aad, rtcpClearHeaderLength, wordOffset);
      decipher.setAAD(this.#aad);
      const body = decipher.update(packet.subarray(rtcpClearHeaderLength, end));
      if (!verified(decipher)) return undefined;
      const out = Buffer.allocUnsafe(end);
      packet.copy(out, 0, 0, rtcpClearHeaderLength);
      body.copy(out, rtcpClearHeaderLength);
      return out;
    }
    decipher.setAAD(packet.subarray(0, end));
    decipher.setAAD(packet.subarray(wordOffset));
    if (!verified(decipher)) return undefined;
    return Buffer.from(packet.subarray(0, end));
  }

  #cipher(key: Buffer, iv: Buffer): CipherGCM {
    return createCipheriv(this.#algorithm, key, iv, { authTagLength: gcmTagLength });
  }

  #decipher(key: Buffer, iv: Buffer): DecipherGCM {
    return createDecipheriv(this.#algorithm, key, iv, { authTagLength: gcmTagLength });
  }

  /** RFC 7714 §8.1: IV = salt XOR (00 00 || SSRC || ROC || SEQ). */
  #setRtpIv(ssrc: number, roc: number, seq: number): Buffer {
    const iv = this.#iv;
    const salt = this.#rtpSalt;
    iv.writeUInt16BE(salt.readUInt16BE(0), 0);
    iv.writeUInt32BE((salt.readUInt32BE(2) ^ ssrc) >>> 0, 2);
    iv.writeUInt32BE((salt.readUInt32BE(6) ^ roc) >>> 0, 6);
    iv.writeUInt16BE(salt.readUInt16BE(10) ^ seq, 10);
    return iv;
  }

  /** RFC 7714 §9.1: IV = salt XOR (00 00 || SSRC || 00 00 || 0 || SRTCP index). */
  #setRtcpIv(ssrc: number, index: number): Buffer {
    const iv = this.#iv;
    const salt = this.#rtcpSalt;
    iv.writeUInt16BE(salt.readUInt16BE(0), 0);
    iv.writeUInt32BE((salt.readUInt32BE(2) ^ ssrc) >>> 0, 2);
    iv.writeUInt16BE(salt.readUInt16BE(6), 6);
    iv.writeUInt32BE((salt.readUInt32BE(8) ^ index) >>> 0, 8);
    return iv;
  }
}

/** Decipher.final() is where GCM checks the tag; it throws on a mismatch, which is a drop here. */
function verified(decipher: DecipherGCM): boolean {
  try {
    decipher.final();
    return true;
  } catch {
    return false;
  }
}
