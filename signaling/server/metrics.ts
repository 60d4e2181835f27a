/**
 * Prometheus view of the signaling server, read at scrape time: rooms, peers,
 * mediasoup workers by state, and frames refused by the protocol parser.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { EdgeTokenFailure } from '../../src/shared/edge-token/index.js';
import type { ErrorCode } from '../protocol/index.js';
import { censusCounts, type WorkerPool } from '../sfu/index.js';
import type { Rooms } from './rooms.js';

export interface SignalingMetrics {
  badMessage(code: ErrorCode): void;
  tokenRefused(reason: EdgeTokenFailure): void;
}

export function registerSignalingMetrics(
  metrics: Registry,
  rooms: Rooms,
  pool: WorkerPool,
): SignalingMetrics {
  const registers = [metrics];
  new Gauge({
    name: 'streammesh_signaling_rooms',
    help: 'Rooms open on this node (one mediasoup Router each).',
    registers,
    collect() {
      this.set(rooms.size);
    },
  });
  new Gauge({
    name: 'streammesh_signaling_peers',
    help: 'Peers joined to a room on this node.',
    registers,
    collect() {
      this.set(rooms.peers);
    },
  });
  new Gauge({
    name: 'streammesh_signaling_workers',
    help: 'mediasoup workers by state (alive, or dead and waiting for a restart).',
    labelNames: ['state'],
    registers,
    collect() {
      const workers = pool.workers;
      const alive = workers.filter((worker) => worker.alive).length;
      this.set({ state: 'alive' }, alive);
      this.set({ state: 'dead' }, workers.length - alive);
    },
  });
  new Gauge({
    name: 'streammesh_signaling_mediasoup_objects',
    help: 'Live mediasoup objects in this process by kind: a count that keeps growing is a leak.',
    labelNames: ['kind'],
    registers,
    collect() {
      const counts: Record<string, number> = { ...censusCounts() };
      for (const [kind, count] of Object.entries(counts)) this.set({ kind }, count);
    },
  });
  const bad = new Counter({
    name: 'streammesh_signaling_bad_messages_total',
    help: 'Client frames refused before any handler saw them, by protocol error code.',
    labelNames: ['code'],
    registers,
  });
  const tokenRefused = new Counter({
    name: 'streammesh_signaling_websocket_token_refused_total',
    help: 'WebSocket upgrades refused for their edge token (signaling.requireToken), by reason.',
    labelNames: ['reason'],
    registers,
  });
  return {
    badMessage: (code) => {
      bad.inc({ code });
    },
    tokenRefused: (reason) => {
      tokenRefused.inc({ reason });
    },
  };
}
