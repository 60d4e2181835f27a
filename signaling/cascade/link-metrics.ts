/**
 * Prometheus view of the cascade links. Reasons are fixed sets (never a
 * peer's text, never a node id), so a hostile peer cannot grow the series.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LinkParseFailure } from './link-messages.js';

/** Why a frame was dropped (received, or not sent) while its link stayed up. */
export type LinkDropReason =
  | LinkParseFailure
  /** Over the per-link message rate. */
  | 'rate_limited'
  /** A reply no request of this node waits for (late, unknown id, another producer). */
  | 'unexpected_reply'
  /** About a room this node does not share with the sender (no PIPE between them). */
  | 'not_member'
  /**
   * About a peer or producer the sender does not hold here (this node's own,
   * another node's, or none): the room ignores it (RoomCascade).
   */
  | 'not_owner'
  /** Sent while the link was not up and the queue was full: the oldest queued one goes. */
  | 'send_queue_full'
  /** Queued for a node that is no longer known, or a link released before it came up. */
  | 'send_undelivered'
  /** A message this node would send over the frame cap (a bug of the sender: logged). */
  | 'send_too_large';

/** Why a peer's connection was refused before it became a link. */
export type LinkRefusal =
  | 'tls_no_client_certificate'
  | 'tls_client_certificate_untrusted'
  | 'tls_client_certificate_expired'
  | 'tls_client_certificate_revoked'
  | 'tls_no_mesh_identity'
  | 'tls_not_tls'
  | 'tls_handshake_failed'
  | 'tls_handshake_timeout'
  | 'no_node_id'
  | 'self'
  | 'unknown_node'
  | 'identity_mismatch'
  | 'source_mismatch'
  | 'bad_request'
  | 'duplicate';

/** Why this node's own dial failed (it retries with backoff). */
export type LinkDialFailure =
  | 'bad_address'
  | 'no_certificate'
  | 'connect'
  | 'tls'
  | 'server_identity'
  | 'refused'
  | 'timeout'
  | 'closed';

export interface LinkMetrics {
  dropped(reason: LinkDropReason): void;
  refused(reason: LinkRefusal): void;
  dialFailed(reason: LinkDialFailure): void;
  received(type: string): void;
}

export function registerLinkMetrics(registry: Registry, linksUp: () => number): LinkMetrics {
  const registers = [registry];
  new Gauge({
    name: 'streammesh_signaling_cascade_links',
    help: 'Cascade links up between this signaling node and others.',
    registers,
    collect() {
      this.set(linksUp());
    },
  });
  const dropped = new Counter({
    name: 'streammesh_signaling_cascade_messages_dropped_total',
    help: 'Cascade link frames dropped while the link stayed up, by reason (not parsed, too large, over the rate, unexpected reply, a room not shared, a peer or producer the sender does not hold; or not sent).',
    labelNames: ['reason'],
    registers,
  });
  const refused = new Counter({
    name: 'streammesh_signaling_cascade_links_refused_total',
    help: 'Connections to the cascade link listener refused before they became a link, by reason (TLS, identity, duplicate).',
    labelNames: ['reason'],
    registers,
  });
  const dialFailed = new Counter({
    name: 'streammesh_signaling_cascade_dials_failed_total',
    help: "This node's cascade link dials that failed (each is retried with backoff), by reason.",
    labelNames: ['reason'],
    registers,
  });
  const received = new Counter({
    name: 'streammesh_signaling_cascade_messages_received_total',
    help: 'Cascade link messages received and accepted, by message type.',
    labelNames: ['type'],
    registers,
  });
  return {
    dropped: (reason) => dropped.inc({ reason }),
    refused: (reason) => refused.inc({ reason }),
    dialFailed: (reason) => dialFailed.inc({ reason }),
    received: (type) => received.inc({ type }),
  };
}
