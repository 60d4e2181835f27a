/**
 * Public types of a proxy-to-proxy hop: options of both ends, what a received
 * packet comes out as, and the snapshot for /streams-style JSON.
 */
import type { SrtpDropReason } from '../../protocol/srtp/index.js';
import type { MediaKind, QualitySnapshot } from '../quality/index.js';

/**
 * Why a hop dropped a packet: the SRTP reasons (auth_failed, replay, ...)
 * and `unknown_key`, a packet whose MKI names no epoch this end holds (never
 * delivered, expired after the overlap, or garbage).
 */
export type HopDropReason = SrtpDropReason | 'unknown_key';

export type HopDropCounts = Record<HopDropReason, number>;

export type HopPacketKind = 'rtp' | 'rtcp';

export type HopReceiveResult =
  | {
      readonly ok: true;
      readonly kind: HopPacketKind;
      /** Decrypted and authenticated. */
      readonly packet: Buffer;
      /** The key epoch the packet was protected with. */
      readonly epoch: number;
    }
  | { readonly ok: false; readonly reason: HopDropReason };

/** How a payload type is measured: RTP clock rate and media kind. */
export interface HopPayloadType {
  readonly clockRate: number;
  readonly kind: MediaKind;
}

export interface HopEndOptions {
  /**
   * How long the previous epoch stays usable after the last packet that used
   * it (and after the first packet of the new one). Default 2000 ms.
   */
  readonly overlapGraceMs?: number;
  /** The longest the previous epoch stays usable after the switch, whatever comes. Default 30 s. */
  readonly maxOverlapMs?: number;
  /** SRTP replay window per SSRC (packets). Default 128. */
  readonly replayWindow?: number;
  /** Clock rate and kind per payload type; others are measured as 90 kHz video. */
  readonly payloadTypes?: ReadonlyMap<number, HopPayloadType>;
  /** SSRCs measured per hop; packets of further SSRCs pass unmeasured. Default 64. */
  readonly maxStreams?: number;
}

export interface HopEpochsSnapshot {
  /** The epoch in use: the sender protects with it, the receiver last switched to it. */
  readonly current: number | null;
  /** Still accepted during the overlap, or null. */
  readonly previous: number | null;
  /** The oldest key installed at the receiver and not yet seen on the wire, or null. */
  readonly next: number | null;
  /** notAfter of the current epoch's key (Unix ms), or null. */
  readonly notAfter: number | null;
}

export interface HopSnapshot {
  readonly hopId: string;
  readonly role: 'sender' | 'receiver';
  readonly epochs: HopEpochsSnapshot;
  /** Packets protected (sender) or accepted (receiver). */
  readonly rtpPackets: number;
  readonly rtcpPackets: number;
  /** Packets that were dropped, by reason: a reason with no drop is absent. */
  readonly drops: Partial<HopDropCounts>;
  /**
   * Loss over the hop: at the receiver measured (lost / expected of all
   * streams), at the sender as the receiver's last RR said (the largest fraction).
   */
  readonly lossFraction: number;
  /** Largest interarrival jitter of the hop's streams (ms), measured or as reported. */
  readonly jitterMs: number;
  /** Round trip sender -> receiver -> sender from RTCP SR/RR (§6.4.1); sender side only. */
  readonly rttMs: number | null;
  readonly streams: QualitySnapshot[];
}
