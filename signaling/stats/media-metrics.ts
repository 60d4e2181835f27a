/**
 * The latest media stats snapshot in Prometheus form: per stream (Producer or
 * Consumer, labelled with room and peer), per peer and per room. Series are
 * rebuilt at each scrape, so closed streams disappear with their labels.
 * What a stream counts (packets, losses, NACK/PLI/FIR requests) is a counter
 * (`_total`); what it is now (bitrate, jitter, score, RTT) is a gauge.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { MonotonicTotals } from '../../src/shared/monotonic-totals.js';
import type { MediaStatsSnapshot, StreamStats } from './media-stats.js';

const STREAM_LABELS = ['room', 'peer', 'direction', 'kind', 'id'] as const;

interface StreamSeries<V> {
  readonly name: string;
  readonly help: string;
  readonly value: (stream: StreamStats) => V;
}

const streamGauges: readonly StreamSeries<number | undefined>[] = [
  {
    name: 'streammesh_signaling_stream_bytes_per_second',
    help: 'Rate of a Producer (direction="in") or Consumer (direction="out"): its bitrate / 8.',
    value: (stream) => stream.bitrateBps / 8,
  },
  {
    name: 'streammesh_signaling_stream_fraction_lost',
    help: 'Fraction lost (0-1) in the latest RTCP receiver report.',
    value: (stream) => stream.fractionLost,
  },
  {
    name: 'streammesh_signaling_stream_jitter_seconds',
    help: 'Interarrival jitter of media received by the SFU (Producers only).',
    value: (stream) => stream.jitterSeconds,
  },
  {
    name: 'streammesh_signaling_stream_score',
    help: "mediasoup's 0-10 stream quality score.",
    value: (stream) => stream.score,
  },
  {
    name: 'streammesh_signaling_stream_rtt_seconds',
    help: 'Round-trip time to the remote peer from RTCP.',
    value: (stream) => stream.roundTripTimeSeconds,
  },
];

/**
 * mediasoup's figures are sums over a stream's encodings, and its loss is
 * RTCP's cumulative loss: either can step back (an encoding stops, a late
 * packet arrives), so each counter adds up the rises (MonotonicTotals).
 */
const streamCounters: readonly StreamSeries<number>[] = [
  {
    name: 'streammesh_signaling_stream_packets_total',
    help: 'RTP packets of the stream: received by the SFU (in) or sent to the viewer (out).',
    value: (stream) => stream.packets,
  },
  {
    name: 'streammesh_signaling_stream_lost_packets_total',
    help: 'Packets lost: by the sender towards the SFU (in), or reported by the viewer (out).',
    value: (stream) => stream.packetsLost,
  },
  {
    name: 'streammesh_signaling_stream_nacks_total',
    help: 'NACK requests (received for a Consumer, sent for a Producer).',
    value: (stream) => stream.nackCount,
  },
  {
    name: 'streammesh_signaling_stream_plis_total',
    help: 'PLI key frame requests.',
    value: (stream) => stream.pliCount,
  },
  {
    name: 'streammesh_signaling_stream_firs_total',
    help: 'FIR key frame requests.',
    value: (stream) => stream.firCount,
  },
];

function labelsOf({ room, peer, direction, kind, id }: StreamStats): Record<string, string> {
  return { room, peer, direction, kind, id };
}

export function registerMediaMetrics(metrics: Registry, latest: () => MediaStatsSnapshot): void {
  const registers = [metrics];
  for (const spec of streamGauges) {
    new Gauge({
      name: spec.name,
      help: spec.help,
      labelNames: STREAM_LABELS,
      registers,
      collect() {
        this.reset();
        for (const stream of latest().streams) {
          const value = spec.value(stream);
          if (value !== undefined) this.set(labelsOf(stream), value);
        }
      },
    });
  }
  for (const spec of streamCounters) {
    const totals = new MonotonicTotals();
    new Counter({
      name: spec.name,
      help: spec.help,
      labelNames: STREAM_LABELS,
      registers,
      collect() {
        this.reset();
        // Producer and Consumer ids are unique for the stream's life.
        for (const stream of latest().streams) {
          this.inc(labelsOf(stream), totals.update(stream.id, spec.value(stream)));
        }
        totals.sweep();
      },
    });
  }
  new Gauge({
    name: 'streammesh_signaling_peer_bytes_per_second',
    help: 'Rate a peer sends into the SFU (in) and receives from it (out): bitrate / 8.',
    labelNames: ['room', 'peer', 'direction'],
    registers,
    collect() {
      this.reset();
      for (const { room, peer, bitrateInBps, bitrateOutBps } of latest().peers) {
        this.set({ room, peer, direction: 'in' }, bitrateInBps / 8);
        this.set({ room, peer, direction: 'out' }, bitrateOutBps / 8);
      }
    },
  });
  new Gauge({
    name: 'streammesh_signaling_room_bytes_per_second',
    help: 'Rate into (in) and out of (out) a room: bitrate / 8.',
    labelNames: ['room', 'direction'],
    registers,
    collect() {
      this.reset();
      for (const { room, bitrateInBps, bitrateOutBps } of latest().rooms) {
        this.set({ room, direction: 'in' }, bitrateInBps / 8);
        this.set({ room, direction: 'out' }, bitrateOutBps / 8);
      }
    },
  });
  new Gauge({
    name: 'streammesh_signaling_media_stats_age_seconds',
    help: 'Age of the media stats behind these series (sampled on a timer).',
    registers,
    collect() {
      this.set((Date.now() - Date.parse(latest().at)) / 1000);
    },
  });
}
