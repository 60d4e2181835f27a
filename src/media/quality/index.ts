/**
 * Per-stream quality measurement run by every rtp-proxy hop: RFC 3550
 * receiver statistics (A.1, A.3, A.8), RR report blocks and RTT (§6.4.1),
 * bitrate, and an E-model MOS estimate for audio.
 */
export {
  BITRATE_BUCKET_MS,
  MAX_DOWNSTREAM_RECEIVERS,
  MAX_DROPOUT,
  MAX_MISORDER,
  MIN_SEQUENTIAL,
  SEQ_WINDOW,
  SR_HISTORY,
  StreamQuality,
} from './stream-quality.js';
export {
  E_MODEL_CODECS,
  estimateMos,
  mosFromR,
  oneWayDelayMs,
  rFactor,
  type EModelCodec,
  type MosInput,
} from './e-model.js';
export { QualityOptionsError } from './errors.js';
export type {
  DownstreamReport,
  MediaKind,
  MosCodec,
  PacketClass,
  QualityClock,
  QualitySnapshot,
  ReportBlockValues,
  StreamQualityOptions,
} from './quality-types.js';
