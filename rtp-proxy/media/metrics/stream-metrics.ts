/**
 * Prometheus view of the relay's routes, computed at scrape time from the
 * same snapshots /streams shows: nothing is added to the packet path. The
 * routes may live on media workers (rtp-proxy/media/workers): their
 * snapshots are fetched once per scrape, shared by every series. Labels are
 * the route name (from config) and the SSRC of a live stream (at most 16 per
 * route); a stream that ends is gone from the next scrape. What a stream
 * counts (packets, bytes, losses...) is a counter (`_total`); what it is now
 * (bitrate, jitter, loss ratio, MOS) is a gauge. Which worker carries a route
 * is streammesh_proxy_route_worker (workers/worker-metrics.ts).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { MonotonicTotals } from '../../../src/shared/monotonic-totals.js';
import type { MediaRouteSnapshot, RouteSnapshotSource } from '../workers/index.js';

type StreamView = ReturnType<typeof streamsOf>[number];

export function registerStreamMetrics(metrics: Registry, source: RouteSnapshotSource): void {
  const registers = [metrics];
  const streamLabels = ['route', 'ssrc'];
  // prom-client starts every collect() of a scrape in one synchronous loop:
  // a snapshot asked for in that turn serves them all, a later scrape asks again.
  let shared: Promise<readonly MediaRouteSnapshot[]> | undefined;
  const routes = (): Promise<readonly MediaRouteSnapshot[]> => {
    if (shared === undefined) {
      shared = Promise.resolve(source.snapshot());
      setImmediate(() => {
        shared = undefined;
      });
    }
    return shared;
  };
  const perStream = (
    name: string,
    help: string,
    value: (stream: StreamView) => number | null,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames: streamLabels,
      registers,
      async collect() {
        const streams = streamsOf(await routes());
        this.reset();
        for (const stream of streams) {
          const measured = value(stream);
          if (measured !== null) this.set({ route: stream.route, ssrc: stream.ssrc }, measured);
        }
      },
    });
  };
  const perStreamTotal = (
    name: string,
    help: string,
    value: (stream: StreamView) => number,
  ): void => {
    // RFC 3550's loss steps back; the stream's own counts only do when a
    // stream of the same SSRC starts again between two scrapes.
    const totals = new MonotonicTotals();
    new Counter({
      name,
      help,
      labelNames: streamLabels,
      registers,
      async collect() {
        const streams = streamsOf(await routes());
        this.reset();
        for (const stream of streams) {
          const key = `${stream.route}\u0000${stream.ssrc}`;
          this.inc({ route: stream.route, ssrc: stream.ssrc }, totals.update(key, value(stream)));
        }
        totals.sweep();
      },
    });
  };
  perStreamTotal(
    'streammesh_proxy_stream_received_packets_total',
    'RTP packets received on the stream.',
    (s) => s.packets,
  );
  perStreamTotal(
    'streammesh_proxy_stream_received_bytes_total',
    'RTP bytes received on the stream.',
    (s) => s.bytes,
  );
  perStream(
    'streammesh_proxy_stream_received_bytes_per_second',
    'Receive rate over the last 1-2 s (bitrate / 8: Prometheus counts bytes, not bits).',
    (s) => s.bitrateBps / 8,
  );
  perStreamTotal(
    'streammesh_proxy_stream_lost_packets_total',
    'Packets lost (RFC 3550 A.3): the rises of its cumulative loss, which a late or duplicate packet lowers.',
    (s) => s.lost,
  );
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
  perStreamTotal(
    'streammesh_proxy_stream_duplicate_packets_total',
    'Duplicated packets.',
    (s) => s.duplicates,
  );
  perStreamTotal(
    'streammesh_proxy_stream_reordered_packets_total',
    'Reordered packets.',
    (s) => s.reordered,
  );
  perStreamTotal(
    'streammesh_proxy_stream_late_packets_total',
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
    async collect() {
      const all = await routes();
      this.reset();
      for (const route of all) {
        for (const [reason, count] of Object.entries(route.drops)) {
          this.inc({ route: route.name, reason }, count);
        }
      }
    },
  });
  const perRouteTotal = (
    name: string,
    help: string,
    value: (route: MediaRouteSnapshot) => number,
  ): void => {
    new Counter({
      name,
      help,
      labelNames: ['route'],
      registers,
      async collect() {
        const all = await routes();
        this.reset();
        for (const route of all) this.inc({ route: route.name }, value(route));
      },
    });
  };
  perRouteTotal(
    'streammesh_proxy_route_srtp_node_crypto_packets_total',
    "SRTP and SRTCP packets of the route the libsrtp engine could not take and node:crypto protected or unprotected (same bytes, several times the CPU): a sender gone back in its numbering under the same SSRC, each SSRC's first SRTCP packet, SRTCP later than libsrtp's 128-packet window.",
    (route) => route.srtpNodeCryptoPackets,
  );
  perRouteTotal(
    'streammesh_proxy_route_received_packets_total',
    'Valid RTP packets received by the route.',
    (route) => route.packetsIn,
  );
  perRouteTotal(
    'streammesh_proxy_route_sent_packets_total',
    'RTP packets sent to destinations.',
    (route) => route.destinations.reduce((sent, destination) => sent + destination.packets, 0),
  );
}

function streamsOf(routes: readonly MediaRouteSnapshot[]) {
  return routes.flatMap((route) =>
    route.streams.map((stream) => ({ ...stream, route: route.name, ssrc: String(stream.ssrc) })),
  );
}
