/**
 * What feeds an RTSP path: a camera pulled over RTSP, a publisher pushing
 * with ANNOUNCE/RECORD, or the built-in demo clip. The path (the proxy's
 * rtp-proxy/media/rtsp/stream-path.ts, or the SFU's camera pull) fans a
 * source's packets out and hides the source's restarts from its viewers; a
 * source only has to deliver packets and say when it is up or down.
 */
import { rtpMaps, type Sdp } from '../../protocol/sdp/index.js';

export type TrackKind = 'audio' | 'video' | 'other';

export interface SourceTrack {
  /** Index of the media section in the source's SDP; packets name their track by it. */
  readonly index: number;
  readonly kind: TrackKind;
  /** Encoding name upper-cased, from the first rtpmap ('H264', 'H265', 'PCMU', ...). */
  readonly encoding: string;
  /** RTP clock rate in Hz; 90000 when the SDP does not say. */
  readonly clockRate: number;
}

export interface SourceDescription {
  /** The session description as the source gave it (camera URLs included). */
  readonly sdp: Sdp;
  readonly tracks: readonly SourceTrack[];
}

export type SourceState = 'idle' | 'connecting' | 'playing' | 'retrying' | 'closed';

/** Why an attempt to bring a source up (or keep it up) failed. */
export interface SourceFailure {
  /** For a person (a viewer's reason header, /streams); never carries credentials. */
  readonly message: string;
  /** The error's stable code (StreammeshError.code), when it has one. */
  readonly code: string | null;
}

export interface SourceListener {
  /** The source delivers media: the first time, or again after being down. */
  ready(description: SourceDescription): void;
  /** One RTP packet of track `track`. The buffer is the path's to keep and modify. */
  rtp(track: number, packet: Buffer): void;
  /** One RTCP (compound) packet about track `track`. */
  rtcp(track: number, packet: Buffer): void;
  /** The source stopped delivering; a camera retries on its own until closed. */
  down(reason: string): void;
  /**
   * An attempt failed: every failed attempt, also those of a source that was
   * never up (which say no down()), and before down() when it was up. A
   * viewer waiting for the source learns why at once instead of at a
   * timeout. Optional: a listener that needs only up and down leaves it out.
   */
  failed?(failure: SourceFailure): void;
}

export interface MediaSource {
  readonly state: SourceState;
  /** How media reaches the proxy now: 'udp' or 'tcp' (interleaved); null when not playing or in-process. */
  readonly transport: 'udp' | 'tcp' | null;
  /** Times the source was lost after having played. */
  readonly reconnects: number;
  /** The last failure, for /streams; null when none. */
  readonly lastError: string | null;
  /** Begins delivering to `listener`; called once. */
  start(listener: SourceListener): void;
  /** Stops for good: tears the upstream session down and frees sockets and timers. */
  close(): Promise<void>;
}

const STATIC_CLOCK_RATES: Readonly<Record<number, [string, number]>> = {
  0: ['PCMU', 8000],
  8: ['PCMA', 8000],
  9: ['G722', 8000],
  14: ['MPA', 90000],
  26: ['JPEG', 90000],
  32: ['MPV', 90000],
  33: ['MP2T', 90000],
};

/** The tracks of a session description, one per media section. */
export function describeTracks(sdp: Sdp): SourceTrack[] {
  return sdp.media.map((media, index) => {
    const kind: TrackKind = media.kind === 'audio' || media.kind === 'video' ? media.kind : 'other';
    const map = rtpMaps(media)[0];
    const staticType = STATIC_CLOCK_RATES[Number(media.formats[0])];
    const encoding = (map?.encoding ?? staticType?.[0] ?? '').toUpperCase();
    const clockRate = map?.clockRate ?? staticType?.[1] ?? 90000;
    return { index, kind, encoding, clockRate };
  });
}
