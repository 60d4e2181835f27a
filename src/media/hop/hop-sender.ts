/**
 * The sending end of a proxy-to-proxy hop (the camera's owner proxy):
 * protects RTP/RTCP under the hop's current key epoch, switches to the next
 * epoch at a packet boundary on `rotate`, and reads the receiver's reports
 * coming back over the hop for the loss and jitter it saw and the round trip
 * (RFC 3550 §6.4.1, LSR/DLSR against the SRs that left through here).
 *
 * Per SSRC, the switch happens at that stream's next packet, except within
 * `wrapGuard` sequence numbers before a wrap: SRTP's rollover counter starts
 * at 0 under a new key (RFC 3711 §3.3.1), so if the first packets of the new
 * epoch straddled a wrap and arrived reordered, the receiver would give the
 * post-wrap one ROC 0 and fail it. Such a stream switches right after the
 * wrap (at most `wrapGuard` packets later); the receiver still accepts the
 * previous epoch meanwhile (hop-epochs.ts). RTCP switches at once: the SRTCP
 * index has no rollover.
 */
import { middle32, ntpFromUnixMs, parseRtcpCompound } from '../../protocol/rtcp/index.js';
import {
  isRtcpPacket,
  rtpPayloadType,
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
} from '../../protocol/rtp/index.js';
import type { HopKey, SrtpResult } from '../../protocol/srtp/index.js';
import { HopDrops } from './drop-counts.js';
import { HopEpochs, type HopEpoch } from './hop-epochs.js';
import { HopStreams } from './hop-streams.js';
import type { HopEndOptions, HopReceiveResult, HopSnapshot } from './hop-types.js';
import { unprotectHopPacket } from './hop-unprotect.js';

/** Sequence numbers before a wrap in which a stream keeps its old epoch (the replay window). */
export const wrapGuard = 128;
const seqModulus = 0x1_0000;
const notRtp: SrtpResult = Object.freeze({ ok: false, reason: 'bad_header' });

export interface HopSenderOptions extends HopEndOptions {
  /**
   * The hop's first key. A key protects with packet indices from 0, so two
   * senders (or one restarted) must never be given the same key: with GCM a
   * repeated index under one key gives the authentication key away. A new
   * sender instance gets a new epoch from the control plane.
   */
  readonly key: HopKey;
}

export class HopSender {
  readonly hopId: string;
  readonly #epochs: HopEpochs;
  readonly #streams: HopStreams;
  readonly #drops = new HopDrops();
  /** The epoch packets go out with, and the one before it (for streams near a wrap). */
  #current: HopEpoch;
  #previous: HopEpoch | undefined;
  #rtpPackets = 0;
  #rtcpPackets = 0;

  /** Throws SrtpKeyError for a malformed key, HopOptionsError for a bad option. */
  constructor(options: HopSenderOptions) {
    this.hopId = options.key.hopId;
    this.#epochs = new HopEpochs(options.key.hopId, options);
    this.#current = this.#epochs.install(options.key);
    this.#streams = new HopStreams(options);
  }

  get epoch(): number {
    return this.#current.epoch;
  }

  /**
   * From the next packet on, protect with `next` (a newer epoch of this hop).
   * The control plane must have installed it at the receiver first. Throws
   * (and changes nothing) for a malformed, foreign or not newer key.
   */
  rotate(next: HopKey, nowMs: number): void {
    const entry = this.#epochs.install(next);
    if (entry === this.#current) return;
    this.#epochs.promote(entry, nowMs);
    this.#previous = this.#current;
    this.#current = entry;
  }

  /**
   * RTP to SRTP for the hop. Dropped (counted as bad_header): what is not RTP
   * version 2, and RTP whose marker and payload type read as an RTCP packet
   * type (payload types 64-95, which RFC 5761 §4 rules out where RTP and
   * RTCP share a port, as on a hop): the receiver would take it for RTCP.
   */
  protectRtp(plain: Buffer, nowMs: number): SrtpResult {
    if (plain.length < 12 || plain.readUInt8(0) >>> 6 !== 2 || isRtcpPacket(plain)) {
      this.#drops.count('bad_header');
      return notRtp;
    }
    const ssrc = rtpSsrc(plain);
    const seq = rtpSequenceNumber(plain);
    const stream = this.#streams.get(ssrc, rtpPayloadType(plain), nowMs);
    let epoch = this.#current;
    if (stream !== undefined) {
      epoch = this.#epochFor(stream.epoch, seq);
      stream.epoch = epoch;
      stream.quality.onRtp(seq, rtpTimestamp(plain), rtpPayloadType(plain), plain.length, nowMs);
    }
    const result = epoch.session.protectRtp(plain);
    if (result.ok) this.#rtpPackets++;
    else this.#drops.count(result.reason);
    return result;
  }

  /** RTCP to SRTCP for the hop under the current epoch; SRs are remembered for the RTT. */
  protectRtcp(plain: Buffer, nowMs: number): SrtpResult {
    const parsed = parseRtcpCompound(plain);
    if (parsed.ok) {
      for (const packet of parsed.packets) {
        if (packet.type !== 'sr') continue;
        const ntp = { seconds: packet.ntpSeconds, fraction: packet.ntpFraction };
        this.#streams.find(packet.ssrc)?.quality.onSenderReport(middle32(ntp), nowMs);
      }
    }
    const result = this.#current.session.protectRtcp(plain);
    if (result.ok) this.#rtcpPackets++;
    else this.#drops.count(result.reason);
    return result;
  }

  /**
   * A datagram coming back over the hop (the receiver's RR/SDES): unprotected
   * under the current or previous epoch, its report blocks kept per stream.
   * Never throws; drops are counted with the same reasons as a receiver's.
   * `nowMs` is Unix time (the RTT falls back to NTP arithmetic on it).
   */
  receiveRtcp(packet: Buffer, nowMs: number): HopReceiveResult {
    const result = unprotectHopPacket(this.#epochs, this.#drops, packet, nowMs);
    if (!result.ok || result.kind !== 'rtcp') return result;
    const parsed = parseRtcpCompound(result.packet);
    if (!parsed.ok) return result;
    const nowNtp = middle32(ntpFromUnixMs(nowMs));
    for (const packet of parsed.packets) {
      if (packet.type !== 'rr' && packet.type !== 'sr') continue;
      for (const block of packet.reports) {
        this.#streams.find(block.ssrc)?.quality.onReceiverReport('hop', block, nowNtp, nowMs);
      }
    }
    return result;
  }

  drops(): HopSnapshot['drops'] {
    return this.#drops.snapshot();
  }

  snapshot(nowMs: number): HopSnapshot {
    const streams = this.#streams.snapshots(nowMs);
    let lossFraction = 0;
    let jitterMs = 0;
    let rttMs: number | null = null;
    for (const stream of streams) {
      for (const report of stream.downstream) {
        lossFraction = Math.max(lossFraction, report.fractionLost);
        jitterMs = Math.max(jitterMs, report.jitterMs);
        if (report.rttMs !== null) rttMs = Math.max(rttMs ?? 0, report.rttMs);
      }
    }
    return {
      hopId: this.hopId,
      role: 'sender',
      epochs: this.#epochs.snapshot(nowMs),
      rtpPackets: this.#rtpPackets,
      rtcpPackets: this.#rtcpPackets,
      drops: this.#drops.snapshot(),
      lossFraction,
      jitterMs,
      rttMs,
      streams,
    };
  }

  /** The epoch a stream's packet goes out with: see the comment on top. */
  #epochFor(streamEpoch: HopEpoch | undefined, seq: number): HopEpoch {
    const current = this.#current;
    if (
      streamEpoch !== undefined &&
      streamEpoch !== current &&
      streamEpoch === this.#previous &&
      seq >= seqModulus - wrapGuard
    ) {
      return streamEpoch;
    }
    return current;
  }
}
