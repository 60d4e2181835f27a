/**
 * The Master Key Identifier (RFC 3711 §3.1): an optional field, of a length
 * fixed per session, that names the master key a packet was protected with,
 * so that a receiver holding several keys (a rekey under a running stream)
 * picks the right one without trying each. It is not authenticated and not
 * secret. Where it sits depends on the transform:
 *
 *   AES-CM SRTP   header || encrypted payload || MKI || auth tag
 *   AES-CM SRTCP  header || encrypted part || E|index || MKI || auth tag
 *   GCM SRTP      header || ciphertext (tag included) || MKI       (RFC 7714 §8.1)
 *   GCM SRTCP     header || ciphertext (tag included) || E|index || MKI  (§9.1)
 *
 * so in every case it is the `mki.length` bytes before the last
 * `bytesAfterMki` bytes of the packet.
 */

/** RFC 4568 §6.1 allows an MKI of 1 to 128 bytes. */
export const maxMkiLength = 128;

export const mkiMatch = { match: 0, tooShort: 1, mismatch: 2 } as const;
export type MkiMatch = (typeof mkiMatch)[keyof typeof mkiMatch];

/** Whether `packet` carries `mki` where a transform with `bytesAfterMki` puts it. */
export function matchMki(packet: Buffer, mki: Buffer, bytesAfterMki: number): MkiMatch {
  const at = packet.length - bytesAfterMki - mki.length;
  if (at < 0) return mkiMatch.tooShort;
  // Not secret, so an ordinary comparison (no timing concern).
  return packet.compare(mki, 0, mki.length, at, at + mki.length) === 0
    ? mkiMatch.match
    : mkiMatch.mismatch;
}

/** The protected packet with `mki` inserted before its last `bytesAfterMki` bytes. */
export function insertMki(packet: Buffer, mki: Buffer, bytesAfterMki: number): Buffer {
  const split = packet.length - bytesAfterMki;
  const out = Buffer.allocUnsafe(packet.length + mki.length);
  packet.copy(out, 0, 0, split);
  mki.copy(out, split);
  packet.copy(out, split + mki.length, split);
  return out;
}

/**
 * The packet without its MKI, as the transform expects it; call after
 * `matchMki` said match. With GCM the MKI is last, so this is a view, not a
 * copy; with AES-CM the tag after it has to move up (one copy).
 */
export function removeMki(packet: Buffer, mkiLength: number, bytesAfterMki: number): Buffer {
  const at = packet.length - bytesAfterMki - mkiLength;
  if (bytesAfterMki === 0) return packet.subarray(0, at);
  return Buffer.concat([packet.subarray(0, at), packet.subarray(at + mkiLength)]);
}
