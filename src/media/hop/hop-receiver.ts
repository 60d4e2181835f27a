/**
 * The receiving end of a proxy-to-proxy hop (an edge proxy): unprotects the
 * owner's SRTP/SRTCP under the hop's key epochs (hop-epochs.ts), measures each
 * stream (RFC 3550 loss and jitter, src/media/quality), remembers the owner's
 * SRs, and writes the receiver reports that carry LSR/DLSR back, so the
 * sending end can compute the hop's round trip (§6.4.1).
 *
 * Keys: `install` every key the control plane sends, before the sender
 * switches to it; the switch itself follows the packets (the first packet of
 * the new epoch), not a message, so it needs no coordination in time.
 */
import { randomInt } from 'node:crypto';
import {
  buildReceiverReport,
  buildSdesCname,
  middle32,
  parseRtcpCompound,
} from '../../protocol/rtcp/index.js';
import {
  rtpPayloadType,
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
} from '../../protocol/rtp/index.js';
import type { HopKey } from '../../protocol/srtp/index.js';
import { HopDrops } from './drop-counts.js';
import { HopEpochs } from './hop-epochs.js';
import { HopStreams } from './hop-streams.js';
import type { HopEndOptions, HopReceiveResult, HopSnapshot } from './hop-types.js';
import { unprotectHopPacket } from './hop-unprotect.js';

export interface HopReceiverOptions extends HopEndOptions {
  readonly hopId: string;
  /**
   * SSRC of this end's receiver reports. Default: random. Both ends protect
   * RTCP with one key, so it must differ from every SSRC the sender uses (the
   * SRTCP IV is built from SSRC and index): on a clash it is replaced.
   */
  readonly reporterSsrc?: number;
  /** CNAME in the reports' SDES. Default `hop-receiver`. */
  readonly cname?: string;
}

export class HopReceiver {
  readonly hopId: string;
  #reporterSsrc: number;
  readonly #cname: string;
  readonly #epochs: HopEpochs;
  readonly #streams: HopStreams;
  readonly #drops = new HopDrops();
  #rtpPackets = 0;
  #rtcpPackets = 0;

  constructor(options: HopReceiverOptions) {
    this.hopId = options.hopId;
    this.#epochs = new HopEpochs(options.hopId, options);
    this.#streams = new HopStreams(options);
    this.#reporterSsrc = options.reporterSsrc ?? randomInt(1, 0xffff_ffff);
    this.#cname = options.cname ?? 'hop-receiver';
  }

  get reporterSsrc(): number {
    return this.#reporterSsrc;
  }

  /** Holds a key of this hop (current if first, else next). Throws on a bad or stale key. */
  install(key: HopKey): void {
    this.#epochs.install(key);
  }

  /** One datagram from the hop: the plain packet, or a drop (counted). Never throws. */
  receive(packet: Buffer, nowMs: number): HopReceiveResult {
    const result = unprotectHopPacket(this.#epochs, this.#drops, packet, nowMs);
    if (!result.ok) return result;
    const plain = result.packet;
    if (result.kind === 'rtp') {
      this.#rtpPackets++;
      this.#streams
        .get(rtpSsrc(plain), rtpPayloadType(plain), nowMs)
        ?.quality.onRtp(
          rtpSequenceNumber(plain),
          rtpTimestamp(plain),
          rtpPayloadType(plain),
          packet.length,
          nowMs,
        );
    } else {
      this.#rtcpPackets++;
      this.#onRtcp(plain, nowMs);
    }
    return result;
  }

  /**
   * A protected RR (one block per stream, with LSR/DLSR) and SDES CNAME to
   * send back over the hop, under the current epoch; undefined before the
   * first key. RFC 3550 §6.2 leaves the interval to the caller (e.g. 1 s).
   */
  receiverReport(nowMs: number): Buffer | undefined {
    const epoch = this.#epochs.current;
    if (epoch === undefined) return undefined;
    while (this.#streams.find(this.#reporterSsrc) !== undefined) {
      this.#reporterSsrc = randomInt(1, 0xffff_ffff);
    }
    const blocks = [...this.#streams.values()].map((stream) => stream.quality.reportBlock(nowMs));
    const plain = Buffer.concat([
      buildReceiverReport(this.#reporterSsrc, blocks),
      buildSdesCname(this.#reporterSsrc, this.#cname),
    ]);
    const result = epoch.session.protectRtcp(plain);
    return result.ok ? result.packet : undefined;
  }

  /** Drops by reason so far (`unknown_key`, `auth_failed`, `replay`, ...). */
  drops(): HopSnapshot['drops'] {
    return this.#drops.snapshot();
  }

  snapshot(nowMs: number): HopSnapshot {
    const streams = this.#streams.snapshots(nowMs);
    let expected = 0;
    let lost = 0;
    let jitterMs = 0;
    for (const stream of streams) {
      expected += stream.expected;
      lost += stream.lost;
      jitterMs = Math.max(jitterMs, stream.jitterMs);
    }
    return {
      hopId: this.hopId,
      role: 'receiver',
      epochs: this.#epochs.snapshot(nowMs),
      rtpPackets: this.#rtpPackets,
      rtcpPackets: this.#rtcpPackets,
      drops: this.#drops.snapshot(),
      lossFraction: expected > 0 && lost > 0 ? Math.min(1, lost / expected) : 0,
      jitterMs,
      rttMs: null,
      streams,
    };
  }

  /** The sender's SRs give LSR and its arrival time for the next RR (§6.4.1). */
  #onRtcp(plain: Buffer, nowMs: number): void {
    const parsed = parseRtcpCompound(plain);
    if (!parsed.ok) return;
    for (const packet of parsed.packets) {
      if (packet.type !== 'sr') continue;
      this.#streams
        .find(packet.ssrc)
        ?.quality.onSenderReport(
          middle32({ seconds: packet.ntpSeconds, fraction: packet.ntpFraction }),
          nowMs,
        );
    }
  }
}
