/**
 * Session keys from master keys: RFC 3711 §4.3 with the AES-CM PRF (§4.3.3)
 * and key_derivation_rate 0, so each session key is derived once per session
 * and cached by the transforms. RFC 7714 §11 keeps this KDF for AEAD_AES_*_GCM,
 * with AES of the master key's size (AES-256 for AEAD_AES_256_GCM, as RFC 6188
 * does for AES-256-CM).
 */
import { createCipheriv } from 'node:crypto';

/** RFC 3711 §4.3.1 and §4.3.2: the <label> of each session key. */
export const kdfLabel = {
  rtpEncryption: 0x00,
  rtpAuthentication: 0x01,
  rtpSalt: 0x02,
  rtcpEncryption: 0x03,
  rtcpAuthentication: 0x04,
  rtcpSalt: 0x05,
} as const;

export type KdfLabel = (typeof kdfLabel)[keyof typeof kdfLabel];

/** RFC 3711 §4.2.1 / §4.1.2: HMAC-SHA1 session authentication key, n_a = 160 bits. */
export const authenticationKeyLength = 20;

/**
 * The AES-CM IV of the PRF: x = key_id XOR master_salt, times 2^16.
 *
 * With key_derivation_rate 0, r = 0 and key_id = label || 0^48 (56 bits), right
 * aligned against the 112-bit salt, so the label lands in byte 7. A 96-bit GCM
 * master salt is zero padded on the right to 112 bits first, as libsrtp does
 * (checked against it in test/integration/protocol/srtp/libsrtp.test.ts).
 */
export function kdfIv(masterSalt: Buffer, label: KdfLabel): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0, 0, Math.min(masterSalt.length, 14));
  iv.writeUInt8(iv.readUInt8(7) ^ label, 7);
  return iv;
}

/** RFC 3711 §4.3.3: the first `length` bytes of the AES-CM keystream under the master key. */
export function deriveSessionKey(
  masterKey: Buffer,
  masterSalt: Buffer,
  label: KdfLabel,
  length: number,
): Buffer {
  const algorithm = masterKey.length === 32 ? 'aes-256-ctr' : 'aes-128-ctr';
  const cipher = createCipheriv(algorithm, masterKey, kdfIv(masterSalt, label));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

export interface CmSessionKeys {
  readonly encryptionKey: Buffer;
  readonly authenticationKey: Buffer;
  /** 112 bits (RFC 3711 §4.1.1). */
  readonly salt: Buffer;
}

export interface GcmSessionKeys {
  readonly encryptionKey: Buffer;
  /** 96 bits (RFC 7714 §8.1). */
  readonly salt: Buffer;
}

export interface SessionKeyPair<Keys> {
  readonly rtp: Keys;
  readonly rtcp: Keys;
}

export function deriveCmSessionKeys(
  masterKey: Buffer,
  masterSalt: Buffer,
): SessionKeyPair<CmSessionKeys> {
  const derive = (label: KdfLabel, length: number): Buffer =>
    deriveSessionKey(masterKey, masterSalt, label, length);
  return {
    rtp: {
      encryptionKey: derive(kdfLabel.rtpEncryption, masterKey.length),
      authenticationKey: derive(kdfLabel.rtpAuthentication, authenticationKeyLength),
      salt: derive(kdfLabel.rtpSalt, 14),
    },
    rtcp: {
      encryptionKey: derive(kdfLabel.rtcpEncryption, masterKey.length),
      authenticationKey: derive(kdfLabel.rtcpAuthentication, authenticationKeyLength),
      salt: derive(kdfLabel.rtcpSalt, 14),
    },
  };
}

export function deriveGcmSessionKeys(
  masterKey: Buffer,
  masterSalt: Buffer,
): SessionKeyPair<GcmSessionKeys> {
  const derive = (label: KdfLabel, length: number): Buffer =>
    deriveSessionKey(masterKey, masterSalt, label, length);
  // RFC 7714 §11: no authentication keys; the session salt is 96 bits.
  return {
    rtp: {
      encryptionKey: derive(kdfLabel.rtpEncryption, masterKey.length),
      salt: derive(kdfLabel.rtpSalt, 12),
    },
    rtcp: {
      encryptionKey: derive(kdfLabel.rtcpEncryption, masterKey.length),
      salt: derive(kdfLabel.rtcpSalt, 12),
    },
  };
}
