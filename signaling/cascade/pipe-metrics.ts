/**
 * Prometheus view of the cascade pipes on this node, summed over the rooms'
 * PipeSets at scrape time (no room label: the per-room figures are in each
 * set's stats(), and a room's series would outlive nothing useful here).
 * A producer piped in is one copy of a remote producer this node's workers
 * receive; piped out, one copy it sends to a peer node.
 *
 * mediasoup drops what a pipe's port receives that is not its peer's media
 * without a word: the unaccounted bytes (PipeSet.unaccountedBytes) are
 * sampled at each scrape and added up here. Like the gauges, the counters
 * are the process's: two nodes in one process (tests) share them.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { PipeSet } from './pipe-set.js';

/** Unaccounted pipe bytes sampled so far in this process (every registry reads the same sum). */
let unaccountedBytes = 0;

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
  new Counter({
    name: 'streammesh_signaling_pipes_refused_total',
    help: "Attempts to open a cascade pipe refused because the pipes' share of their worker's RTC ports (a quarter of its slice) was full (a refused pipe is tried again at the next change of PIPEs or rooms, and counted again); participants keep the rest.",
    registers,
    collect() {
      this.reset();
      this.inc(PipeSet.portsRefused);
    },
  });
  new Counter({
    name: 'streammesh_signaling_pipe_unaccounted_bytes_total',
    help:
      "Bytes received on cascade pipe ports and not taken as the peer node's RTP or RTX (mediasoup drops garbage, wrong-key, replayed and foreign datagrams in silence). " +
      'Approximate: bytesReceived - rtpBytesReceived - rtxBytesReceived of each pipe transport, sampled at scrape time, so it also counts the peer RTCP and the 16-byte SRTP tag of every accepted packet.',
    registers,
    async collect() {
      const sampled = await Promise.all([...PipeSet.live()].map((set) => set.unaccountedBytes()));
      unaccountedBytes += sampled.reduce((sum, bytes) => sum + bytes, 0);
      this.reset();
      this.inc(unaccountedBytes);
    },
  });
}
