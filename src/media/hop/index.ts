/**
 * Encrypted, measured proxy-to-proxy hops: SRTP (AEAD_AES_128_GCM by default)
 * under per-hop keys from the control plane, rotated without losing a packet
 * (the epoch travels as the MKI), and RFC 3550 loss, jitter and RTT per hop.
 * Keys are generated with `generateHopKey` from src/protocol/srtp.
 */
export { HopKeyRejectedError, HopOptionsError } from './errors.js';
export { defaultMaxOverlapMs, defaultOverlapGraceMs } from './hop-epochs.js';
export { defaultMaxHopStreams } from './hop-streams.js';
export { HopReceiver, type HopReceiverOptions } from './hop-receiver.js';
export { HopSender, wrapGuard, type HopSenderOptions } from './hop-sender.js';
export type {
  HopDropCounts,
  HopDropReason,
  HopEndOptions,
  HopEpochsSnapshot,
  HopPacketKind,
  HopPayloadType,
  HopReceiveResult,
  HopSnapshot,
} from './hop-types.js';
