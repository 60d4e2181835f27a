/**
 * NTP timestamps as RTCP carries them (RFC 3550 §4): 32 bits of seconds
 * since 1900-01-01 and 32 bits of fraction. The seconds wrap in 2036 (NTP
 * era 1); both directions here work modulo 2^32 seconds, which is what the
 * wire holds.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 seconds since 1900 (most significant word)    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 fraction of a second (least significant word) |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *                 |<-------- middle 32 bits (LSR) ------->|
 */

export interface NtpTimestamp {
  /** Seconds since 1900-01-01T00:00:00Z, modulo 2^32. */
  readonly seconds: number;
  /** Fraction of a second in units of 2^-32 s. */
  readonly fraction: number;
}

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
export const NTP_UNIX_OFFSET_SECONDS = 2_208_988_800;

const TWO_POW_32 = 0x1_0000_0000;

/** The NTP timestamp of a Unix time in milliseconds (fractions of a ms kept). */
export function ntpFromUnixMs(ms: number): NtpTimestamp {
  const unixSeconds = Math.floor(ms / 1000);
  const fraction = Math.min(
    TWO_POW_32 - 1,
    Math.floor(((ms - unixSeconds * 1000) / 1000) * TWO_POW_32),
  );
  return { seconds: (unixSeconds + NTP_UNIX_OFFSET_SECONDS) >>> 0, fraction };
}

/**
 * The Unix time in milliseconds of an NTP timestamp, taking era 0 for
 * seconds >= 2^31 (1968..2036) and era 1 below (2036..2104).
 */
export function unixMsFromNtp(ntp: NtpTimestamp): number {
  const seconds = ntp.seconds >= 0x8000_0000 ? ntp.seconds : ntp.seconds + TWO_POW_32;
  return (seconds - NTP_UNIX_OFFSET_SECONDS) * 1000 + (ntp.fraction / TWO_POW_32) * 1000;
}

/**
 * The middle 32 bits of an NTP timestamp (16 bits of seconds, 16 of
 * fraction): an SR's LSR value, and the unit of RTT arithmetic (RFC 3550
 * §6.4.1), in 1/65536 seconds.
 */
export function middle32(ntp: NtpTimestamp): number {
  return (((ntp.seconds & 0xffff) << 16) | (ntp.fraction >>> 16)) >>> 0;
}

/**
 * Round-trip time in seconds from a report block received at `arrival`
 * (RFC 3550 §6.4.1: A - LSR - DLSR, in 1/65536 s, modulo 2^32, read as
 * signed so that clock skew shows as a small negative number). Null when the
 * block has no LSR (its sender has not received an SR yet).
 */
export function roundTripSeconds(
  arrival: NtpTimestamp,
  lastSr: number,
  delaySinceLastSr: number,
): number | null {
  if (lastSr === 0) return null;
  return ((middle32(arrival) - lastSr - delaySinceLastSr) | 0) / 65536;
}
