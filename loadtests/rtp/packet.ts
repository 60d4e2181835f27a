/**
 * The benchmark's RTP packets: a 12-byte header with the X bit, and one
 * RFC 8285 one-byte header extension element carrying the send time
 * (CLOCK_MONOTONIC in ms as an IEEE double: the same clock in every process
 * on the machine, read without allocating, see `monotonicMs`). Header extensions stay in clear under SRTP
 * (RFC 3711 encrypts the payload only), so the receiver reads the send time
 * of SRTP packets without decrypting them.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X=1| CC=0|M|   PT = 96   |        sequence number        |
 * |                 timestamp (90 kHz from the send time)          |
 * |                             SSRC                              |
 * |      0xBE     |      0xDE     |        length = 3 words       |
 * | ID=1  | L=7   |   send time, ms (float64, big-endian) ...     |
 * |  ...                                          | 0 | 0 | 0 pad |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | payload (zeros) up to the packet size ...                     |
 */

export const HEADER_BYTES = 28;
export const PAYLOAD_TYPE = 96;
const SEND_TIME_OFFSET = 17;

/** A packet of `size` bytes with everything but sequence, timestamp and send time filled in. */
export function packetTemplate(size: number, ssrc: number): Buffer {
  if (size < HEADER_BYTES) throw new RangeError(`packets need at least ${HEADER_BYTES} bytes`);
  const packet = Buffer.alloc(size);
  packet[0] = 0x90; // V=2, X=1
  packet[1] = PAYLOAD_TYPE;
  packet.writeUInt32BE(ssrc >>> 0, 8);
  packet[12] = 0xbe;
  packet[13] = 0xde;
  packet.writeUInt16BE(3, 14);
  packet[16] = 0x17; // ID 1, 8 bytes
  return packet;
}

/**
 * CLOCK_MONOTONIC in ms. `performance.now()` reads the same clock as
 * `process.hrtime` (libuv's uv_hrtime) from a per-process origin; one offset,
 * measured at start, makes it comparable across processes, and unlike
 * `process.hrtime.bigint()` it allocates nothing per call.
 */
export const monotonicMs: () => number = (() => {
  let offset = Infinity;
  for (let i = 0; i < 5; i++) {
    const before = performance.now();
    const hr = Number(process.hrtime.bigint()) / 1e6;
    const after = performance.now();
    offset = Math.min(offset, hr - (before + after) / 2);
  }
  return () => performance.now() + offset;
})();

/** Writes the per-packet fields, the send time last, just before the send. */
export function stamp(packet: Buffer, sequence: number): void {
  const now = monotonicMs();
  packet.writeUInt16BE(sequence & 0xffff, 2);
  packet.writeUInt32BE(Math.floor(now * 90) % 0x1_0000_0000, 4);
  packet.writeDoubleBE(now, SEND_TIME_OFFSET);
}

/** The send time (monotonic ms), or NaN when the packet is not one of ours. */
export function sendTime(packet: Buffer): number {
  if (packet.length < HEADER_BYTES) return Number.NaN;
  if (packet[0] !== 0x90 || packet[12] !== 0xbe || packet[13] !== 0xde || packet[16] !== 0x17) {
    return Number.NaN;
  }
  return packet.readDoubleBE(SEND_TIME_OFFSET);
}
