export { h264StartsKeyframe, h265StartsKeyframe } from './keyframe.js';
export {
  groupAccessUnits,
  H264NalType,
  isVclNalUnit,
  nalUnitType,
  splitAnnexB,
  startsPicture,
} from './h264-annexb.js';
export {
  DEFAULT_MAX_PAYLOAD_SIZE,
  FU_A_TYPE,
  H264_CLOCK_RATE,
  H264Packetizer,
  h264NalPayloads,
  type H264PacketizerOptions,
} from './h264-packetizer.js';
