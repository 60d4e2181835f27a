/**
 * The relay's per-packet view of RTP: a structural check and field accessors
 * that read and write the wire bytes in place. Nothing here allocates or
 * throws, so the packet loop can call it ~100k times a second; a packet that
 * fails `checkRtp` is dropped and counted by its reason.
 *
 * RFC 3550 §5.1 fixed header, §5.3.1 header extension:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           timestamp                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           synchronization source (SSRC) identifier            |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |            contributing source (CSRC) identifiers             |
 * |                    (CC entries of 32 bits)                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      defined by profile       |           length              |  if X
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 header extension (length words)               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 payload ...                                   |
 * |                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               | padding ...   | padding count |  if P
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Reads use `buffer[i] ?? 0` rather than `readUInt32BE`: a byte read past
 * the end yields 0 instead of throwing, and V8 compiles it to a plain load.
 */

/** Why `checkRtp` refused a packet; stable strings, fit for a metric label. */
export type RtpDropReason =
  'runt' | 'bad_version' | 'bad_padding' | 'bad_csrc_count' | 'bad_extension_length';

/** Length of the fixed RTP header (RFC 3550 §5.1). */
export const RTP_FIXED_HEADER_LENGTH = 12;

/**
 * Returns null when `packet` is a structurally valid RTP packet (RFC 3550
 * §5.1, header extension §5.3.1), else why not. Checks, in this order:
 * length >= 12; version 2; 12 + 4*CC <= length; if X, the 4-byte extension
 * header fits and so do its `length` words; if P, the padding count (last
 * byte) is >= 1 and header + padding <= length.
 */
export function checkRtp(packet: Buffer): RtpDropReason | null {
  const length = packet.length;
  if (length < RTP_FIXED_HEADER_LENGTH) return 'runt';
  const first = packet[0] ?? 0;
  if (first >>> 6 !== 2) return 'bad_version';
  let headerLength = RTP_FIXED_HEADER_LENGTH + ((first & 0x0f) << 2);
  if (headerLength > length) return 'bad_csrc_count';
  if ((first & 0x10) !== 0) {
    if (headerLength + 4 > length) return 'bad_extension_length';
    const words = ((packet[headerLength + 2] ?? 0) << 8) | (packet[headerLength + 3] ?? 0);
    headerLength += 4 + (words << 2);
    if (headerLength > length) return 'bad_extension_length';
  }
  if ((first & 0x20) !== 0) {
    const paddingLength = packet[length - 1] ?? 0;
    if (paddingLength === 0 || headerLength + paddingLength > length) return 'bad_padding';
  }
  return null;
}

/** Payload type, 0..127. Assumes `checkRtp` passed. */
export function rtpPayloadType(packet: Buffer): number {
  return (packet[1] ?? 0) & 0x7f;
}

/** Sequence number, 0..65535. Assumes `checkRtp` passed. */
export function rtpSequenceNumber(packet: Buffer): number {
  return ((packet[2] ?? 0) << 8) | (packet[3] ?? 0);
}

/** Timestamp as an unsigned 32-bit number. Assumes `checkRtp` passed. */
export function rtpTimestamp(packet: Buffer): number {
  return (
    (((packet[4] ?? 0) << 24) |
      ((packet[5] ?? 0) << 16) |
      ((packet[6] ?? 0) << 8) |
      (packet[7] ?? 0)) >>>
    0
  );
}

/** SSRC as an unsigned 32-bit number. Assumes `checkRtp` passed. */
export function rtpSsrc(packet: Buffer): number {
  return (
    (((packet[8] ?? 0) << 24) |
      ((packet[9] ?? 0) << 16) |
      ((packet[10] ?? 0) << 8) |
      (packet[11] ?? 0)) >>>
    0
  );
}

/** The marker bit. Assumes `checkRtp` passed. */
export function rtpMarker(packet: Buffer): boolean {
  return ((packet[1] ?? 0) & 0x80) !== 0;
}

/**
 * Offset of the payload: the fixed header, CSRCs and header extension
 * (extension header included). Assumes `checkRtp` passed.
 */
export function rtpHeaderLength(packet: Buffer): number {
  const first = packet[0] ?? 0;
  let headerLength = RTP_FIXED_HEADER_LENGTH + ((first & 0x0f) << 2);
  if ((first & 0x10) !== 0) {
    const words = ((packet[headerLength + 2] ?? 0) << 8) | (packet[headerLength + 3] ?? 0);
    headerLength += 4 + (words << 2);
  }
  return headerLength;
}

/**
 * Payload length: what lies between the header and the padding. Assumes
 * `checkRtp` passed (never negative even when it did not).
 */
export function rtpPayloadLength(packet: Buffer): number {
  const paddingLength = ((packet[0] ?? 0) & 0x20) !== 0 ? (packet[packet.length - 1] ?? 0) : 0;
  const payloadLength = packet.length - rtpHeaderLength(packet) - paddingLength;
  return payloadLength > 0 ? payloadLength : 0;
}

/** Rewrites the SSRC in place (taken modulo 2^32). */
export function setRtpSsrc(packet: Buffer, ssrc: number): void {
  packet[8] = ssrc >>> 24;
  packet[9] = ssrc >>> 16;
  packet[10] = ssrc >>> 8;
  packet[11] = ssrc;
}

/** Rewrites the sequence number in place (taken modulo 2^16). */
export function setRtpSequenceNumber(packet: Buffer, seq: number): void {
  packet[2] = seq >>> 8;
  packet[3] = seq;
}

/** Rewrites the timestamp in place (taken modulo 2^32). */
export function setRtpTimestamp(packet: Buffer, ts: number): void {
  packet[4] = ts >>> 24;
  packet[5] = ts >>> 16;
  packet[6] = ts >>> 8;
  packet[7] = ts;
}
