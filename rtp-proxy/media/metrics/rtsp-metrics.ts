/**
 * Prometheus view of the RTSP proxy, computed at scrape time from the same
 * snapshot /streams shows. Per path (camera): viewers, upstream state,
 * reconnects, outage time, bitrate, loss and jitter per track (the relay's
 * measurement); per viewer session: bytes and transport; the requests
 * and bad input of the listener; and, with several media workers, the UDP
 * viewer tracks opened again after a worker restart (the tracks each worker
 * carries are workers/worker-metrics.ts's).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { MonotonicTotals } from '../../../src/shared/monotonic-totals.js';
import type { RtspService, RtspSnapshot } from '../rtsp/index.js';

type Sample = [labels: Record<string, string>, value: number];

export function registerRtspMetrics(metrics: Registry, service: RtspService): void {
  const registers = [metrics];
  // The listener's budget: refusals and head timeouts by reason (streammesh_listener_*).
  service.countConnectionsIn(metrics);
  // One snapshot per scrape, shared by every metric of that scrape.
  let cached: { at: number; snapshot: RtspSnapshot } | undefined;
  const snapshot = (): RtspSnapshot => {
    const now = Date.now();
    if (cached === undefined || now - cached.at > 100) {
      cached = { at: now, snapshot: service.snapshot() };
    }
    return cached.snapshot;
  };
  const metric = (
    type: 'gauge' | 'counter',
    name: string,
    help: string,
    labelNames: string[],
    samples: (s: RtspSnapshot) => Sample[],
  ): void => {
    const Kind = type === 'gauge' ? Gauge : Counter;
    new Kind({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of samples(snapshot())) {
          if (this instanceof Gauge) this.set(labels, value);
          else this.inc(labels, value);
        }
      },
    });
  };
  const perPath = (f: (p: RtspSnapshot['paths'][number]) => number) => (s: RtspSnapshot) =>
    s.paths.map((p): Sample => [{ path: p.name }, f(p)]);
  const perTrack =
    (f: (q: NonNullable<RtspSnapshot['paths'][number]['tracks'][number]['quality']>) => number) =>
    (s: RtspSnapshot) =>
      s.paths.flatMap((p) =>
        p.tracks.flatMap((t): Sample[] =>
          t.quality === null ? [] : [[{ path: p.name, track: String(t.index) }, f(t.quality)]],
        ),
      );

  metric(
    'gauge',
    'streammesh_proxy_rtsp_path_viewers',
    'Sessions playing the path.',
    ['path'],
    perPath((p) => p.viewers),
  );
  metric(
    'gauge',
    'streammesh_proxy_rtsp_path_upstream_up',
    '1 while the path source (camera, publisher, demo) delivers, else 0.',
    ['path'],
    perPath((p) => (p.upstream.state === 'up' ? 1 : 0)),
  );
  metric(
    'gauge',
    'streammesh_proxy_rtsp_path_upstream_state',
    'Upstream state of the path: 1 on the current state.',
    ['path', 'state'],
    (s) => s.paths.map((p): Sample => [{ path: p.name, state: p.upstream.state }, 1]),
  );
  metric(
    'counter',
    'streammesh_proxy_rtsp_path_reconnects_total',
    'Times the source was lost after it had played.',
    ['path'],
    perPath((p) => p.upstream.reconnects),
  );
  metric(
    'counter',
    'streammesh_proxy_rtsp_path_outage_seconds_total',
    'Time the source was down while it should have played.',
    ['path'],
    perPath((p) => p.upstream.outageMs / 1000),
  );
  metric(
    'counter',
    'streammesh_proxy_rtsp_path_received_packets_total',
    'RTP packets received from the source.',
    ['path'],
    perPath((p) => p.packetsIn),
  );
  metric(
    'counter',
    'streammesh_proxy_rtsp_path_received_bytes_total',
    'RTP bytes received from the source.',
    ['path'],
    perPath((p) => p.bytesIn),
  );
  metric(
    'counter',
    'streammesh_proxy_rtsp_path_dropped_packets_total',
    'Packets not delivered, by reason (waiting_keyframe: a late joiner held back).',
    ['path', 'reason'],
    (s) =>
      s.paths.flatMap((p) =>
        Object.entries(p.drops).map(([reason, n]): Sample => [{ path: p.name, reason }, n]),
      ),
  );
  metric(
    'gauge',
    'streammesh_proxy_rtsp_path_received_bytes_per_second',
    'Receive rate from the source over the last 1-2 s, per track (bitrate / 8).',
    ['path', 'track'],
    perTrack((q) => q.bitrateBps / 8),
  );
  // RFC 3550's cumulative loss steps back (a late or duplicate packet, a
  // new source session): the counter adds up its rises only.
  const lostTotals = new MonotonicTotals();
  new Counter({
    name: 'streammesh_proxy_rtsp_path_lost_packets_total',
    help: 'Packets lost from the source (RFC 3550 A.3): the rises of its cumulative loss.',
    labelNames: ['path', 'track'],
    registers,
    collect() {
      this.reset();
      for (const [labels, lost] of perTrack((q) => q.lost)(snapshot())) {
        const key = `${labels.path ?? ''}\u0000${labels.track ?? ''}`;
        this.inc(labels, lostTotals.update(key, lost));
      }
      lostTotals.sweep();
    },
  });
  metric(
    'gauge',
    'streammesh_proxy_rtsp_path_loss_ratio',
    'Lost / expected (RFC 3550 A.3).',
    ['path', 'track'],
    perTrack((q) => q.lossFraction),
  );
  metric(
    'gauge',
    'streammesh_proxy_rtsp_path_jitter_seconds',
    'Interarrival jitter from the source (RFC 3550 A.8).',
    ['path', 'track'],
    perTrack((q) => q.jitterMs / 1000),
  );
  const perViewer = (f: (v: RtspSnapshot['sessions'][number]) => number) => (s: RtspSnapshot) =>
    s.sessions
      .filter((v) => v.mode === 'play')
      .map((v): Sample => [
        { path: v.path, session: v.session, transport: v.transport ?? 'none' },
        f(v),
      ]);
  metric(
    'counter',
    'streammesh_proxy_rtsp_viewer_sent_bytes_total',
    'RTP bytes sent to a viewer session.',
    ['path', 'session', 'transport'],
    perViewer((v) => v.bytesSent),
  );
  metric(
    'counter',
    'streammesh_proxy_rtsp_viewer_dropped_packets_total',
    'Packets a slow TCP viewer could not take.',
    ['path', 'session', 'transport'],
    perViewer((v) => v.packetsDropped),
  );
  metric('gauge', 'streammesh_proxy_rtsp_connections', 'Open RTSP connections.', [], (s) => [
    [{}, s.connections],
  ]);
  metric(
    'counter',
    'streammesh_proxy_rtsp_refused_connections_total',
    'Connections refused (over proxy.rtsp.maxConnections or maxConnectionsPerSource, or to a retired listener); by reason in streammesh_listener_refused_connections_total{listener="rtsp"}.',
    [],
    (s) => [[{}, s.refusedConnections]],
  );
  metric(
    'gauge',
    'streammesh_proxy_streams',
    'Streams the proxy carries now (RTSP paths whose source runs: cameras it pulls, streams over hops, publishers); at most proxy.maxStreams, always-on cameras aside.',
    [],
    (s) => [[{}, s.streams.carried]],
  );
  metric(
    'counter',
    'streammesh_proxy_streams_refused_total',
    'Viewers and publishers refused (RTSP 453) because the proxy carried proxy.maxStreams streams and they needed one more; a hop feeding another proxy asks again every second and counts each time.',
    [],
    (s) => [[{}, s.streams.refused]],
  );
  metric(
    'counter',
    'streammesh_proxy_rtsp_timed_out_sessions_total',
    'UDP sessions closed after the session timeout.',
    [],
    (s) => [[{}, s.timedOutSessions]],
  );
  metric(
    'counter',
    'streammesh_proxy_rtsp_viewer_reopens_total',
    'UDP viewer tracks of a media worker that ended, opened again on its successor on the same ports (result="reopened"), or whose session was ended because they could not be (result="failed"). Absent with one worker.',
    ['result'],
    (s) =>
      s.viewerSpread === null
        ? []
        : [
            [{ result: 'reopened' }, s.viewerSpread.reopened],
            [{ result: 'failed' }, s.viewerSpread.reopenFailed],
          ],
  );
  metric(
    'counter',
    'streammesh_proxy_rtsp_bad_input_total',
    'Malformed or refused client input, by reason.',
    ['reason'],
    (s) => Object.entries(s.defects).map(([reason, n]): Sample => [{ reason }, n]),
  );
  metric(
    'counter',
    'streammesh_proxy_rtsp_requests_total',
    'RTSP requests, by method and status.',
    ['method', 'status'],
    () =>
      Object.entries(service.requests.counts).map(([key, n]): Sample => {
        const [method = '', status = ''] = key.split(' ');
        return [{ method, status }, n ?? 0];
      }),
  );
}
