/**
 * What the L7 threads of one proxy say to each other about their clusters
 * (cluster-state-channel.ts), and the check every message passes before it
 * is believed:
 *
 *   - ejection: a thread's outlier detector ejected an endpoint; the others
 *     adopt it until the same time;
 *   - health: endpoints' health as a thread decided it (the owner's
 *     transition, one endpoint) or knows it (its answer to a sync, the
 *     transitions it decided or adopted); tagged with the cluster's settings
 *     digest, adopted where newer (`since`);
 *   - sync: a thread's cluster started (first start, restart, rebuilt by a
 *     config change) and asks for the health the others know.
 *
 * Only the proxy's own threads post on the channel; a message of another
 * shape is still dropped whole (a version skew would be a bug, not input).
 */
import type { HealthState } from '../cluster/health-check.js';

export interface EjectionMessage {
  readonly kind: 'ejection';
  readonly cluster: string;
  readonly endpoint: string;
  /** When the ejection ends, on the clock every thread shares (sharedMonotonicClock). */
  readonly until: number;
  readonly ejections: number;
}

export interface HealthMessage {
  readonly kind: 'health';
  readonly cluster: string;
  /** Cluster.settings of the instance that sent it. */
  readonly settings: string;
  readonly states: readonly HealthState[];
}

export interface SyncMessage {
  readonly kind: 'sync';
  readonly cluster: string;
  readonly settings: string;
}

export type ClusterStateMessage = EjectionMessage | HealthMessage | SyncMessage;

type Fields = Readonly<Record<string, unknown>>;

function isFields(data: unknown): data is Fields {
  return data !== null && typeof data === 'object' && !Array.isArray(data);
}

function isHealthState(data: unknown): data is HealthState {
  return (
    isFields(data) &&
    typeof data['id'] === 'string' &&
    typeof data['healthy'] === 'boolean' &&
    typeof data['since'] === 'number' &&
    Number.isFinite(data['since']) &&
    data['since'] > 0
  );
}

/** `data` as a message if it has one of the shapes above (plain copies only); undefined otherwise. */
export function parseClusterStateMessage(data: unknown): ClusterStateMessage | undefined {
  if (!isFields(data) || typeof data['cluster'] !== 'string') return undefined;
  const cluster = data['cluster'];
  switch (data['kind']) {
    case 'ejection': {
      const { endpoint, until, ejections } = data;
      if (
        typeof endpoint !== 'string' ||
        typeof until !== 'number' ||
        !Number.isFinite(until) ||
        typeof ejections !== 'number' ||
        !Number.isInteger(ejections) ||
        ejections < 1
      ) {
        return undefined;
      }
      return { kind: 'ejection', cluster, endpoint, until, ejections };
    }
    case 'health': {
      const { settings, states } = data;
      if (typeof settings !== 'string' || !Array.isArray(states)) return undefined;
      const list: unknown[] = states;
      if (!list.every(isHealthState)) return undefined;
      return {
        kind: 'health',
        cluster,
        settings,
        states: list.map(({ id, healthy, since }) => ({ id, healthy, since })),
      };
    }
    case 'sync': {
      const { settings } = data;
      if (typeof settings !== 'string') return undefined;
      return { kind: 'sync', cluster, settings };
    }
    default:
      return undefined;
  }
}
