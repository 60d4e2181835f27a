/**
 * Prometheus view of the cascade pipes on this node, summed over the rooms'
 * PipeSets at scrape time (no room label: the per-room figures are in each
 * set's stats(), and a room's series would outlive nothing useful here).
 * A producer piped in is one copy of a remote producer this node's workers
 * receive; piped out, one copy it sends to a peer node.
 */
import { Gauge, type Registry } from 'prom-client';
import { PipeSet } from './pipe-set.js';

export function registerPipeMetrics(metrics: Registry): void {
  const registers = [metrics];
  new Gauge({
    name: 'streammesh_signaling_pipes',
    help: 'Cascade pipes (one mediasoup PipeTransport per room and peer node) open now.',
    labelNames: ['state'],
    registers,
    collect() {
      let connected = 0;
      let waiting = 0;
      for (const set of PipeSet.live()) {
        for (const pipe of set.stats().pipes) {
          if (pipe.connected) connected += 1;
          else waiting += 1;
        }
      }
      this.set({ state: 'connected' }, connected);
      this.set({ state: 'waiting' }, waiting);
    },
  });
  new Gauge({
    name: 'streammesh_signaling_piped_producers',
    help: 'Producers piped between signaling nodes now: in (a remote producer received here) or out (ours sent to a peer node).',
    labelNames: ['direction'],
    registers,
    collect() {
      let pipedIn = 0;
      let pipedOut = 0;
      for (const set of PipeSet.live()) {
        const stats = set.stats();
        pipedIn += stats.pipedIn;
        pipedOut += stats.pipedOut;
      }
      this.set({ direction: 'in' }, pipedIn);
      this.set({ direction: 'out' }, pipedOut);
    },
  });
}
