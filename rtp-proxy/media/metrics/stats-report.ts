/**
 * The proxy's stream quality for the control plane (sent with heartbeats,
 * shown at its GET /stats), as signaling nodes send theirs: per relayed
 * stream (route, SSRC) and per RTSP path track, what /streams shows of it —
 * packets, bytes, loss, jitter, bitrate, MOS, the worst downstream report.
 *
 * A proxy may hold 4096 routes of 16 streams each, far more than a report
 * may carry (MAX_STATS_JSON_LENGTH): the report holds the first
 * MAX_REPORTED_STREAMS streams, relay streams in route order then path
 * tracks, and counts the rest in `omitted`.
 */
import type { QualitySnapshot } from '../../../src/media/quality/index.js';
import type { LatestRouteSource } from '../workers/index.js';
import type { HopStats } from '../../../src/protocol/mesh/index.js';
import type { CameraMesh } from '../mesh/index.js';
import type { RtspService, RtspSnapshot } from '../rtsp/index.js';

/** At most ~400 bytes of JSON each (test/unit/rtp-proxy/stats-report.test.ts), 1 MiB allowed. */
export const MAX_REPORTED_STREAMS = 1000;

/** What both kinds of stream report: the measurement at this hop (RFC 3550 A.3, A.8). */
export interface MeasuredStats {
  readonly ssrc: number;
  readonly packets: number;
  readonly bytes: number;
  readonly lost: number;
  readonly lossFraction: number;
  readonly jitterMs: number;
  readonly bitrateBps: number;
}

export interface RelayStreamStats extends MeasuredStats {
  readonly route: string;
  readonly kind: string;
  /** Audio only: estimated MOS. */
  readonly mos: number | null;
  /** The worst of what downstream receivers report (RTCP RR), or null before any. */
  readonly downstream: {
    readonly fractionLost: number;
    readonly jitterMs: number;
    readonly rttMs: number | null;
  } | null;
}

export interface RtspTrackStats extends MeasuredStats {
  readonly path: string;
  readonly track: number;
  readonly kind: string;
  readonly upstream: RtspSnapshot['paths'][number]['upstream']['state'];
  readonly viewers: number;
}

export interface ProxyStatsReport {
  readonly at: string;
  readonly relay: readonly RelayStreamStats[];
  readonly rtsp: readonly RtspTrackStats[];
  /** The camera hops this proxy sends and receives (at most MAX_REPORTED_STREAMS). */
  readonly hops: readonly HopStats[];
  /** Streams left out to keep the report within MAX_REPORTED_STREAMS. */
  readonly omitted: number;
}

function measured(quality: QualitySnapshot): MeasuredStats {
  return {
    ssrc: quality.ssrc,
    packets: quality.packets,
    bytes: quality.bytes,
    lost: quality.lost,
    lossFraction: quality.lossFraction,
    jitterMs: quality.jitterMs,
    bitrateBps: quality.bitrateBps,
  };
}

function worstDownstream(quality: QualitySnapshot): RelayStreamStats['downstream'] {
  if (quality.downstream.length === 0) return null;
  const rtts = quality.downstream.flatMap((d) => (d.rttMs === null ? [] : [d.rttMs]));
  return {
    fractionLost: Math.max(...quality.downstream.map((d) => d.fractionLost)),
    jitterMs: Math.max(...quality.downstream.map((d) => d.jitterMs)),
    rttMs: rtts.length === 0 ? null : Math.max(...rtts),
  };
}

/** A relayed stream as the route table holds it. */
export interface RelayedStream {
  readonly route: string;
  readonly quality: QualitySnapshot;
}

/**
 * The report as of now; `rtsp.snapshot()` is the one /streams serves. The
 * relay's routes are as the media workers last gave them (at most about a
 * second old: the report is made on a heartbeat, which cannot wait).
 */
export function proxyStatsReport(
  relay: LatestRouteSource,
  rtsp: RtspService,
  mesh?: CameraMesh,
): ProxyStatsReport {
  function* relayed(): Generator<RelayedStream> {
    for (const route of relay.latestRoutes()) {
      for (const quality of route.streams) yield { route: route.name, quality };
    }
  }
  const report = buildStatsReport(relayed(), rtsp.snapshot().paths, new Date());
  return { ...report, hops: (mesh?.stats() ?? []).slice(0, MAX_REPORTED_STREAMS) };
}

/** The report of these streams, capped at MAX_REPORTED_STREAMS. Exported for tests. */
export function buildStatsReport(
  relayed: Iterable<RelayedStream>,
  paths: RtspSnapshot['paths'],
  at: Date,
): ProxyStatsReport {
  const relay: RelayStreamStats[] = [];
  let omitted = 0;
  for (const { route, quality } of relayed) {
    if (relay.length >= MAX_REPORTED_STREAMS) {
      omitted += 1;
      continue;
    }
    relay.push({
      route,
      kind: quality.kind,
      ...measured(quality),
      mos: quality.mos,
      downstream: worstDownstream(quality),
    });
  }
  const tracks: RtspTrackStats[] = [];
  for (const path of paths) {
    for (const track of path.tracks) {
      if (track.quality === null) continue;
      if (relay.length + tracks.length >= MAX_REPORTED_STREAMS) {
        omitted += 1;
        continue;
      }
      tracks.push({
        path: path.name,
        track: track.index,
        kind: track.kind,
        upstream: path.upstream.state,
        viewers: path.viewers,
        ...measured(track.quality),
      });
    }
  }
  return { at: at.toISOString(), relay, rtsp: tracks, hops: [], omitted };
}
