/**
 * SIGNALING_NODE resources: the signaling nodes of the mesh, as the control
 * plane pushes them to every signaling node (issue 18). A node needs its
 * peers to send a participant elsewhere (a WebSocket `moved` answer, a WHIP
 * or WHEP 307) and to open the cascade link to the nodes it shares a room
 * with. One resource per registered signaling node:
 *
 *   type SIGNALING_NODE, name <node id>, body { node, identity, url, link,
 *   draining }, version = digest of the body
 *
 * `identity` is the SPIFFE ID the control plane authenticated the node by
 * (null without mTLS): the cascade link accepts a peer only under it. `url`
 * is the node's public HTTP base (signaling.publicUrl, else its listen
 * address), `link` where its cascade link listens. Not config: a node keeps
 * them beside its config.
 */
import { z } from 'zod';
import { describeZodIssues, resourceVersion, type PushedResource } from './resources.js';

export const SIGNALING_NODE = 'SIGNALING_NODE';

/** A node id as the control plane accepts it at Register (a DNS label, dots allowed). */
export const meshNodeIdSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, 'must be a registered node id (a DNS label)');

/** host:port, with brackets around an IPv6 host. */
export const meshHostPortSchema = z
  .string()
  .max(261)
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}$/, 'must be host:port');

export const signalingNodeBodySchema = z.strictObject({
  node: meshNodeIdSchema,
  identity: z.string().min(1).max(2048).nullable(),
  url: z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).max(2048),
  link: meshHostPortSchema,
  draining: z.boolean(),
});

export type SignalingNodeBody = z.infer<typeof signalingNodeBodySchema>;

export function signalingNodeResource(body: SignalingNodeBody): PushedResource {
  return {
    type: SIGNALING_NODE,
    name: body.node,
    order: 0,
    body,
    version: resourceVersion(body),
  };
}

/** A body as the schema reads it (its name must be its node), or the reason it is refused. */
export function parseSignalingNodeBody(name: string, body: unknown): SignalingNodeBody | string {
  const parsed = signalingNodeBodySchema.safeParse(body);
  if (!parsed.success) return describeZodIssues(parsed.error);
  if (parsed.data.node !== name) return `node: must be the resource's name (${name.slice(0, 64)})`;
  return parsed.data;
}
