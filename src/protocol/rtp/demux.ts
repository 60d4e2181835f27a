/**
 * RTP/RTCP demultiplexing on one port (RFC 5761 §4).
 *
 * The second octet of an RTCP packet is its packet type; of an RTP packet,
 * the marker bit and payload type:
 *
 *  0                   1
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|   RC    |  PT (RTCP)    |
 * |V=2|P|X|  CC   |M|  PT (RTP)   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * RTCP packet types 192..223 would read as RTP payload types 64..95 with the
 * marker bit set, a range RFC 5761 reserves so the two cannot be confused.
 */

/**
 * True when `packet`, received on an rtcp-mux port, is RTCP: its second byte
 * is 192..223. Does not allocate or throw; false for packets shorter than 2
 * bytes. Checks nothing else (run `parseRtcpCompound` or `checkRtp` next).
 */
export function isRtcpPacket(packet: Buffer): boolean {
  const second = packet[1];
  return second !== undefined && second >= 192 && second <= 223;
}
