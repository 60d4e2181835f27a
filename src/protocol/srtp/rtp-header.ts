/**
 * Just enough of RFC 3550 §5.1 for SRTP: where the header ends. SRTP encrypts
 * from there (RFC 3711 §3.1) and AES-GCM authenticates everything before it
 * (RFC 7714 §8.2).
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
 * |                             ....                              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      defined by profile       |           length              |  (if X, RFC 3550 §5.3.1)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  header extension (length words)              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */

export const rtpFixedHeaderLength = 12;
/** RTCP common header and the sender's SSRC (RFC 3550 §6.4.1), left in the clear by SRTCP. */
export const rtcpClearHeaderLength = 8;

/**
 * The length of the RTP header including CSRCs and the extension, or -1 when
 * the version is not 2 or the header claims more bytes than the first `end`.
 */
export function rtpHeaderLength(packet: Buffer, end: number): number {
  if (end < rtpFixedHeaderLength || end > packet.length) return -1;
  const first = packet.readUInt8(0);
  if (first >>> 6 !== 2) return -1;
  let length = rtpFixedHeaderLength + (first & 0x0f) * 4;
  if ((first & 0x10) !== 0) {
    if (length + 4 > end) return -1;
    length += 4 + packet.readUInt16BE(length + 2) * 4;
  }
  return length <= end ? length : -1;
}

/** Whether an RTCP packet of at least one byte starts with version 2. */
export function isRtcpVersion2(packet: Buffer): boolean {
  return packet.readUInt8(0) >>> 6 === 2;
}
