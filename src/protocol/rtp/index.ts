/**
 * RTP wire format. Per packet, the relay uses the allocation-free check and
 * accessors; tests, tools and control paths use the `RtpPacket` codec.
 */
export {
  checkRtp,
  rtpHeaderLength,
  rtpMarker,
  rtpPayloadLength,
  rtpPayloadType,
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
  setRtpSequenceNumber,
  setRtpSsrc,
  setRtpTimestamp,
  RTP_FIXED_HEADER_LENGTH,
  type RtpDropReason,
} from './rtp-fields.js';
export { isRtcpPacket } from './demux.js';
export {
  RtpPacket,
  RtpParseError,
  type RtpHeaderExtension,
  type RtpPacketFields,
  type RtpPacketJson,
} from './rtp-packet.js';
export {
  isOneByteProfile,
  isTwoByteProfile,
  ONE_BYTE_EXTENSION_PROFILE,
  parseHeaderExtensionElements,
  serializeHeaderExtensionElements,
  TWO_BYTE_EXTENSION_PROFILE,
  type HeaderExtensionElement,
} from './header-extension.js';
