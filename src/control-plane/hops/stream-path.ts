/**
 * One camera stream's whole path as GET /streams/<path>/hops shows it:
 * camera -> owner -> edges -> viewers, each hop with what was measured on
 * it, so the hop that degrades a stream stands out.
 *
 * The figures come from the proxies' stats reports (the registry keeps the
 * latest of each; a proxy's is rtp-proxy's ProxyStatsReport). A report
 * comes from the network: only the fields read here are read, each checked
 * for its type, and what does not fit is skipped, never trusted.
 * - camera -> owner: the owner's RTSP track stats for the path, the worst
 *   track (highest loss, then jitter).
 * - owner -> edge: the planner's hop; loss, jitter, packets and drops from
 *   the receiver's report of it (it measures what arrives), the round trip
 *   from the sender's (it gets the receiver's RTCP reports).
 * - proxy -> viewers: every proxy with viewers of the path, owner included.
 */
import type { HopStats } from '../../protocol/mesh/index.js';
import type { NodeStatsView } from '../registry/index.js';
import type { HopView } from './hop-planner.js';

interface TrackStats {
  readonly path: string;
  readonly packets: number;
  readonly lossFraction: number;
  readonly jitterMs: number;
  readonly viewers: number;
}

export interface CameraHop {
  readonly from: 'camera';
  readonly to: string;
  readonly kind: 'camera';
  readonly lossFraction: number | null;
  readonly jitterMs: number | null;
  readonly packets: number | null;
}

export interface ProxyHop {
  readonly from: string;
  readonly to: string;
  readonly kind: 'proxy';
  readonly hopId: string;
  readonly lossFraction: number | null;
  readonly jitterMs: number | null;
  readonly rttMs: number | null;
  readonly packets: number | null;
  readonly drops: number | null;
}

export interface ViewersHop {
  readonly from: string;
  readonly to: 'viewers';
  readonly kind: 'viewers';
  readonly viewers: number;
}

export interface StreamHopsView {
  readonly path: string;
  readonly session: string;
  /** The proxy that pulls the camera; null while the session is not placed. */
  readonly owner: string | null;
  readonly hops: (CameraHop | ProxyHop | ViewersHop)[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFigure(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** The report's `hops` entries that have the shape of HopStats; the others are skipped. */
export function hopStatsOf(stats: unknown): HopStats[] {
  if (!isRecord(stats) || !Array.isArray(stats['hops'])) return [];
  const hops: HopStats[] = [];
  for (const entry of stats['hops'] as unknown[]) {
    if (!isRecord(entry)) continue;
    const { hopId, session, role, peer, rtpPackets, lossFraction, jitterMs, rttMs, drops } = entry;
    if (typeof hopId !== 'string' || typeof session !== 'string' || typeof peer !== 'string') {
      continue;
    }
    if (role !== 'sender' && role !== 'receiver') continue;
    if (![rtpPackets, lossFraction, jitterMs, drops].every(isFigure)) continue;
    if (rttMs !== null && !isFigure(rttMs)) continue;
    hops.push({
      hopId,
      session,
      role,
      peer,
      rtpPackets: rtpPackets as number,
      lossFraction: lossFraction as number,
      jitterMs: jitterMs as number,
      rttMs,
      drops: drops as number,
    });
  }
  return hops;
}

/** The report's RTSP track stats of `path` that have the fields read here. */
function tracksOf(stats: unknown, path: string): TrackStats[] {
  if (!isRecord(stats) || !Array.isArray(stats['rtsp'])) return [];
  const tracks: TrackStats[] = [];
  for (const entry of stats['rtsp'] as unknown[]) {
    if (!isRecord(entry) || entry['path'] !== path) continue;
    const { packets, lossFraction, jitterMs, viewers } = entry;
    if (![packets, lossFraction, jitterMs, viewers].every(isFigure)) continue;
    tracks.push({
      path,
      packets: packets as number,
      lossFraction: lossFraction as number,
      jitterMs: jitterMs as number,
      viewers: viewers as number,
    });
  }
  return tracks;
}

function worstTrack(tracks: readonly TrackStats[]): TrackStats | undefined {
  let worst: TrackStats | undefined;
  for (const track of tracks) {
    if (
      worst === undefined ||
      track.lossFraction > worst.lossFraction ||
      (track.lossFraction === worst.lossFraction && track.jitterMs > worst.jitterMs)
    ) {
      worst = track;
    }
  }
  return worst;
}

export interface StreamPathInput {
  readonly path: string;
  readonly session: string;
  readonly owner: string | null;
  /** The session's hops (the planner's). */
  readonly hops: readonly HopView[];
  /** Every node's latest report (registry.stats()). */
  readonly reports: readonly NodeStatsView[];
}

export function streamHopsView(input: StreamPathInput): StreamHopsView {
  const { path, session, owner } = input;
  const reports = new Map(
    input.reports
      .filter((report) => report.role === 'ROLE_PROXY')
      .map((report) => [report.id, report.stats]),
  );
  const hops: StreamHopsView['hops'] = [];
  if (owner !== null) {
    const worst = worstTrack(tracksOf(reports.get(owner), path));
    hops.push({
      from: 'camera',
      to: owner,
      kind: 'camera',
      lossFraction: worst?.lossFraction ?? null,
      jitterMs: worst?.jitterMs ?? null,
      packets: worst?.packets ?? null,
    });
  }
  for (const hop of input.hops) {
    const measured = (node: string, role: HopStats['role']): HopStats | undefined =>
      hopStatsOf(reports.get(node)).find(
        (stats) => stats.hopId === hop.hopId && stats.role === role,
      );
    const received = measured(hop.receiver, 'receiver');
    const sent = measured(hop.sender, 'sender');
    hops.push({
      from: hop.sender,
      to: hop.receiver,
      kind: 'proxy',
      hopId: hop.hopId,
      lossFraction: received?.lossFraction ?? null,
      jitterMs: received?.jitterMs ?? null,
      rttMs: sent?.rttMs ?? null,
      packets: received?.rtpPackets ?? null,
      drops: received?.drops ?? null,
    });
  }
  const withViewers = [...reports]
    .map(([node, stats]) => ({
      node,
      viewers: Math.max(0, ...tracksOf(stats, path).map((track) => track.viewers)),
    }))
    .filter(({ viewers }) => viewers > 0)
    // The owner first, then the edges by id.
    .sort((a, b) =>
      a.node === owner ? -1 : b.node === owner ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : 0,
    );
  for (const { node, viewers } of withViewers) {
    hops.push({ from: node, to: 'viewers', kind: 'viewers', viewers });
  }
  return { path, session, owner, hops };
}
