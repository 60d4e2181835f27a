/**
 * A Pod object (parsed JSON from a list or a watch) to what the registry
 * keeps of it: pure, so it is tested without an API server. Fields that
 * are missing or of the wrong type are dropped (counted); a Pod without a
 * name or uid cannot be matched to a node and is dropped whole.
 */
import { isIP } from 'node:net';
import type { PodRecord } from '../../registry/index.js';

/** Why a Pod (or one of its fields) was dropped: the label of streammesh_control_plane_kubernetes_dropped_total. */
export type PodDefect = 'not_an_object' | 'no_name' | 'bad_address' | 'too_many_pods';

/** A Kubernetes object name is at most 253 characters (DNS subdomain). */
const MAX_NAME = 253;

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function shortString(value: unknown): string | null {
  return typeof value === 'string' && value !== '' && value.length <= MAX_NAME ? value : null;
}

/** A time as the watch (RFC 3339 text) or the typed list (a Date) gives it. */
function timestamp(value: unknown): string | null {
  const time =
    value instanceof Date ? value : typeof value === 'string' ? new Date(value) : undefined;
  return time === undefined || Number.isNaN(time.getTime()) ? null : time.toISOString();
}

export function parsePod(
  object: unknown,
  count: (defect: PodDefect) => void,
): Omit<PodRecord, 'deletedAt'> | undefined {
  const pod = record(object);
  if (pod === undefined) {
    count('not_an_object');
    return undefined;
  }
  const metadata = record(pod['metadata']);
  const name = shortString(metadata?.['name']);
  const uid = shortString(metadata?.['uid']);
  if (name === null || uid === null) {
    count('no_name');
    return undefined;
  }
  let podIP = shortString(record(pod['status'])?.['podIP']);
  if (podIP !== null && isIP(podIP) === 0) {
    count('bad_address');
    podIP = null;
  }
  return {
    name,
    uid,
    nodeName: shortString(record(pod['spec'])?.['nodeName']),
    podIP,
    terminatingSince: timestamp(metadata?.['deletionTimestamp']),
  };
}
