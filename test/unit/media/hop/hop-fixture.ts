/**
 * Shared by the hop unit tests: keys of one hop, RTP packets with a payload
 * that names their sequence number, and the epoch a protected packet carries.
 */
import { generateHopKey, type HopKey } from '../../../../src/protocol/srtp/index.js';
import { rtpPacket } from '../../../helpers/protocol/srtp-packets.js';

export const hopId = 'cam1:owner->edge';
export const ssrc = 0x1234_5678;

export function keyOf(epoch: number, id = hopId): HopKey {
  return generateHopKey({ hopId: id, epoch, notAfter: Date.UTC(2030, 0) });
}

/** RTP with a 160-byte payload starting with the sequence number, 90 kHz timestamps. */
export function mediaPacket(seq: number, packetSsrc = ssrc): Buffer {
  const payload = Buffer.alloc(160, 0xab);
  payload.writeUInt32BE(seq, 0);
  return rtpPacket({ seq: seq & 0xffff, ssrc: packetSsrc, timestamp: seq * 90, payload });
}

/** The epoch in a GCM hop packet: its MKI, the last 4 bytes. */
export function epochOf(protectedPacket: Buffer): number {
  return protectedPacket.readUInt32BE(protectedPacket.length - 4);
}
