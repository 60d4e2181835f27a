/**
 * The latest media stats snapshot as Prometheus gauges: per stream (Producer
 * or Consumer, labelled with room and peer), per peer and per room. Gauges
 * are rebuilt at each scrape, so closed streams disappear with their labels.
 * mediasoup's NACK/PLI/FIR counts are cumulative per stream; they are exposed
 * as gauges because a stream's series ends when the stream closes.
 */
import { Gauge, type Registry } from 'prom-client';
import type { MediaStatsSnapshot, StreamStats } from './media-stats.js';

const STREAM_LABELS = ['room', 'peer', 'direction', 'kind', 'id'] as const;

interface StreamGauge {
  readonly name: string;
  readonly help: string;
  readonly value: (stream: StreamStats) => number | undefined;
}

const streamGauges: readonly StreamGauge[] = [
  {
    name: 'streammesh_signaling_stream_bitrate_bps',
    help: 'Bits/s of a Producer (direction="in") or Consumer (direction="out").',
    value: (stream) => stream.bitrateBps,
  },
  {
    name: 'streammesh_signaling_stream_packets',
    help: 'RTP packets of the stream so far.',
    value: (stream) => stream.packets,
  },
  {
    name: 'streammesh_signaling_stream_packets_lost',
    help: 'Packets lost so far: by the sender towards the SFU (in), or reported by the viewer (out).',
    value: (stream) => stream.packetsLost,
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
    name: 'streammesh_signaling_stream_nacks',
    help: 'NACK requests so far (received for a Consumer, sent for a Producer).',
    value: (stream) => stream.nackCount,
  },
  {
    name: 'streammesh_signaling_stream_plis',
    help: 'PLI key frame requests so far.',
    value: (stream) => stream.pliCount,
  },
  {
    name: 'streammesh_signaling_stream_firs',
    help: 'FIR key frame requests so far.',
    value: (stream) => stream.firCount,
  },
  {
    name: 'streammesh_signaling_stream_rtt_seconds',
    help: 'Round-trip time to the remote peer from RTCP.',
    value: (stream) => stream.roundTripTimeSeconds,
  },
];

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
          if (value === undefined) continue;
          const { room, peer, direction, kind, id } = stream;
          this.set({ room, peer, direction, kind, id }, value);
        }
      },
    });
  }
  new Gauge({
    name: 'streammesh_signaling_peer_bitrate_bps',
    help: 'Bits/s a peer sends into the SFU (in) and receives from it (out).',
    labelNames: ['room', 'peer', 'direction'],
    registers,
    collect() {
      this.reset();
      for (const { room, peer, bitrateInBps, bitrateOutBps } of latest().peers) {
        this.set({ room, peer, direction: 'in' }, bitrateInBps);
        this.set({ room, peer, direction: 'out' }, bitrateOutBps);
      }
    },
  });
  new Gauge({
    name: 'streammesh_signaling_room_bitrate_bps',
    help: 'Bits/s into (in) and out of (out) a room.',
    labelNames: ['room', 'direction'],
    registers,
    collect() {
      this.reset();
      for (const { room, bitrateInBps, bitrateOutBps } of latest().rooms) {
        this.set({ room, direction: 'in' }, bitrateInBps);
        this.set({ room, direction: 'out' }, bitrateOutBps);
      }
    },
  });
  new Gauge({
    name: 'streammesh_signaling_media_stats_age_seconds',
    help: 'Age of the media stats behind these gauges (sampled on a timer).',
    registers,
    collect() {
      this.set((Date.now() - Date.parse(latest().at)) / 1000);
    },
  });
}
