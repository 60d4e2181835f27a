/**
 * Per-stream numbers from WebRTC getStats(), sampled once a second: bitrate
 * (from the byte counters' growth between samples), packet loss, jitter, the
 * selected candidate pair's round-trip time, frames decoded or encoded.
 */
import type { StreamStats } from '../demo-state.js';

/** Something getStats() can be asked of: a producer, a consumer, a WHEP peer connection. */
export interface StatsSource {
  readonly id: string;
  readonly owner: string;
  readonly direction: 'inbound' | 'outbound';
  readonly kind: 'audio' | 'video';
  getStats(): Promise<RTCStatsReport>;
}

/** A stats entry as getStats() gives it: typed fields read through `number()`/`text()`. */
type Entry = Readonly<Record<string, unknown>>;

interface Counter {
  readonly bytes: number;
  /** The stats' own timestamp, ms. */
  readonly at: number;
}

/** What one report says, before the bitrate (which needs the previous sample). */
interface Reading {
  readonly bytes: number;
  readonly at: number;
  readonly packets: number;
  readonly packetsLost: number;
  readonly jitterMs: number | null;
  readonly roundTripTimeMs: number | null;
  readonly frames: number | null;
  readonly frameWidth: number | null;
}

export class StatsSampler {
  readonly #previous = new Map<string, Counter>();
  #latest: readonly StreamStats[] = [];

  /** The last sample (empty before the first). */
  get latest(): readonly StreamStats[] {
    return this.#latest;
  }

  /** Samples every source; a source whose getStats() fails is left out of this sample. */
  async sample(sources: readonly StatsSource[]): Promise<readonly StreamStats[]> {
    const samples = await Promise.all(
      sources.map(async (source) => {
        try {
          return this.#stats(source, read(await source.getStats(), source));
        } catch {
          return undefined;
        }
      }),
    );
    const live = new Set(sources.map((source) => source.id));
    for (const id of this.#previous.keys()) if (!live.has(id)) this.#previous.delete(id);
    this.#latest = samples.filter((stats) => stats !== undefined);
    return this.#latest;
  }

  #stats(source: StatsSource, reading: Reading): StreamStats {
    const previous = this.#previous.get(source.id);
    this.#previous.set(source.id, { bytes: reading.bytes, at: reading.at });
    const seconds = previous === undefined ? 0 : (reading.at - previous.at) / 1000;
    const grown = previous === undefined ? 0 : reading.bytes - previous.bytes;
    const counted = reading.packets + reading.packetsLost;
    return {
      id: source.id,
      owner: source.owner,
      direction: source.direction,
      kind: source.kind,
      bitrateBps: seconds > 0 && grown > 0 ? Math.round((grown * 8) / seconds) : 0,
      packets: reading.packets,
      packetsLost: reading.packetsLost,
      lossRatio: counted > 0 ? Math.max(0, reading.packetsLost) / counted : 0,
      jitterMs: reading.jitterMs,
      roundTripTimeMs: reading.roundTripTimeMs,
      frames: reading.frames,
      frameWidth: reading.frameWidth,
    };
  }
}

function read(report: RTCStatsReport, source: StatsSource): Reading {
  const entries = new Map<string, Entry>();
  report.forEach((entry: Entry) => {
    const id = text(entry, 'id');
    if (id !== undefined) entries.set(id, entry);
  });
  const all = [...entries.values()];
  const rtpType = source.direction === 'inbound' ? 'inbound-rtp' : 'outbound-rtp';
  // Several outbound streams when simulcasting: their sums.
  const streams = all.filter(
    (entry) => text(entry, 'type') === rtpType && text(entry, 'kind') === source.kind,
  );
  const sum = (key: string): number =>
    streams.reduce((total, entry) => total + (number(entry, key) ?? 0), 0);
  const first = streams[0] ?? {};
  const at = number(first, 'timestamp') ?? performance.now();
  if (source.direction === 'inbound') {
    return {
      bytes: sum('bytesReceived'),
      at,
      packets: sum('packetsReceived'),
      packetsLost: sum('packetsLost'),
      jitterMs: milliseconds(number(first, 'jitter')),
      roundTripTimeMs: roundTripTimeMs(entries),
      frames: source.kind === 'video' ? sum('framesDecoded') : null,
      frameWidth: number(first, 'frameWidth') ?? null,
    };
  }
  // The far end's view of what we send: its RTCP receiver reports.
  const ids = new Set(streams.map((entry) => text(entry, 'id')));
  const reports = all.filter(
    (entry) => text(entry, 'type') === 'remote-inbound-rtp' && ids.has(text(entry, 'localId')),
  );
  return {
    bytes: sum('bytesSent'),
    at,
    packets: sum('packetsSent'),
    packetsLost: reports.reduce((total, entry) => total + (number(entry, 'packetsLost') ?? 0), 0),
    jitterMs: milliseconds(reports[0] === undefined ? undefined : number(reports[0], 'jitter')),
    roundTripTimeMs: roundTripTimeMs(entries),
    frames: source.kind === 'video' ? sum('framesEncoded') : null,
    frameWidth: number(first, 'frameWidth') ?? null,
  };
}

/** currentRoundTripTime of the transport's selected candidate pair (or the nominated one). */
function roundTripTimeMs(entries: ReadonlyMap<string, Entry>): number | null {
  let pair: Entry | undefined;
  for (const entry of entries.values()) {
    if (text(entry, 'type') !== 'transport') continue;
    const selected = text(entry, 'selectedCandidatePairId');
    if (selected !== undefined) pair = entries.get(selected);
  }
  pair ??= [...entries.values()].find(
    (entry) =>
      text(entry, 'type') === 'candidate-pair' &&
      entry['nominated'] === true &&
      text(entry, 'state') === 'succeeded',
  );
  return pair === undefined ? null : milliseconds(number(pair, 'currentRoundTripTime'));
}

function milliseconds(seconds: number | undefined): number | null {
  return seconds === undefined ? null : seconds * 1000;
}

function number(entry: Entry, key: string): number | undefined {
  const value = entry[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function text(entry: Entry, key: string): string | undefined {
  const value = entry[key];
  return typeof value === 'string' ? value : undefined;
}
