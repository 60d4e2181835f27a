export {
  attributes,
  defaultSdpLimits,
  parseSdp,
  rewriteForProxy,
  rtpMaps,
  serializeSdp,
  type RtpMap,
  type Sdp,
  type SdpErrorReason,
  type SdpLimits,
  type SdpLine,
  type SdpMedia,
} from './sdp.js';
