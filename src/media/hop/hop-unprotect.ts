/**
 * One received hop datagram: RTP or RTCP (RFC 5761 demux), its epoch by MKI,
 * one unprotect under that epoch's key. Never throws; a drop is counted by
 * reason. Both ends use it: the receiver for the media, the sender for the
 * receiver's reports coming back.
 */
import { isRtcpPacket } from '../../protocol/rtp/index.js';
import type { HopDrops } from './drop-counts.js';
import type { HopEpochs } from './hop-epochs.js';
import type { HopDropReason, HopReceiveResult } from './hop-types.js';

/** One frozen result per reason, so that dropping allocates nothing. */
const dropResults = new Map<HopDropReason, HopReceiveResult>();
function dropped(reason: HopDropReason): HopReceiveResult {
  let result = dropResults.get(reason);
  if (result === undefined) {
    result = Object.freeze({ ok: false, reason });
    dropResults.set(reason, result);
  }
  return result;
}

/** The SRTCP minimum: the 8 clear bytes; SRTP's is larger, and the session checks it. */
const minimumLength = 8;

export function unprotectHopPacket(
  epochs: HopEpochs,
  drops: HopDrops,
  packet: Buffer,
  nowMs: number,
): HopReceiveResult {
  if (packet.length < minimumLength) return drop(drops, 'too_short');
  if (packet.readUInt8(0) >>> 6 !== 2) return drop(drops, 'bad_header');
  const kind = isRtcpPacket(packet) ? 'rtcp' : 'rtp';
  const epoch = epochs.select(packet, kind, nowMs);
  if (epoch === undefined) return drop(drops, 'unknown_key');
  const result =
    kind === 'rtp' ? epoch.session.unprotectRtp(packet) : epoch.session.unprotectRtcp(packet);
  if (!result.ok) return drop(drops, result.reason);
  epochs.onAuthenticated(epoch, nowMs);
  return { ok: true, kind, packet: result.packet, epoch: epoch.epoch };
}

function drop(drops: HopDrops, reason: HopDropReason): HopReceiveResult {
  drops.count(reason);
  return dropped(reason);
}
