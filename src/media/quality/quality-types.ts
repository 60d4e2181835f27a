/**
 * Public types of the per-stream quality measurement. Units are part of every
 * name or stated next to it: RTCP wire units (RTP timestamp units, 1/65536 s,
 * 1/256) in `ReportBlockValues`, milliseconds and plain fractions in
 * `QualitySnapshot`.
 */

/**
 * Milliseconds, injectable. Same shape as `Clock` in src/shared/clock.ts, so
 * `systemClock` fits. `StreamQuality` never reads a clock itself: the caller
 * reads one and passes the time into each call, which keeps the per-packet
 * path free of calls and lets tests state exact times.
 */
export interface QualityClock {
  now(): number;
}

export type MediaKind = 'audio' | 'video';

/** Codecs the E-model knows parameters for; see e-model.ts. */
export type MosCodec = 'g711' | 'opus';

export interface StreamQualityOptions {
  /** The SSRC this object measures (0 .. 2^32-1); copied into report blocks. */
  readonly ssrc: number;
  /** RTP clock rate in Hz (8000, 48000, 90000, ...). */
  readonly clockRate: number;
  readonly kind: MediaKind;
  /** When the stream was set up, in the caller's clock (ms). Starts the bitrate window. */
  readonly startMs: number;
  /**
   * Audio codec for the MOS estimate. When absent it follows the last payload
   * type: 0 (PCMU) and 8 (PCMA) are 'g711', anything else 'opus'.
   */
  readonly codec?: MosCodec;
}

/**
 * What `onRtp` decided about one packet. The relay passes 'ok', 'reordered'
 * and 'restart' and may drop 'duplicate' and 'late'. Exact rules are in the
 * comment on top of stream-quality.ts.
 */
export type PacketClass = 'ok' | 'duplicate' | 'reordered' | 'late' | 'restart';

/**
 * One RTCP reception report block (RFC 3550 §6.4.1) as numbers, in wire units.
 * Serializing (24-bit two's complement for `cumulativeLost`, 8 bits for
 * `fractionLost`) is the RTCP codec's job.
 */
export interface ReportBlockValues {
  /** SSRC_n: the source this block is about. */
  ssrc: number;
  /** Fraction lost since the previous report, fixed point: 0..255 = lost/256. */
  fractionLost: number;
  /** Cumulative number of packets lost, signed, clamped to [-0x800000, 0x7fffff]. */
  cumulativeLost: number;
  /** Extended highest sequence number received: cycles in the high 16 bits (uint32). */
  highestSequence: number;
  /** Interarrival jitter in RTP timestamp units (uint32). */
  jitter: number;
  /** LSR: middle 32 bits of the NTP timestamp of the last SR received, 0 if none. */
  lastSr: number;
  /** DLSR: delay since that SR arrived, in 1/65536 s, 0 if none. */
  delaySinceLastSr: number;
}

/** The latest report a downstream receiver sent about this stream. */
export interface DownstreamReport {
  /** The key the caller gave (e.g. the receiver's address or SSRC). */
  receiver: string;
  /** Fraction lost in the receiver's last interval, 0..1 (the wire value / 256). */
  fractionLost: number;
  /** As reported: signed. */
  cumulativeLost: number;
  /** The receiver's interarrival jitter converted to ms with this stream's clock rate. */
  jitterMs: number;
  /** Round trip this hop -> receiver -> this hop (§6.4.1), or null when it cannot be computed. */
  rttMs: number | null;
  /** How long ago that report arrived. */
  ageMs: number;
}

export interface QualitySnapshot {
  ssrc: number;
  kind: MediaKind;
  clockRate: number;
  /** Payload type of the last packet with a new sequence number; -1 before any. */
  payloadType: number;
  /** Every packet and byte seen, whatever its class. */
  packets: number;
  bytes: number;
  /** Bits per second over the last 1-2 s (two 1 s buckets). */
  bitrateBps: number;
  /** RFC 3550 A.3, cumulative since the last (re)sync: extended max - base + 1. */
  expected: number;
  /** expected - received; negative when duplicates outnumber losses, as the RFC has it. */
  lost: number;
  /** lost / expected clamped to [0, 1]; 0 while expected is 0. */
  lossFraction: number;
  /** RFC 3550 A.8 interarrival jitter in ms. */
  jitterMs: number;
  /** Mean of the A.8 estimate over every packet that updated it, in ms. */
  jitterMeanMs: number;
  /** Largest A.8 estimate seen, in ms. */
  jitterMaxMs: number;
  duplicates: number;
  reordered: number;
  late: number;
  /** Confirmed resyncs (A.1 "bad_seq" rule), not packets classified 'restart'. */
  restarts: number;
  /** Audio: estimated MOS (see e-model.ts); video: null. */
  mos: number | null;
  /** Least recently updated first; at most 32. */
  downstream: DownstreamReport[];
}
