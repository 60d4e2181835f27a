/**
 * One SFU room's media path as GET /rooms/<room>/hops shows it (issue 18
 * point 6): publishers -> their node -> pipes to the other member nodes ->
 * viewers, each hop with what was measured on it, so the hop that degrades
 * a room stands out. The camera model is GET /streams/<path>/hops
 * (hops/stream-path.ts); this is its counterpart for rooms.
 *
 * The figures come from the signaling nodes' stats reports (the registry
 * keeps each node's latest; signaling/stats MediaStatsSnapshot). A report
 * comes from the network: only the fields read here are read, each checked
 * for its type and range, and an entry that does not fit is skipped, never
 * trusted. Only reports of the room's member nodes and pipe ends are read,
 * and a pipe hop is shown only for a PIPE the planner made, between its
 * two ends: a node cannot add a hop or speak for a pipe it is not an end of.
 * - publisher -> node: the node's Producers of the room, per peer.
 * - node -> node ('pipe'): both directions of each PIPE of the room. Loss,
 *   jitter and packets from the receiving end (its pipe Producers measure
 *   what arrives; the sender's view of loss, from RTCP, only when the
 *   receiver said nothing); the round trip, the worse of what either end
 *   measured; producers, the distinct producers either end pipes that way.
 * - node -> viewer: the node's Consumers of the room, per peer.
 */
import type { NodeStatsView } from '../registry/index.js';
import type { PipeView } from './pipe-planner.js';
import type { RoomShare } from './room-membership.js';

export interface RoomNodeView {
  readonly node: string;
  /** As the node's RoomReport says. */
  readonly peers: number;
  readonly producers: number;
  /** From its stats report; null while it sent none for the room. */
  readonly consumers: number | null;
}

export interface PipeHop {
  readonly from: string;
  readonly to: string;
  readonly kind: 'pipe';
  readonly pipeId: string;
  /** Producers piped from `from` to `to`: each crosses once, whatever its viewers. */
  readonly producers: number;
  readonly packets: number | null;
  readonly lossFraction: number | null;
  readonly jitterMs: number | null;
  readonly rttMs: number | null;
}

export interface PublisherHop {
  readonly peer: string;
  readonly node: string;
  readonly producers: number;
  readonly packets: number;
  readonly lossFraction: number;
  readonly jitterMs: number | null;
  readonly rttMs: number | null;
}

export interface ViewerHop {
  readonly peer: string;
  readonly node: string;
  readonly consumers: number;
  readonly packets: number;
  readonly lossFraction: number;
  readonly rttMs: number | null;
}

export interface RoomHopsView {
  readonly room: string;
  /** The room's home node; null while it has none. */
  readonly home: string | null;
  readonly nodes: RoomNodeView[];
  readonly hops: PipeHop[];
  readonly publishers: PublisherHop[];
  readonly viewers: ViewerHop[];
}

export interface RoomHopsInput {
  readonly room: string;
  readonly home: string | null;
  /** The nodes reporting the room (RoomMembership). */
  readonly shares: readonly RoomShare[];
  /** The room's PIPEs (PipePlanner.pipesOf). */
  readonly pipes: readonly PipeView[];
  /** Every node's latest report (registry.stats()). */
  readonly reports: readonly NodeStatsView[];
}

/** A pipe stream entry of a report, checked. */
interface PipeEntry {
  readonly producerId: string;
  readonly direction: 'in' | 'out';
  readonly pipeId: string;
  readonly remoteNode: string;
  readonly packets: number;
  readonly fractionLost: number;
  readonly jitterSeconds: number | undefined;
  readonly rttSeconds: number | undefined;
}

/** A participant's stream entry of a report, checked. */
interface StreamEntry {
  readonly peer: string;
  readonly direction: 'in' | 'out';
  readonly packets: number;
  readonly fractionLost: number;
  readonly jitterSeconds: number | undefined;
  readonly rttSeconds: number | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFigure(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isFraction(value: unknown): value is number {
  return isFigure(value) && value <= 1;
}

function isDirection(value: unknown): value is 'in' | 'out' {
  return value === 'in' || value === 'out';
}

/** An optional figure: absent is undefined, present must be a figure (else the entry is bad). */
function optionalFigure(value: unknown): number | undefined | false {
  if (value === undefined || value === null) return undefined;
  return isFigure(value) ? value : false;
}

/** The entries of `stats[field]` of this room, each read by `read` (undefined skips it). */
function entriesOf<T>(
  stats: unknown,
  field: string,
  room: string,
  read: (entry: Record<string, unknown>) => T | undefined,
): T[] {
  if (!isRecord(stats) || !Array.isArray(stats[field])) return [];
  const entries: T[] = [];
  for (const entry of stats[field] as unknown[]) {
    if (!isRecord(entry) || entry['room'] !== room) continue;
    const value = read(entry);
    if (value !== undefined) entries.push(value);
  }
  return entries;
}

function pipeEntry(entry: Record<string, unknown>): PipeEntry | undefined {
  const { producerId, direction, pipeId, remoteNode, packets, fractionLost } = entry;
  if (typeof producerId !== 'string' || typeof pipeId !== 'string') return undefined;
  if (typeof remoteNode !== 'string' || !isDirection(direction)) return undefined;
  if (!isFigure(packets) || !isFraction(fractionLost)) return undefined;
  const jitterSeconds = optionalFigure(entry['jitterSeconds']);
  const rttSeconds = optionalFigure(entry['roundTripTimeSeconds']);
  if (jitterSeconds === false || rttSeconds === false) return undefined;
  return {
    producerId,
    direction,
    pipeId,
    remoteNode,
    packets,
    fractionLost,
    jitterSeconds,
    rttSeconds,
  };
}

function streamEntry(entry: Record<string, unknown>): StreamEntry | undefined {
  const { peer, direction, packets, fractionLost } = entry;
  if (typeof peer !== 'string' || peer === '' || !isDirection(direction)) return undefined;
  if (!isFigure(packets) || !isFraction(fractionLost)) return undefined;
  const jitterSeconds = optionalFigure(entry['jitterSeconds']);
  const rttSeconds = optionalFigure(entry['roundTripTimeSeconds']);
  if (jitterSeconds === false || rttSeconds === false) return undefined;
  return { peer, direction, packets, fractionLost, jitterSeconds, rttSeconds };
}

/** The node's consumers in the room from its report's `rooms`; null when absent or bad. */
function consumersOf(stats: unknown, room: string): number | null {
  const counts = entriesOf(stats, 'rooms', room, (entry) =>
    isFigure(entry['consumers']) ? entry['consumers'] : undefined,
  );
  return counts[0] ?? null;
}

/** The largest value; undefined for none (a loop: a report's arrays may be long). */
function maxOf(values: readonly (number | undefined)[]): number | undefined {
  let max: number | undefined;
  for (const value of values) {
    if (value !== undefined && (max === undefined || value > max)) max = value;
  }
  return max;
}

/** The largest of the figures present, in milliseconds; null when none is. */
function worstMs(seconds: readonly (number | undefined)[]): number | null {
  const max = maxOf(seconds);
  return max === undefined ? null : max * 1000;
}

/** One direction of a pipe, from each node's checked pipe entries of the room. */
function pipeHop(
  pipeId: string,
  from: string,
  to: string,
  pipeEntries: ReadonlyMap<string, readonly PipeEntry[]>,
): PipeHop {
  const onPipe = (node: string, remote: string, direction: 'in' | 'out'): PipeEntry[] =>
    (pipeEntries.get(node) ?? []).filter(
      (entry) =>
        entry.pipeId === pipeId && entry.remoteNode === remote && entry.direction === direction,
    );
  const received = onPipe(to, from, 'in');
  const sent = onPipe(from, to, 'out');
  const lossFrom = received.length > 0 ? received : sent;
  return {
    from,
    to,
    kind: 'pipe',
    pipeId,
    producers: new Set([...received, ...sent].map((entry) => entry.producerId)).size,
    packets: received.length === 0 ? null : received.reduce((sum, e) => sum + e.packets, 0),
    lossFraction: maxOf(lossFrom.map((entry) => entry.fractionLost)) ?? null,
    jitterMs: worstMs(received.map((entry) => entry.jitterSeconds)),
    rttMs: worstMs([...received, ...sent].map((entry) => entry.rttSeconds)),
  };
}

function compare(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Per (node, peer): the peer's streams of one direction on that node. */
function byPeer(
  reports: ReadonlyMap<string, unknown>,
  room: string,
  direction: 'in' | 'out',
): { node: string; peer: string; streams: StreamEntry[] }[] {
  const groups: { node: string; peer: string; streams: StreamEntry[] }[] = [];
  for (const [node, stats] of reports) {
    const peers = new Map<string, StreamEntry[]>();
    for (const entry of entriesOf(stats, 'streams', room, streamEntry)) {
      if (entry.direction !== direction) continue;
      const streams = peers.get(entry.peer);
      if (streams === undefined) peers.set(entry.peer, [entry]);
      else streams.push(entry);
    }
    for (const [peer, streams] of peers) groups.push({ node, peer, streams });
  }
  return groups.sort((x, y) => compare(x.node, y.node) || compare(x.peer, y.peer));
}

const packetsOf = (streams: readonly StreamEntry[]): number =>
  streams.reduce((sum, stream) => sum + stream.packets, 0);

const lossOf = (streams: readonly StreamEntry[]): number =>
  maxOf(streams.map((stream) => stream.fractionLost)) ?? 0;

export function roomHopsView(input: RoomHopsInput): RoomHopsView {
  const { room, home, shares } = input;
  const pipes = input.pipes
    .filter((pipe) => pipe.room === room)
    .sort((x, y) => compare(x.pipeId, y.pipeId));
  const nodes = new Set(shares.map((share) => share.node));
  for (const pipe of pipes) nodes.add(pipe.a.node).add(pipe.b.node);
  const reports = new Map(
    input.reports
      .filter((report) => report.role === 'ROLE_SIGNALING' && nodes.has(report.id))
      .map((report) => [report.id, report.stats]),
  );
  // Each report's pipe entries are read once, however many pipes the room has.
  const pipeEntries = new Map(
    [...reports].map(([node, stats]) => [node, entriesOf(stats, 'pipes', room, pipeEntry)]),
  );
  const hops: PipeHop[] = [];
  for (const pipe of pipes) {
    hops.push(pipeHop(pipe.pipeId, pipe.a.node, pipe.b.node, pipeEntries));
    hops.push(pipeHop(pipe.pipeId, pipe.b.node, pipe.a.node, pipeEntries));
  }
  return {
    room,
    home,
    nodes: shares.map((share) => ({
      node: share.node,
      peers: share.peers,
      producers: share.producers,
      consumers: consumersOf(reports.get(share.node), room),
    })),
    hops,
    publishers: byPeer(reports, room, 'in').map(({ node, peer, streams }) => ({
      peer,
      node,
      producers: streams.length,
      packets: packetsOf(streams),
      lossFraction: lossOf(streams),
      jitterMs: worstMs(streams.map((stream) => stream.jitterSeconds)),
      rttMs: worstMs(streams.map((stream) => stream.rttSeconds)),
    })),
    viewers: byPeer(reports, room, 'out').map(({ node, peer, streams }) => ({
      peer,
      node,
      consumers: streams.length,
      packets: packetsOf(streams),
      lossFraction: lossOf(streams),
      rttMs: worstMs(streams.map((stream) => stream.rttSeconds)),
    })),
  };
}
