/**
 * The proxy's load for the control plane, from what the relay and the RTSP
 * proxy already count (nothing is added to the packet path): packets and
 * bits per second in and out (deltas of the routes', destinations', paths'
 * and viewer sessions' counters since the previous report), and sessions
 * (media routes + RTSP viewer sessions). The relay's counters are as its
 * media workers last gave them (at most about a second old).
 */
import { performance } from 'node:perf_hooks';
import type { MeshConfig } from '../src/config/index.js';
import type { LoadFigures, LoadSource } from '../src/node-agent/index.js';
import type { LatestRouteSource } from './media/workers/index.js';
import type { RtspService } from './media/rtsp/index.js';

interface Totals {
  readonly packets: number;
  readonly bytes: number;
}

/**
 * Growth of counters that can vanish (a route removed) or restart (a path
 * rebuilt) between two reports: a counter seen for the first time, or lower
 * than before, counts from zero.
 */
export class CounterDeltas<Key> {
  #previous = new Map<Key, Totals>();
  #next = new Map<Key, Totals>();

  add(key: Key, totals: Totals): Totals {
    this.#next.set(key, totals);
    const before = this.#previous.get(key);
    if (before === undefined || totals.packets < before.packets || totals.bytes < before.bytes) {
      return totals;
    }
    return { packets: totals.packets - before.packets, bytes: totals.bytes - before.bytes };
  }

  /** Ends a report: keys not seen in it are forgotten. */
  finish(): void {
    this.#previous = this.#next;
    this.#next = new Map();
  }
}

export function proxyLoad(relay: LatestRouteSource, rtsp: RtspService): LoadSource {
  // By route name: a route restarted with its worker counts again from zero.
  const relayDeltas = new CounterDeltas<string>();
  const pathDeltas = new CounterDeltas<string>();
  const viewerDeltas = new CounterDeltas<string>();
  let since = performance.now();
  return {
    measure(): LoadFigures {
      let packets = 0;
      let bytes = 0;
      const count = (delta: Totals): void => {
        packets += delta.packets;
        bytes += delta.bytes;
      };
      const routes = relay.latestRoutes();
      for (const route of routes) {
        let packetsOut = 0;
        let bytesOut = 0;
        for (const destination of route.destinations) {
          packetsOut += destination.packets;
          bytesOut += destination.bytes;
        }
        count(
          relayDeltas.add(route.name, {
            packets: route.packetsIn + packetsOut,
            bytes: route.bytesIn + bytesOut,
          }),
        );
      }
      const snapshot = rtsp.snapshot();
      for (const path of snapshot.paths) {
        count(pathDeltas.add(path.name, { packets: path.packetsIn, bytes: path.bytesIn }));
      }
      for (const session of snapshot.sessions) {
        count(
          viewerDeltas.add(session.session, {
            packets: session.packetsSent,
            bytes: session.bytesSent,
          }),
        );
      }
      relayDeltas.finish();
      pathDeltas.finish();
      viewerDeltas.finish();
      const now = performance.now();
      const seconds = Math.max(0.001, (now - since) / 1000);
      since = now;
      return {
        packetsPerSecond: packets / seconds,
        bitrateBps: (bytes * 8) / seconds,
        sessions: routes.length + snapshot.sessions.length,
      };
    },
    capacity: (config: MeshConfig) => config.proxy.capacity,
  };
}
