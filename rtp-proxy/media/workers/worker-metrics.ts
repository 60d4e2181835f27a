/**
 * Per-worker series of the sharded relay, computed at scrape time:
 *
 *   streammesh_proxy_worker_up{worker}                      1 running, 0 restarting
 *   streammesh_proxy_worker_restarts_total{worker,reason}   crashed, out_of_memory, exited, unresponsive
 *   streammesh_proxy_worker_restart_gap_seconds{worker}     the last restart's gap (exit seen -> routes back)
 *   streammesh_proxy_worker_event_loop_utilization{worker}  busy share since the previous scrape
 *   streammesh_proxy_worker_routes{worker}                  routes it carries
 *   streammesh_proxy_worker_received_packets_total{worker}  RTP packets in, over all its routes
 *   streammesh_proxy_worker_sent_packets_total{worker}      RTP packets out, over all its routes
 *   streammesh_proxy_route_worker{route,worker}             1: which worker carries a route
 *   streammesh_proxy_worker_rtsp_viewer_tracks{worker}      RTSP UDP viewer tracks it carries
 *
 * The per-route series (stream-metrics.ts) keep their names and labels; the
 * last series here joins them to a worker (`* on(route) group_left(worker)`).
 * A worker's packet totals start again from 0 when it is restarted; they are
 * exposed as counters that only add the rises (MonotonicTotals), so a
 * restart does not read as a burst of traffic.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { MonotonicTotals } from '../../../src/shared/monotonic-totals.js';
import type { MediaWorkers } from './media-workers.js';

export function registerWorkerMetrics(metrics: Registry, workers: MediaWorkers): void {
  const registers = [metrics];
  const labelNames = ['worker'];
  new Gauge({
    name: 'streammesh_proxy_worker_up',
    help: 'Whether the media worker is running with its routes (1) or being restarted (0).',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const state of workers.states()) this.set({ worker: state.index }, state.up ? 1 : 0);
    },
  });
  new Counter({
    name: 'streammesh_proxy_worker_restarts_total',
    help: 'Media workers ended and started again, by reason (crashed, out_of_memory, exited, unresponsive).',
    labelNames: ['worker', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const state of workers.states()) {
        for (const [reason, count] of state.restarts)
          this.inc({ worker: state.index, reason }, count);
      }
    },
  });
  new Gauge({
    name: 'streammesh_proxy_worker_restart_gap_seconds',
    help: "The media worker's last restart: from its exit reaching the main thread to its routes in force again (the dead thread's own teardown before that is not counted).",
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const state of workers.states()) {
        if (state.lastGapMs !== null) this.set({ worker: state.index }, state.lastGapMs / 1000);
      }
    },
  });
  new Gauge({
    name: 'streammesh_proxy_worker_event_loop_utilization',
    help: "Share of time the media worker's event loop was busy since the previous scrape (0-1).",
    labelNames,
    registers,
    collect() {
      this.reset();
      workers.utilization().forEach((busy, index) => {
        if (busy !== null) this.set({ worker: index }, busy);
      });
    },
  });
  new Gauge({
    name: 'streammesh_proxy_worker_routes',
    help: 'Media routes the worker carries.',
    labelNames,
    registers,
    async collect() {
      this.reset();
      for (const snapshot of await workers.workerSnapshots()) {
        this.set({ worker: snapshot.worker }, snapshot.routes.length);
      }
    },
  });
  const received = new MonotonicTotals();
  new Counter({
    name: 'streammesh_proxy_worker_received_packets_total',
    help: 'Valid RTP packets received by the routes of the media worker.',
    labelNames,
    registers,
    async collect() {
      this.reset();
      for (const snapshot of await workers.workerSnapshots()) {
        const key = String(snapshot.worker);
        this.inc({ worker: key }, received.update(key, snapshot.totals.packetsIn));
      }
    },
  });
  const sent = new MonotonicTotals();
  new Counter({
    name: 'streammesh_proxy_worker_sent_packets_total',
    help: 'RTP packets the routes of the media worker sent to destinations.',
    labelNames,
    registers,
    async collect() {
      this.reset();
      for (const snapshot of await workers.workerSnapshots()) {
        const key = String(snapshot.worker);
        this.inc({ worker: key }, sent.update(key, snapshot.totals.packetsOut));
      }
    },
  });
  new Gauge({
    name: 'streammesh_proxy_worker_rtsp_viewer_tracks',
    help: 'RTSP UDP viewer tracks whose port pair and sends the media worker carries (as the worker counts them).',
    labelNames,
    registers,
    async collect() {
      this.reset();
      for (const snapshot of await workers.workerSnapshots()) {
        this.set({ worker: snapshot.worker }, snapshot.rtspViewerTracks);
      }
    },
  });
  new Gauge({
    name: 'streammesh_proxy_route_worker',
    help: 'Which media worker carries the route (always 1; join on route).',
    labelNames: ['route', 'worker'],
    registers,
    async collect() {
      this.reset();
      for (const snapshot of await workers.workerSnapshots()) {
        for (const route of snapshot.routes)
          this.set({ route: route.name, worker: snapshot.worker }, 1);
      }
    },
  });
}
