/**
 * Samples every live Producer and Consumer (from the census) with mediasoup's
 * getStats() on a timer and keeps the latest snapshot, grouped by room and
 * peer. Prometheus and the control-plane report both read that snapshot, so a
 * scrape never waits on the workers and costs the same however often it comes.
 *
 * Cascade pipes (issue 18: a PipeTransport to another signaling node, marked
 * by appData.pipeId) are not peers: their streams go in `pipes`, each with
 * its pipe, the node at the other end and its direction, so the control
 * plane can show each node-to-node hop (GET /rooms/<room>/hops) and `peers`,
 * `rooms` and `streams` stay what they were, the room's own participants.
 * Pipes between two Routers of this node (WHEP viewer Routers) are left out
 * of both: counting them would count the same media twice.
 */
import type { types } from 'mediasoup';
import type { Logger } from '../../src/shared/log.js';
import { liveConsumers, liveProducers, type LiveStream } from '../sfu/index.js';

export interface StreamStats {
  readonly id: string;
  /** in: a Producer (media into the SFU); out: a Consumer (media to a viewer). */
  readonly direction: 'in' | 'out';
  readonly room: string;
  readonly peer: string;
  readonly kind: string;
  readonly mimeType: string;
  /** For a Consumer, the Producer it forwards. */
  readonly producerId: string | undefined;
  readonly bitrateBps: number;
  readonly packets: number;
  readonly packetsLost: number;
  /** 0..1, from the latest RTCP receiver report. */
  readonly fractionLost: number;
  /** Interarrival jitter of received media; undefined for a Consumer. */
  readonly jitterSeconds: number | undefined;
  /** mediasoup's 0-10 quality score (the lowest of the stream's encodings). */
  readonly score: number;
  readonly nackCount: number;
  readonly pliCount: number;
  readonly firCount: number;
  readonly roundTripTimeSeconds: number | undefined;
}

export interface PeerStats {
  readonly room: string;
  readonly peer: string;
  readonly bitrateInBps: number;
  readonly bitrateOutBps: number;
  readonly producers: number;
  readonly consumers: number;
}

export interface RoomStats {
  readonly room: string;
  readonly peers: number;
  readonly bitrateInBps: number;
  readonly bitrateOutBps: number;
  readonly producers: number;
  readonly consumers: number;
}

/** A producer piped to or from another signaling node, as this node measures it. */
export interface PipeStreamStats {
  /** The pipe Producer's or pipe Consumer's own id. */
  readonly id: string;
  /** The piped producer: it keeps its id on both nodes. */
  readonly producerId: string;
  /** in: a pipe Producer (media from remoteNode); out: a pipe Consumer (media to it). */
  readonly direction: 'in' | 'out';
  readonly room: string;
  readonly pipeId: string;
  /** The node at the other end of the pipe. */
  readonly remoteNode: string;
  readonly kind: string;
  readonly bitrateBps: number;
  /** Received from the pipe (in) or sent into it (out). */
  readonly packets: number;
  readonly packetsLost: number;
  /** 0..1: as measured here (in), or from the other end's receiver report (out). */
  readonly fractionLost: number;
  /** Interarrival jitter of what arrives from the pipe; undefined for out. */
  readonly jitterSeconds: number | undefined;
  readonly roundTripTimeSeconds: number | undefined;
}

export interface MediaStatsSnapshot {
  readonly at: string;
  readonly rooms: readonly RoomStats[];
  readonly peers: readonly PeerStats[];
  readonly streams: readonly StreamStats[];
  /**
   * Cascade pipe streams, kept out of rooms, peers and streams. Optional so
   * that a snapshot made before pipes existed (a test's, say) still reads.
   */
  readonly pipes?: readonly PipeStreamStats[];
}

export const EMPTY_SNAPSHOT: MediaStatsSnapshot = {
  at: new Date(0).toISOString(),
  rooms: [],
  peers: [],
  streams: [],
  pipes: [],
};

/** getStats calls in flight at once: a big node must not flood its workers' channels. */
const SAMPLE_CONCURRENCY = 64;

function roomOf(router: types.Router): string {
  const { room, camera } = router.appData as { room?: unknown; camera?: unknown };
  if (typeof room === 'string') return room;
  if (typeof camera === 'string') return `camera:${camera}`;
  return '';
}

function peerOf(transport: types.Transport): string {
  const { peer } = transport.appData as { peer?: unknown };
  return typeof peer === 'string' ? peer : '';
}

type RtpStats = types.RtpStreamRecvStats | types.RtpStreamSendStats;

/** Sums a stream's encodings (simulcast has several); the score is the worst one. */
function combine(
  live: LiveStream<types.Producer> | LiveStream<types.Consumer>,
  direction: 'in' | 'out',
  entries: readonly RtpStats[],
): StreamStats | undefined {
  const first = entries[0];
  if (first === undefined) return undefined;
  const stream = live.stream;
  const clockRate = stream.rtpParameters.codecs[0]?.clockRate ?? 90_000;
  let jitter: number | undefined;
  let rtt: number | undefined;
  const sum = (pick: (entry: RtpStats) => number): number =>
    entries.reduce((total, entry) => total + pick(entry), 0);
  for (const entry of entries) {
    if ('jitter' in entry) jitter = Math.max(jitter ?? 0, entry.jitter / clockRate);
    if (entry.roundTripTime !== undefined && entry.roundTripTime > 0) {
      rtt = Math.max(rtt ?? 0, entry.roundTripTime / 1000);
    }
  }
  return {
    id: stream.id,
    direction,
    room: roomOf(live.router),
    peer: peerOf(live.transport),
    kind: stream.kind,
    mimeType: first.mimeType,
    producerId: 'producerId' in stream ? stream.producerId : undefined,
    bitrateBps: sum((entry) => entry.bitrate),
    packets: sum((entry) => entry.packetCount),
    packetsLost: sum((entry) => entry.packetsLost),
    fractionLost: Math.max(...entries.map((entry) => entry.fractionLost)) / 256,
    jitterSeconds: direction === 'in' ? jitter : undefined,
    score: Math.min(...entries.map((entry) => entry.score)),
    nackCount: sum((entry) => entry.nackCount),
    pliCount: sum((entry) => entry.pliCount),
    firCount: sum((entry) => entry.firCount),
    roundTripTimeSeconds: rtt,
  };
}

type AnyLive = LiveStream<types.Producer> | LiveStream<types.Consumer>;

function isPipe(live: AnyLive): boolean {
  return live.transport.type === 'pipe';
}

/** A cascade pipe's marks (pipe-set.ts PipeAppData); undefined for any other transport. */
function cascadePipeOf(live: AnyLive): { pipeId: string; remoteNode: string } | undefined {
  if (!isPipe(live)) return undefined;
  const { pipeId, pipePeer } = live.transport.appData as { pipeId?: unknown; pipePeer?: unknown };
  if (typeof pipeId !== 'string' || typeof pipePeer !== 'string') return undefined;
  return { pipeId, remoteNode: pipePeer };
}

async function sampleProducer(live: LiveStream<types.Producer>): Promise<StreamStats | undefined> {
  return combine(live, 'in', await live.stream.getStats());
}

async function sampleConsumer(live: LiveStream<types.Consumer>): Promise<StreamStats | undefined> {
  // A Consumer's stats hold its own outbound stream and, after it, the Producer's.
  const own = (await live.stream.getStats()).filter((entry) => entry.type === 'outbound-rtp');
  return combine(live, 'out', own);
}

/** A cascade pipe stream: its StreamStats, with the pipe's marks instead of a peer. */
function pipeStreamOf(live: AnyLive, stats: StreamStats | undefined): PipeStreamStats | undefined {
  const pipe = cascadePipeOf(live);
  if (pipe === undefined || stats === undefined) return undefined;
  return {
    id: stats.id,
    producerId: stats.producerId ?? stats.id,
    direction: stats.direction,
    room: stats.room,
    pipeId: pipe.pipeId,
    remoteNode: pipe.remoteNode,
    kind: stats.kind,
    bitrateBps: stats.bitrateBps,
    packets: stats.packets,
    packetsLost: stats.packetsLost,
    fractionLost: stats.fractionLost,
    jitterSeconds: stats.jitterSeconds,
    roundTripTimeSeconds: stats.roundTripTimeSeconds,
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Groups streams into peers and rooms; pipe streams are kept apart. Exported for tests. */
export function summarize(
  streams: readonly StreamStats[],
  at: Date,
  pipes: readonly PipeStreamStats[] = [],
): MediaStatsSnapshot {
  const peers = new Map<string, Mutable<PeerStats>>();
  const rooms = new Map<string, Mutable<RoomStats>>();
  for (const stream of streams) {
    const peerKey = `${stream.room}\u0000${stream.peer}`;
    const peer = peers.get(peerKey) ?? {
      room: stream.room,
      peer: stream.peer,
      bitrateInBps: 0,
      bitrateOutBps: 0,
      producers: 0,
      consumers: 0,
    };
    const room = rooms.get(stream.room) ?? {
      room: stream.room,
      peers: 0,
      bitrateInBps: 0,
      bitrateOutBps: 0,
      producers: 0,
      consumers: 0,
    };
    if (!peers.has(peerKey)) room.peers += 1;
    for (const target of [peer, room]) {
      if (stream.direction === 'in') {
        target.bitrateInBps += stream.bitrateBps;
        target.producers += 1;
      } else {
        target.bitrateOutBps += stream.bitrateBps;
        target.consumers += 1;
      }
    }
    peers.set(peerKey, peer);
    rooms.set(stream.room, room);
  }
  return {
    at: at.toISOString(),
    rooms: [...rooms.values()],
    peers: [...peers.values()],
    streams,
    pipes,
  };
}

async function sampleAll<T, S>(
  items: readonly T[],
  sample: (item: T) => Promise<S | undefined>,
): Promise<S[]> {
  const results: S[] = [];
  for (let start = 0; start < items.length; start += SAMPLE_CONCURRENCY) {
    const batch = items.slice(start, start + SAMPLE_CONCURRENCY);
    const settled = await Promise.allSettled(batch.map(sample));
    // A stream closed between listing and sampling rejects: it is simply gone.
    for (const outcome of settled) {
      if (outcome.status === 'fulfilled' && outcome.value !== undefined) {
        results.push(outcome.value);
      }
    }
  }
  return results;
}

export interface MediaStatsOptions {
  /** Sampling period (default 2 s). */
  readonly intervalMs?: number;
  readonly log: Logger;
}

export class MediaStatsCollector {
  readonly #intervalMs: number;
  readonly #log: Logger;
  #latest: MediaStatsSnapshot = EMPTY_SNAPSHOT;
  #timer: NodeJS.Timeout | undefined;
  #sampling: Promise<MediaStatsSnapshot> | undefined;

  constructor(options: MediaStatsOptions) {
    this.#intervalMs = options.intervalMs ?? 2_000;
    this.#log = options.log.child({ component: 'media-stats' });
  }

  get latest(): MediaStatsSnapshot {
    return this.#latest;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      this.sample().catch((error: unknown) => {
        this.#log.warn({ err: error }, 'media stats sample failed');
      });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Samples now (joining a sample already running) and returns the snapshot. */
  async sample(): Promise<MediaStatsSnapshot> {
    this.#sampling ??= (async () => {
      try {
        const producers = [...liveProducers()];
        const consumers = [...liveConsumers()];
        const streams = [
          ...(await sampleAll(
            producers.filter((live) => !isPipe(live)),
            sampleProducer,
          )),
          ...(await sampleAll(
            consumers.filter((live) => !isPipe(live)),
            sampleConsumer,
          )),
        ];
        const cascade = (live: AnyLive): boolean => cascadePipeOf(live) !== undefined;
        const pipes = [
          ...(await sampleAll(producers.filter(cascade), async (live) =>
            pipeStreamOf(live, await sampleProducer(live)),
          )),
          ...(await sampleAll(consumers.filter(cascade), async (live) =>
            pipeStreamOf(live, await sampleConsumer(live)),
          )),
        ];
        this.#latest = summarize(streams, new Date(), pipes);
        return this.#latest;
      } finally {
        this.#sampling = undefined;
      }
    })();
    return this.#sampling;
  }
}
