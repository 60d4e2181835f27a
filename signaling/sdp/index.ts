/**
 * SDP <-> mediasoup: pure functions (no I/O) that read a peer's session
 * description into mediasoup parameters and write the SFU's side of the
 * negotiation from a transport and its producers or consumers. Used by the
 * WHIP/WHEP endpoints on the server and by WebRTC clients of the WebSocket
 * protocol (werift, tests) on the other end. Every input error is an SdpError.
 */
export { SdpError, sdpErrorCodes, type SdpErrorCode } from './errors.js';
export {
  MAX_SDP_BYTES,
  parseWebrtcSdp,
  parseSdpFragment,
  type DtlsSetup,
  type ParsedSdp,
  type SdpCandidate,
  type SdpCodec,
  type SdpDirection,
  type SdpFragment,
  type SdpHeaderExtension,
  type SdpIceCredentials,
  type WebrtcSdpMedia,
  type SdpRid,
  type SdpSsrc,
  type SdpSsrcGroup,
} from './parse.js';
export {
  h264Profile,
  isMediaCodec,
  isRtxCodec,
  sameCodec,
  type H264Profile,
} from './codec-match.js';
export {
  answerSetup,
  dtlsParametersFromSdp,
  matchingPayloadTypes,
  routerCodecForMedia,
  rtpCapabilitiesFromMedias,
  rtpParametersFromMedia,
} from './mediasoup-parameters.js';
export {
  buildAnswer,
  buildOffer,
  buildSdpFragment,
  type BuildOptions,
  type MediaPlan,
  type ReceivePlan,
  type SendPlan,
  type TransportDescription,
} from './build.js';
