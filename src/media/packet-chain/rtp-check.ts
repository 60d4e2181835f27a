/**
 * RTP check: drops what is not a structurally valid RTP packet (under
 * checkRtp's reason: 'runt', 'bad_version', ...), and reads the header
 * fields later interceptors use into the packet.
 */
import {
  checkRtp,
  rtpPayloadType,
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
} from '../../protocol/rtp/index.js';
import { PASS, type DropReason, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

export interface RtpCheckOptions {
  /**
   * Count every malformed packet under this one reason instead of checkRtp's
   * own (the RTSP path's 'invalid_rtp', kept for its dashboards).
   */
  readonly invalidReason?: DropReason;
}

export class RtpCheck implements Interceptor {
  readonly name = 'rtp-check';
  readonly #invalidReason: DropReason | undefined;

  constructor(options: RtpCheckOptions = {}) {
    this.#invalidReason = options.invalidReason;
  }

  process(packet: MediaPacket): DropReason | undefined {
    const buffer = packet.buffer;
    const invalid = checkRtp(buffer);
    if (invalid !== null) return this.#invalidReason ?? invalid;
    packet.ssrc = rtpSsrc(buffer);
    packet.sequence = rtpSequenceNumber(buffer);
    packet.timestamp = rtpTimestamp(buffer);
    packet.payloadType = rtpPayloadType(buffer);
    return PASS;
  }
}
