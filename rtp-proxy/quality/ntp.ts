/**
 * The "middle 32 bits" NTP timestamp of RFC 3550 §6.4.1 (LSR, DLSR and the
 * round-trip arithmetic): 16 bits of seconds and 16 bits of fraction, i.e. a
 * time in 1/65536 s modulo 2^16 s.
 */

/** Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01). */
export const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** The NTP middle 32 bits of a Unix time in ms. */
export function ntpMiddle32FromUnixMs(unixMs: number): number {
  const units = Math.floor((unixMs / 1000 + NTP_UNIX_OFFSET_S) * 65_536);
  return (units % 4_294_967_296) >>> 0;
}
