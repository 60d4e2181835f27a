/**
 * RTCP wire format: one codec per packet type, the compound parser the relay
 * runs on every RTCP datagram (it never throws; a bad datagram comes back
 * with a drop reason), builders for the reports the relay sends, and NTP
 * time helpers.
 */
export {
  parseRtcpCompound,
  serializeRtcpCompound,
  decodeRtcpFrame,
  type RtcpPacket,
  type RtcpParseResult,
} from './compound.js';
export { buildReceiverReport, buildSdesCname, MAX_REPORT_BLOCKS } from './build.js';
export {
  readRtcpFrame,
  rtcpPadding,
  RtcpPacketType,
  RtcpParseError,
  RTCP_HEADER_LENGTH,
  type RtcpDropReason,
  type RtcpFrame,
} from './header.js';
export {
  ReportBlock,
  REPORT_BLOCK_LENGTH,
  MAX_CUMULATIVE_LOST,
  MIN_CUMULATIVE_LOST,
  type ReportBlockFields,
  type ReportBlockJson,
} from './report-block.js';
export { SenderReport, type SenderReportFields, type SenderReportJson } from './sender-report.js';
export {
  ReceiverReport,
  type ReceiverReportFields,
  type ReceiverReportJson,
} from './receiver-report.js';
export {
  SourceDescription,
  SdesItemType,
  type SdesChunk,
  type SdesItem,
  type SourceDescriptionFields,
  type SourceDescriptionJson,
} from './source-description.js';
export { Bye, type ByeFields, type ByeJson } from './bye.js';
export { App, type AppFields, type AppJson } from './app.js';
export {
  TransportFeedback,
  type TransportFeedbackFields,
  type TransportFeedbackJson,
  type TransportFeedbackMessage,
} from './transport-feedback.js';
export {
  PayloadFeedback,
  type PayloadFeedbackFields,
  type PayloadFeedbackJson,
  type PayloadFeedbackMessage,
} from './payload-feedback.js';
export {
  GenericNack,
  GENERIC_NACK_FMT,
  type GenericNackJson,
  type NackEntry,
} from './generic-nack.js';
export {
  PictureLossIndication,
  PLI_FMT,
  type PictureLossIndicationJson,
} from './picture-loss-indication.js';
export {
  FullIntraRequest,
  FIR_FMT,
  type FirEntry,
  type FullIntraRequestJson,
} from './full-intra-request.js';
export { RawFeedback, type RawFeedbackJson } from './raw-feedback.js';
export type { FeedbackMessage } from './feedback.js';
export {
  UnknownRtcpPacket,
  type UnknownRtcpPacketFields,
  type UnknownRtcpPacketJson,
} from './unknown.js';
export {
  middle32,
  ntpFromUnixMs,
  NTP_UNIX_OFFSET_SECONDS,
  roundTripSeconds,
  unixMsFromNtp,
  type NtpTimestamp,
} from './ntp.js';
