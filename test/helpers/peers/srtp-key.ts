/**
 * SDES keying material (RFC 4568) as the peers take it: a 16-byte master key
 * followed by a 14-byte master salt, base64 in SDP `inline:` and in ffmpeg's
 * `-srtp_out_params`, hex in GStreamer's `srtpenc key=`.
 */
import { randomBytes } from 'node:crypto';

/** The one suite every peer here speaks (ffmpeg implements AES_CM_128 suites only). */
export const SRTP_SUITE = 'AES_CM_128_HMAC_SHA1_80';
/** Bytes an AES_CM_128_HMAC_SHA1_80 packet grows by: the 80-bit auth tag. */
export const SRTP_TAG_BYTES = 10;

/** A fresh key||salt, base64 (40 characters). */
export function randomSrtpKey(): string {
  return randomBytes(30).toString('base64');
}

/** key||salt as hex, for `srtpenc key=`. Throws unless it is 30 bytes. */
export function srtpKeyHex(keyBase64: string): string {
  const raw = Buffer.from(keyBase64, 'base64');
  if (raw.length !== 30) throw new Error(`SRTP key||salt must be 30 bytes, got ${raw.length}`);
  return raw.toString('hex');
}
