/**
 * Which measured stream a packet belongs to, for `Measure`. Two tables:
 *
 * - `SsrcStreamTable` (the relay): one stream per SSRC, created by its first
 *   packet, at most `maxStreams`, optionally only the first SSRC
 *   ('too_many_streams', 'unknown_ssrc'); streams leave by BYE or idleness.
 * - `TrackStream` (RTSP path, camera pull): one stream per track whatever
 *   the SSRC, created by the first packet of a source epoch; `restart()`
 *   begins a fresh measurement when the source comes back.
 */
import { StreamQuality, type MediaKind } from '../quality/index.js';
import type { DropReason } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

export const TOO_MANY_STREAMS = 'too_many_streams';
export const UNKNOWN_SSRC = 'unknown_ssrc';

export interface MeasuredStream {
  readonly quality: StreamQuality;
  /** Arrival time of its last packet (chain clock, ms). */
  lastSeenMs: number;
}

export interface StreamResolver {
  /** The packet's stream (created if admitted), or why it is refused. */
  resolve(packet: MediaPacket): MeasuredStream | DropReason;
}

export interface StreamKind {
  readonly clockRate: number;
  readonly kind: MediaKind;
}

export interface SsrcStreamTableOptions extends StreamKind {
  readonly maxStreams: number;
  /** Admit only the first SSRC seen (latch.ssrc). */
  readonly onlyFirstSsrc: boolean;
  /** A new stream was admitted (the relay starts its receiver reports). */
  readonly onNewStream?: (stream: MeasuredStream) => void;
}

function newStream(ssrc: number, kind: StreamKind, startMs: number): MeasuredStream {
  return {
    quality: new StreamQuality({ ssrc, clockRate: kind.clockRate, kind: kind.kind, startMs }),
    lastSeenMs: startMs,
  };
}

export class SsrcStreamTable implements StreamResolver {
  readonly streams = new Map<number, MeasuredStream>();
  readonly #options: SsrcStreamTableOptions;
  #firstSsrc: number | undefined;

  constructor(options: SsrcStreamTableOptions) {
    this.#options = options;
  }

  resolve(packet: MediaPacket): MeasuredStream | DropReason {
    const known = this.streams.get(packet.ssrc);
    if (known !== undefined) return known;
    const ssrc = packet.ssrc;
    if (this.#options.onlyFirstSsrc && this.#firstSsrc !== undefined && this.#firstSsrc !== ssrc) {
      return UNKNOWN_SSRC;
    }
    if (this.streams.size >= this.#options.maxStreams) return TOO_MANY_STREAMS;
    this.#firstSsrc ??= ssrc;
    const stream = newStream(ssrc, this.#options, packet.arrivalMs);
    this.streams.set(ssrc, stream);
    this.#options.onNewStream?.(stream);
    return stream;
  }

  /** Streams silent since before `cutoffMs` leave (their metric series with them). */
  forgetIdle(cutoffMs: number): void {
    for (const [ssrc, stream] of this.streams) {
      if (stream.lastSeenMs < cutoffMs) this.streams.delete(ssrc);
    }
  }
}

export class TrackStream implements StreamResolver {
  readonly #kind: StreamKind;
  #stream: MeasuredStream | undefined;

  constructor(kind: StreamKind) {
    this.#kind = kind;
  }

  /** The current epoch's measurement; undefined before its first packet. */
  get quality(): StreamQuality | undefined {
    return this.#stream?.quality;
  }

  /** A new source epoch: the next packet starts a fresh measurement. */
  restart(): void {
    this.#stream = undefined;
  }

  resolve(packet: MediaPacket): MeasuredStream {
    this.#stream ??= newStream(packet.ssrc, this.#kind, packet.arrivalMs);
    return this.#stream;
  }
}
