/**
 * One SRTP/SRTCP cryptographic context (RFC 3711 §3.2) for one keying
 * material: protect for the streams this leg sends, unprotect for the ones it
 * receives. The caller keeps one session per direction when the two directions
 * have different keys (DTLS-SRTP, SDES); state is kept per SSRC and per
 * direction, so one session may also do both.
 *
 * Per packet: parse the minimum (header length, SEQ, SSRC), estimate the index
 * (rollover.ts), check the replay window (replay-window.ts), run the transform
 * of the session's engine (node:crypto: aes-cm.ts, aead-gcm.ts; libsrtp2:
 * libsrtp-transform.ts), and only after authentication commit the index.
 * The policy is this class's for both engines, so that their verdicts are
 * the same; with libsrtp a returned packet is a view of a buffer the session
 * reuses on the next call of the same method (srtp-context.ts).
 *
 * With an MKI (mki.ts) every packet sent carries it, and a packet received
 * must carry it or is dropped before any crypto: a receiver holding several
 * sessions (one per key) asks each `carriesMki` and unprotects with the one
 * that says yes.
 */
import { SrtpEngineError, SrtpOptionsError } from './errors.js';
import { assertKeyingMaterial, type SrtpKeyingMaterial, type SrtpProfile } from './keys.js';
import { loadLibsrtpAddon } from './libsrtp-addon.js';
import { LibsrtpTransform } from './libsrtp-transform.js';
import { createNodeTransform } from './node-transform.js';
import {
  defaultReplayWindowSize,
  maxReplayWindowSize,
  minReplayWindowSize,
  ReplayWindow,
  replayVerdict,
} from './replay-window.js';
import { insertMki, matchMki, maxMkiLength, mkiMatch, removeMki } from './mki.js';
import { drops, type SrtpResult } from './result.js';
import { estimatePacketIndex, maxPacketIndex, rolloverCounter } from './rollover.js';
import {
  isRtcpVersion2,
  rtcpClearHeaderLength,
  rtpFixedHeaderLength,
  rtpHeaderLength,
} from './rtp-header.js';
import type { SrtpContext, SrtpEngineName } from './srtp-context.js';
import { SsrcTable } from './ssrc-table.js';
import {
  srtcpEncryptedFlag,
  srtcpIndexMask,
  ssrcStateKind,
  type SrtpTransform,
  type SsrcStateKind,
} from './transform.js';

export interface SrtpSessionOptions {
  /** Replay window in packets, per SSRC, for SRTP and SRTCP (RFC 3711 §3.3.2). Default 128. */
  readonly replayWindow?: number;
  /** SSRCs remembered per kind of state (RTP/RTCP, send/receive). Default 1024; least recently used goes. */
  readonly maxSsrcs?: number;
  /**
   * A Master Key Identifier (RFC 3711 §3.1) of 1 to 128 bytes, sent in every
   * packet and required in every packet received. Default: none.
   */
  readonly mki?: Buffer;
  /**
   * Protect an RTP packet only if its index is above every index sent for
   * its SSRC (else drop it as `index_reused`): for a sender whose source may
   * go back in its numbering (a camera that resets its sequence numbers, a
   * packet reordered upstream), where a repeated index would protect other
   * plaintext under the same keystream. Default false (the relay forwards
   * what its sender protected once).
   */
  readonly freshIndicesOnly?: boolean;
}

export const defaultMaxSsrcs = 1024;

interface RtpSenderState {
  /** Highest packet index sent: the sender's ROC and s_l. */
  highest: number;
}

interface RtcpSenderState {
  /** RFC 3711 §3.4: the next SRTCP index, from 0, one per packet sent. */
  next: number;
}

export class SrtpSession implements SrtpContext {
  readonly profile: SrtpProfile;
  readonly engine: SrtpEngineName;
  readonly #transform: SrtpTransform;
  readonly #windowSize: number;
  readonly #rtpSenders: SsrcTable<RtpSenderState>;
  readonly #rtpReceivers: SsrcTable<ReplayWindow>;
  readonly #rtcpSenders: SsrcTable<RtcpSenderState>;
  readonly #rtcpReceivers: SsrcTable<ReplayWindow>;
  readonly #mki: Buffer | undefined;
  readonly #freshIndicesOnly: boolean;

  /**
   * Throws SrtpKeyError for unusable keys, SrtpOptionsError for out-of-range
   * options and SrtpEngineError for `libsrtp` without the addon. Most callers
   * want createSrtpSession (srtp-engine.ts), which picks the engine.
   */
  constructor(
    keys: SrtpKeyingMaterial,
    options: SrtpSessionOptions = {},
    engine: SrtpEngineName = 'node',
  ) {
    assertKeyingMaterial(keys);
    const windowSize = options.replayWindow ?? defaultReplayWindowSize;
    if (
      !Number.isInteger(windowSize) ||
      windowSize < minReplayWindowSize ||
      windowSize > maxReplayWindowSize
    ) {
      throw new SrtpOptionsError(
        `replayWindow must be an integer from ${minReplayWindowSize} to ${maxReplayWindowSize}`,
      );
    }
    const maxSsrcs = options.maxSsrcs ?? defaultMaxSsrcs;
    if (!Number.isInteger(maxSsrcs) || maxSsrcs < 1) {
      throw new SrtpOptionsError('maxSsrcs must be a positive integer');
    }
    const mki = options.mki;
    if (
      mki !== undefined &&
      (!Buffer.isBuffer(mki) || mki.length < 1 || mki.length > maxMkiLength)
    ) {
      throw new SrtpOptionsError(`mki must be a Buffer of 1 to ${maxMkiLength} bytes`);
    }
    // A copy: the caller's buffer could change under a running session.
    this.#mki = mki === undefined ? undefined : Buffer.from(mki);
    this.#freshIndicesOnly = options.freshIndicesOnly === true;
    this.profile = keys.profile;
    this.engine = engine;
    this.#transform = createTransform(keys, engine, windowSize, this.#mki);
    this.#windowSize = windowSize;
    const table = <State>(kind: SsrcStateKind): SsrcTable<State> => {
      const transform = this.#transform;
      // The libsrtp engine's streams leave with ours: its state and ours stay one.
      const forget = transform.forget?.bind(transform);
      return new SsrcTable<State>(
        maxSsrcs,
        forget === undefined ? undefined : (ssrc) => forget(kind, ssrc),
      );
    };
    this.#rtpSenders = table(ssrcStateKind.rtpSend);
    this.#rtpReceivers = table(ssrcStateKind.rtpReceive);
    this.#rtcpSenders = table(ssrcStateKind.rtcpSend);
    this.#rtcpReceivers = table(ssrcStateKind.rtcpReceive);
  }

  /**
   * Packets the libsrtp engine handed to node:crypto (libsrtp-transform.ts
   * says when): same bytes, several times the CPU. Always 0 on node.
   */
  get nodeCryptoPackets(): number {
    return this.#transform.nodeCryptoPackets ?? 0;
  }

  /** The MKI this session sends and expects, or undefined. A copy. */
  get mki(): Buffer | undefined {
    return this.#mki === undefined ? undefined : Buffer.from(this.#mki);
  }

  /**
   * Whether a protected packet carries this session's MKI where this profile
   * puts it: a comparison of a few bytes, no crypto. False without an MKI.
   */
  carriesMki(protectedPacket: Buffer, kind: 'rtp' | 'rtcp'): boolean {
    if (this.#mki === undefined) return false;
    const after =
      kind === 'rtp' ? this.#transform.rtpBytesAfterMki : this.#transform.rtcpBytesAfterMki;
    return matchMki(protectedPacket, this.#mki, after) === mkiMatch.match;
  }

  /** An RTP packet to SRTP (RFC 3711 §3.3). `plain` is not modified. */
  protectRtp(plain: Buffer): SrtpResult {
    const length = plain.length;
    if (length < rtpFixedHeaderLength) return drops.too_short;
    const headerLength = rtpHeaderLength(plain, length);
    if (headerLength < 0) return drops.bad_header;
    const seq = plain.readUInt16BE(2);
    const ssrc = plain.readUInt32BE(8);
    const sender = this.#rtpSenders.get(ssrc);
    let index = seq;
    if (sender === undefined) {
      // RFC 3711 §3.3.1: a stream starts with ROC 0.
      this.#rtpSenders.set(ssrc, { highest: index });
    } else {
      index = estimatePacketIndex(sender.highest, seq);
      if (index > maxPacketIndex) return drops.key_expired;
      if (index > sender.highest) sender.highest = index;
      else if (this.#freshIndicesOnly) return drops.index_reused;
    }
    const roc = rolloverCounter(index);
    const streamRoc = rolloverCounter(sender === undefined ? index : sender.highest);
    const packet = this.#transform.protectRtp(plain, headerLength, ssrc, roc, seq, streamRoc);
    if (packet === undefined) return drops[this.#transform.failure ?? 'key_expired'];
    return { ok: true, packet: this.#withMki(packet, this.#transform.rtpBytesAfterMki) };
  }

  /** SRTP to RTP (RFC 3711 §3.3): replay check, authenticate and decrypt, then commit. */
  unprotectRtp(received: Buffer): SrtpResult {
    const protectedPacket = this.#withoutMki(received, this.#transform.rtpBytesAfterMki);
    if (protectedPacket === undefined) return drops.too_short;
    if (protectedPacket === false) return drops.auth_failed;
    const end = this.#lengthWithoutMki(protectedPacket) - this.#transform.rtpOverhead;
    if (end < rtpFixedHeaderLength) return drops.too_short;
    const headerLength = rtpHeaderLength(protectedPacket, end);
    if (headerLength < 0) return drops.bad_header;
    const seq = protectedPacket.readUInt16BE(2);
    const ssrc = protectedPacket.readUInt32BE(8);
    const window = this.#rtpReceivers.get(ssrc);
    let index = seq;
    if (window !== undefined) {
      index = estimatePacketIndex(window.highest, seq);
      if (index > maxPacketIndex) return drops.key_expired;
      const verdict = window.check(index);
      if (verdict === replayVerdict.replayed) return drops.replay;
      if (verdict === replayVerdict.tooOld) return drops.replay_too_old;
    }
    const roc = rolloverCounter(index);
    const streamRoc = rolloverCounter(
      window === undefined ? index : Math.max(window.highest, index),
    );
    const packet = this.#transform.unprotectRtp(
      protectedPacket,
      headerLength,
      ssrc,
      roc,
      seq,
      streamRoc,
    );
    if (packet === undefined) return drops[this.#transform.failure ?? 'auth_failed'];
    // Only an authenticated packet creates or moves receive state (RFC 3711 §3.3.1, §3.3.2).
    if (window === undefined) {
      this.#rtpReceivers.set(ssrc, new ReplayWindow(this.#windowSize, index));
    } else {
      window.commit(index);
    }
    return { ok: true, packet };
  }

  /** An RTCP (compound) packet to SRTCP, encrypted, with this SSRC's next SRTCP index (RFC 3711 §3.4). */
  protectRtcp(plain: Buffer): SrtpResult {
    if (plain.length < rtcpClearHeaderLength) return drops.too_short;
    if (!isRtcpVersion2(plain)) return drops.bad_header;
    const ssrc = plain.readUInt32BE(4);
    let sender = this.#rtcpSenders.get(ssrc);
    if (sender === undefined) {
      sender = { next: 0 };
      this.#rtcpSenders.set(ssrc, sender);
    }
    const index = sender.next;
    if (index > srtcpIndexMask) return drops.key_expired;
    sender.next = index + 1;
    const packet = this.#transform.protectRtcp(plain, ssrc, index, true);
    if (packet === undefined) return drops[this.#transform.failure ?? 'key_expired'];
    return { ok: true, packet: this.#withMki(packet, this.#transform.rtcpBytesAfterMki) };
  }

  /**
   * SRTCP to RTCP. Packets sent with E=0 (authenticated, not encrypted; RFC 3711
   * §3.4) are accepted too: their integrity is checked the same way.
   */
  unprotectRtcp(received: Buffer): SrtpResult {
    const protectedPacket = this.#withoutMki(received, this.#transform.rtcpBytesAfterMki);
    if (protectedPacket === undefined) return drops.too_short;
    if (protectedPacket === false) return drops.auth_failed;
    const length = this.#lengthWithoutMki(protectedPacket);
    if (length - this.#transform.rtcpOverhead < rtcpClearHeaderLength) return drops.too_short;
    if (!isRtcpVersion2(protectedPacket)) return drops.bad_header;
    const ssrc = protectedPacket.readUInt32BE(4);
    const word = protectedPacket.readUInt32BE(this.#transform.srtcpIndexOffset(length));
    const encrypted = word >= srtcpEncryptedFlag;
    const index = word & srtcpIndexMask;
    const window = this.#rtcpReceivers.get(ssrc);
    if (window !== undefined) {
      const verdict = window.check(index);
      if (verdict === replayVerdict.replayed) return drops.replay;
      if (verdict === replayVerdict.tooOld) return drops.replay_too_old;
    }
    const packet = this.#transform.unprotectRtcp(protectedPacket, ssrc, index, encrypted);
    if (packet === undefined) return drops[this.#transform.failure ?? 'auth_failed'];
    if (window === undefined) {
      this.#rtcpReceivers.set(ssrc, new ReplayWindow(this.#windowSize, index));
    } else {
      window.commit(index);
    }
    return { ok: true, packet };
  }

  #withMki(packet: Buffer, bytesAfterMki: number): Buffer {
    if (this.#mki === undefined || this.#transform.handlesMki === true) return packet;
    return insertMki(packet, this.#mki, bytesAfterMki);
  }

  /** A packet's length as the RFC's layout counts it: without the MKI the transform may have left in. */
  #lengthWithoutMki(packet: Buffer): number {
    const mki = this.#mki;
    return mki !== undefined && this.#transform.handlesMki === true
      ? packet.length - mki.length
      : packet.length;
  }

  /**
   * The packet as the transform expects it, undefined when too short to hold
   * the MKI, false when it carries another MKI: a key this session does not
   * hold, counted as auth_failed (the packet cannot be authenticated here).
   */
  #withoutMki(packet: Buffer, bytesAfterMki: number): Buffer | undefined | false {
    const mki = this.#mki;
    if (mki === undefined) return packet;
    const verdict = matchMki(packet, mki, bytesAfterMki);
    if (verdict === mkiMatch.tooShort) return undefined;
    if (verdict === mkiMatch.mismatch) return false;
    // The libsrtp engine takes the MKI out in its own buffer: no copy here.
    if (this.#transform.handlesMki === true) return packet;
    return removeMki(packet, mki.length, bytesAfterMki);
  }
}

/** The transform of an engine, with its session keys derived once (key_derivation_rate 0). */
export function createTransform(
  keys: SrtpKeyingMaterial,
  engine: SrtpEngineName = 'node',
  replayWindow = defaultReplayWindowSize,
  mki?: Buffer,
): SrtpTransform {
  if (engine === 'node') return createNodeTransform(keys);
  const loaded = loadLibsrtpAddon();
  if ('error' in loaded) {
    throw new SrtpEngineError(`the libsrtp engine's addon is not loaded: ${loaded.error}`);
  }
  return new LibsrtpTransform(loaded.addon, keys, replayWindow, mki);
}
