/**
 * Prometheus view of WHIP and WHEP: sessions open now by endpoint (read at
 * scrape time), refused requests by endpoint and reason, and POSTs sent to
 * another node (307, the door).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RefusalReason } from './http.js';

export type Endpoint = 'whip' | 'whep';

export interface WhipWhepMetrics {
  refused(endpoint: Endpoint, reason: RefusalReason): void;
  /** A POST answered 307 to another signaling node (the door, server/door.ts). */
  redirected(endpoint: Endpoint): void;
}

export function registerWhipWhepMetrics(
  registry: Registry,
  sessions: (endpoint: Endpoint) => number,
): WhipWhepMetrics {
  const registers = [registry];
  new Gauge({
    name: 'streammesh_signaling_whip_whep_sessions',
    help: 'WHIP publishing and WHEP viewing sessions open on this node.',
    labelNames: ['endpoint'],
    registers,
    collect() {
      for (const endpoint of ['whip', 'whep'] as const) this.set({ endpoint }, sessions(endpoint));
    },
  });
  const refused = new Counter({
    name: 'streammesh_signaling_whip_whep_refused_total',
    help: 'WHIP/WHEP requests refused, by endpoint and reason (content_type, bad_sdp, too_large, unknown_session, too_many_sessions...).',
    labelNames: ['endpoint', 'reason'],
    registers,
  });
  const redirected = new Counter({
    name: 'streammesh_signaling_whip_whep_redirected_total',
    help: 'WHIP/WHEP POSTs answered 307 to the signaling node holding the room, by endpoint.',
    labelNames: ['endpoint'],
    registers,
  });
  return {
    refused: (endpoint, reason) => {
      refused.inc({ endpoint, reason });
    },
    redirected: (endpoint) => {
      redirected.inc({ endpoint });
    },
  };
}
