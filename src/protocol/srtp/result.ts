/**
 * What protect and unprotect return. Network input never throws: the relay
 * drops the packet and counts the reason.
 */

export type SrtpDropReason =
  /** Shorter than a header plus what SRTP/SRTCP appends. */
  | 'too_short'
  /** Not RTP/RTCP version 2, or CSRC count / extension length overrun the packet. */
  | 'bad_header'
  /** The authentication tag does not match: forged, corrupted, or the wrong key. */
  | 'auth_failed'
  /** Index already received within the replay window (RFC 3711 §3.3.2). */
  | 'replay'
  /** Index below the replay window: it may be a replay and can no longer be told apart. */
  | 'replay_too_old'
  /**
   * The master key is used up for this SSRC: 2^31 SRTCP packets sent, or an
   * index past 2^48 (RFC 3711 §3.3.1). Protecting more would reuse an index,
   * which with AES-GCM gives away the authentication key; rekey. Only SRTCP
   * can get there in practice (about six hours of a 100k packet/s RTCP flood).
   * The libsrtp engine also says it when libsrtp cannot protect with the key
   * at all (out of memory, its crypto backend failed, or its index disagreed
   * with ours: a bug); unprotecting, such a failure is auth_failed. The
   * packet is dropped, never sent or delivered unchecked.
   */
  | 'key_expired'
  /**
   * Sending only (freshIndicesOnly): an RTP packet whose index is not above
   * the highest sent for its SSRC. Protecting other plaintext under an index
   * used before gives away the keystream, and with AES-GCM the
   * authentication key; a sender that cannot rule out a source going back in
   * its numbering drops such a packet instead.
   */
  | 'index_reused';

export type SrtpResult =
  | { readonly ok: true; readonly packet: Buffer }
  | { readonly ok: false; readonly reason: SrtpDropReason };

type SrtpDrop = Extract<SrtpResult, { ok: false }>;

function drop(reason: SrtpDropReason): SrtpDrop {
  return Object.freeze({ ok: false, reason });
}

/** One frozen result per reason, so that dropping a packet allocates nothing. */
export const drops: Readonly<Record<SrtpDropReason, SrtpDrop>> = Object.freeze({
  too_short: drop('too_short'),
  bad_header: drop('bad_header'),
  auth_failed: drop('auth_failed'),
  replay: drop('replay'),
  index_reused: drop('index_reused'),
  replay_too_old: drop('replay_too_old'),
  key_expired: drop('key_expired'),
});
