/**
 * Prometheus view of the route table, computed at scrape time from the same
 * counters /streams shows: nothing is added to the packet path. Labels are
 * the route name (from config) and the SSRC of a live stream (at most 16 per
 * route); a stream that ends is gone from the next scrape.
 */
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { MediaRouteTable } from '../relay/index.js';

export function registerStreamMetrics(metrics: Registry, table: MediaRouteTable): void {
  const registers = [metrics];
  const streamLabels = ['route', 'ssrc'];
  const perStream = (
    name: string,
    help: string,
    value: (stream: ReturnType<typeof streamsOf>[number]) => number | null,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames: streamLabels,
      registers,
      collect() {
        this.reset();
        for (const stream of streamsOf(table)) {
          const measured = value(stream);
          if (measured !== null) this.set({ route: stream.route, ssrc: stream.ssrc }, measured);
        }
      },
    });
  };
  perStream(
    'streammesh_proxy_stream_packets',
    'RTP packets received on the stream.',
    (s) => s.packets,
  );
  perStream('streammesh_proxy_stream_bytes', 'RTP bytes received on the stream.', (s) => s.bytes);
  perStream(
    'streammesh_proxy_stream_bitrate_bits_per_second',
    'Receive bitrate.',
    (s) => s.bitrateBps,
  );
  perStream('streammesh_proxy_stream_lost_packets', 'Packets lost (RFC 3550 A.3).', (s) => s.lost);
  perStream(
    'streammesh_proxy_stream_loss_ratio',
    'Lost / expected (RFC 3550 A.3).',
    (s) => s.lossFraction,
  );
  perStream(
    'streammesh_proxy_stream_jitter_seconds',
    'Interarrival jitter (RFC 3550 A.8).',
    (s) => s.jitterMs / 1000,
  );
  perStream(
    'streammesh_proxy_stream_duplicate_packets',
    'Duplicated packets.',
    (s) => s.duplicates,
  );
  perStream('streammesh_proxy_stream_reordered_packets', 'Reordered packets.', (s) => s.reordered);
  perStream(
    'streammesh_proxy_stream_late_packets',
    'Packets too late for the window.',
    (s) => s.late,
  );
  perStream('streammesh_proxy_stream_mos', 'Estimated MOS (audio, E-model).', (s) => s.mos);
  perStream(
    'streammesh_proxy_stream_downstream_loss_ratio',
    'Worst loss reported by a downstream receiver (RTCP RR).',
    (s) =>
      s.downstream.length === 0 ? null : Math.max(...s.downstream.map((d) => d.fractionLost)),
  );
  perStream(
    'streammesh_proxy_stream_downstream_jitter_seconds',
    'Worst jitter reported by a downstream receiver (RTCP RR).',
    (s) =>
      s.downstream.length === 0 ? null : Math.max(...s.downstream.map((d) => d.jitterMs)) / 1000,
  );
  perStream(
    'streammesh_proxy_stream_downstream_rtt_seconds',
    'Round-trip time to the farthest downstream receiver (RTCP RR LSR/DLSR).',
    (s) => {
      const rtts = s.downstream.flatMap((d) => (d.rttMs === null ? [] : [d.rttMs]));
      return rtts.length === 0 ? null : Math.max(...rtts) / 1000;
    },
  );

  new Counter({
    name: 'streammesh_proxy_route_dropped_packets_total',
    help: 'Packets dropped by the route, by reason.',
    labelNames: ['route', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const route of table.routes.values()) {
        for (const [reason, count] of Object.entries(route.drops.counts)) {
          this.inc({ route: route.name, reason }, count);
        }
      }
    },
  });
  new Counter({
    name: 'streammesh_proxy_route_received_packets_total',
    help: 'Valid RTP packets received by the route.',
    labelNames: ['route'],
    registers,
    collect() {
      this.reset();
      for (const route of table.routes.values()) this.inc({ route: route.name }, route.packetsIn);
    },
  });
  new Counter({
    name: 'streammesh_proxy_route_sent_packets_total',
    help: 'RTP packets sent to destinations.',
    labelNames: ['route'],
    registers,
    collect() {
      this.reset();
      for (const route of table.routes.values()) {
        let sent = 0;
        for (const destination of route.destinations) sent += destination.packets;
        this.inc({ route: route.name }, sent);
      }
    },
  });
}

function streamsOf(table: MediaRouteTable) {
  const now = performance.now();
  return [...table.routes.values()].flatMap((route) =>
    [...route.streams.values()].map((stream) => {
      const snapshot = stream.quality.snapshot(now);
      return { ...snapshot, route: route.name, ssrc: String(snapshot.ssrc) };
    }),
  );
}
