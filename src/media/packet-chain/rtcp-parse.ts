/**
 * RTCP parse: the compound as packets (`packet.rtcp`) for what follows the
 * chain (SR/RR measurement, BYE), or dropped as 'rtcp_<reason>'
 * ('rtcp_bad_length', ...). Parsing builds the packets' objects: RTCP is a
 * few datagrams per second per stream, not the media rate.
 */
import { parseRtcpCompound, type RtcpDropReason } from '../../protocol/rtcp/index.js';
import { PASS, type DropReason, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

const REASONS: Readonly<Record<RtcpDropReason, string>> = {
  runt: 'rtcp_runt',
  bad_version: 'rtcp_bad_version',
  bad_length: 'rtcp_bad_length',
  bad_padding: 'rtcp_bad_padding',
  bad_count: 'rtcp_bad_count',
  malformed: 'rtcp_malformed',
};

export class RtcpParse implements Interceptor {
  readonly name = 'rtcp-parse';

  process(packet: MediaPacket): DropReason | undefined {
    const parsed = parseRtcpCompound(packet.buffer);
    if (!parsed.ok) return REASONS[parsed.reason];
    packet.rtcp = parsed.packets;
    return PASS;
  }
}
