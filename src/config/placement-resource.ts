/**
 * PLACEMENT resources: which node carries which media session, as the
 * control plane pushes it to every proxy (an edge needs to know each
 * camera's owner). One resource per session key:
 *
 *   type PLACEMENT, name <session key>, body { node, since, reason },
 *   version = digest of the body (resourceVersion, as for config resources)
 *
 * Session keys (src/control-plane/placement/session-keys.ts):
 * `camera/<RTSP path name>` for a path whose source is a camera URL, and
 * `route/<media route name>` for a relay route; and, pushed to signaling
 * nodes instead, `room/<room name>` for an SFU room (its home node, issue 18).
 *
 * The body says where the session is and since when, not what it is: the
 * config describes the camera or route. `since` is an ISO 8601 time (the
 * key's last move), `reason` why it moved then. A node validates every body
 * with placementBodySchema and NACKs one that does not fit.
 */
import { z } from 'zod';
import { describeZodIssues, resourceVersion, type PushedResource } from './resources.js';

export const PLACEMENT = 'PLACEMENT';

/** Why a session is on its node (the control plane's MoveReason). */
export const placementReasons = [
  'placed',
  'node_failed',
  'node_drained',
  'overloaded',
  'restored',
] as const;

export type PlacementReason = (typeof placementReasons)[number];

/** A node id as the control plane accepts it at Register (a DNS label, dots allowed). */
const nodeId = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, 'must be a registered node id (a DNS label)');

export const placementBodySchema = z.strictObject({
  node: nodeId,
  since: z.iso.datetime({ offset: false }),
  reason: z.enum(placementReasons),
});

export type PlacementBody = z.infer<typeof placementBodySchema>;

/** The PLACEMENT resource of one session key. */
export function placementResource(key: string, body: PlacementBody): PushedResource {
  return { type: PLACEMENT, name: key, order: 0, body, version: resourceVersion(body) };
}

/** A body as the schema reads it, or the reason it is refused (zod's issues, one line). */
export function parsePlacementBody(body: unknown): PlacementBody | string {
  const parsed = placementBodySchema.safeParse(body);
  if (parsed.success) return parsed.data;
  return describeZodIssues(parsed.error);
}
