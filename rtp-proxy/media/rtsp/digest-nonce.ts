/**
 * Stateless Digest nonces (RFC 7616 §3.3, §5.4): the server keeps nothing per
 * nonce; a nonce carries the time it was issued and a MAC of that time, so
 * any nonce can be checked later with only the secret.
 *
 *   nonce = base64url( issuedAtMs (48-bit big-endian) || HMAC-SHA256(secret, issuedAtMs)[0..18) )
 *
 * 24 bytes, 32 characters with no padding. 48 bits of milliseconds last until
 * the year 10889; 144 bits of MAC cannot be guessed. Proxies that share a
 * listener address (behind a load balancer) must share the secret, or a
 * client sent to another replica is told its nonce is stale (and retries).
 *
 * Without per-nonce state a captured Authorization can be replayed, for the
 * same method and URI, until its nonce expires: tracking `nc` per nonce
 * (RFC 7616 §5.4) is deliberately out of scope.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a nonce is accepted. */
export const NONCE_LIFETIME_MS = 5 * 60_000;
/** A nonce issued this far "in the future" is accepted: the wall clock may step back a little. */
const CLOCK_STEP_TOLERANCE_MS = 5_000;

const TIME_BYTES = 6;
const MAC_BYTES = 18;
const NONCE_BYTES = TIME_BYTES + MAC_BYTES;
const NONCE_TEXT = /^[A-Za-z0-9_-]{32}$/;

/** fresh: ours and in time; stale: ours but expired; foreign: not made with this secret. */
export type NonceState = 'fresh' | 'stale' | 'foreign';

export class DigestNonces {
  readonly #secret: Buffer;
  readonly #now: () => number;
  readonly #lifetimeMs: number;

  /** `secret`: at least 16 bytes; a random one when omitted. */
  constructor(options: { secret?: Buffer; now?: () => number; lifetimeMs?: number } = {}) {
    const secret = options.secret ?? randomBytes(32);
    if (secret.length < 16) throw new RangeError('the Digest nonce secret needs 16 bytes or more');
    this.#secret = Buffer.from(secret);
    this.#now = options.now ?? Date.now;
    this.#lifetimeMs = options.lifetimeMs ?? NONCE_LIFETIME_MS;
  }

  /** A new nonce, valid from now for the lifetime. */
  issue(): string {
    const time = Buffer.alloc(TIME_BYTES);
    time.writeUIntBE(clampTime(this.#now()), 0, TIME_BYTES);
    return Buffer.concat([time, this.#mac(time)]).toString('base64url');
  }

  check(nonce: string): NonceState {
    if (!NONCE_TEXT.test(nonce)) return 'foreign';
    const bytes = Buffer.from(nonce, 'base64url');
    if (bytes.length !== NONCE_BYTES) return 'foreign';
    const time = bytes.subarray(0, TIME_BYTES);
    if (!timingSafeEqual(bytes.subarray(TIME_BYTES), this.#mac(time))) return 'foreign';
    const age = clampTime(this.#now()) - time.readUIntBE(0, TIME_BYTES);
    return age <= this.#lifetimeMs && age >= -CLOCK_STEP_TOLERANCE_MS ? 'fresh' : 'stale';
  }

  #mac(time: Buffer): Buffer {
    return createHmac('sha256', this.#secret).update(time).digest().subarray(0, MAC_BYTES);
  }
}

/** A time that fits the nonce's 48 bits (an injected clock may return anything). */
function clampTime(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) return 0;
  return Math.min(Math.floor(ms), 2 ** (8 * TIME_BYTES) - 1);
}
