/**
 * Token-issuer certificates an edge has already seen in a genuine token, by
 * their SHA-256 thumbprint, so that a compact token (header `x5t#S256`
 * instead of the whole `x5c`) can be verified. A full token is ~1.3 KiB,
 * and ffmpeg cuts an RTSP URL's path and query at 1023 bytes; a compact one
 * is ~0.4 KiB. A remembered certificate proves nothing by itself: each
 * token checks it again against the bundle and the clock, exactly as if it
 * had come in the token.
 *
 * Bounded: only certificates whose chain and token-issuer name were already
 * verified get in, and the oldest leaves first (the control plane makes a
 * new one every few weeks).
 */
import { createHash, type X509Certificate } from 'node:crypto';

const MAX_ISSUERS = 8;

export class IssuerCache {
  readonly #chains = new Map<string, readonly X509Certificate[]>();

  get(thumbprint: string): readonly X509Certificate[] | undefined {
    return this.#chains.get(thumbprint);
  }

  /** Keeps a chain (leaf first) that a genuine token carried. */
  remember(chain: readonly X509Certificate[]): void {
    const [leaf] = chain;
    if (leaf === undefined) return;
    const key = thumbprint(leaf);
    if (this.#chains.has(key)) return;
    this.#chains.set(key, chain);
    for (const old of this.#chains.keys()) {
      if (this.#chains.size <= MAX_ISSUERS) break;
      this.#chains.delete(old);
    }
  }
}

/** RFC 7515 §4.1.8: base64url of the SHA-256 of the DER. */
export function thumbprint(certificate: X509Certificate): string {
  return createHash('sha256').update(certificate.raw).digest('base64url');
}
