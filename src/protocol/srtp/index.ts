/**
 * SRTP and SRTCP (RFC 3711) with AES-CM/HMAC-SHA1 and AES-GCM (RFC 7714), on
 * libsrtp2 (native/srtp) or node:crypto: the import point for the relay's
 * SRTP interceptors. Callers make sessions with createSrtpSession.
 */
export { SrtpEngineError, SrtpKeyError, SrtpOptionsError } from './errors.js';
export type { SrtpContext, SrtpEngineChoice, SrtpEngineName } from './srtp-context.js';
export { withOwnedPackets } from './owned-packets.js';
export {
  createSrtpSession,
  currentSrtpEngine,
  libsrtpCrypto,
  srtpEngineChoices,
  srtpEngineFallbackReason,
  useSrtpEngine,
} from './srtp-engine.js';
export {
  formatInlineKey,
  generateKeyingMaterial,
  keyLengths,
  parseInlineKey,
  srtpProfiles,
  type SrtpKeyingMaterial,
  type SrtpKeyLengths,
  type SrtpProfile,
} from './keys.js';
export {
  assertHopKey,
  defaultHopProfile,
  epochMki,
  generateHopKey,
  hopKeyingMaterial,
  hopMkiLength,
  maxHopEpoch,
  type GenerateHopKeyOptions,
  type HopKey,
} from './hop-key.js';
export { maxMkiLength } from './mki.js';
export { defaultReplayWindowSize } from './replay-window.js';
export type { SrtpDropReason, SrtpResult } from './result.js';
export { defaultMaxSsrcs, SrtpSession, type SrtpSessionOptions } from './srtp-session.js';
