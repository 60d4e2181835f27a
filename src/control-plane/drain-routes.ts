/**
 * `POST /nodes/<id>/drain` on the control plane's admin: drains a node
 * until now + deadlineSec (JSON body `{"deadlineSec": 60}`, optional,
 * 1..3600, default 60). It needs the admin token, as PUT /config does: a
 * drain moves every session off a node. 202 with the node and its deadline
 * (placement and the push carry it out at once), 404 for a node the
 * registry does not hold, 400 for a bad body. One segment route serves
 * every node id.
 */
import { z } from 'zod';
import type { AdminServer } from '../shared/admin/index.js';
import { MAX_DRAIN_MS, type Registry } from './registry/index.js';

export const DEFAULT_DRAIN_SEC = 60;

const drainBody = z
  .object({
    deadlineSec: z
      .number()
      .min(1)
      .max(MAX_DRAIN_MS / 1000)
      .optional(),
  })
  .strict();

/** A drain as the admin answers it. */
export interface DrainAnswer {
  readonly node: string;
  readonly deadline: string;
}

export function addDrainRoutes(admin: AdminServer, registry: Registry): void {
  admin.segmentRoute(
    'POST',
    '/nodes/',
    '/drain',
    async (request, id) => {
      const seconds = deadlineSecOf(await request.body());
      if (typeof seconds === 'string') return { status: 400, body: { error: seconds } };
      const deadlineMs = Date.now() + seconds * 1000;
      if (!registry.drain(id, deadlineMs)) {
        return { status: 404, body: { error: `no node ${id} is registered` } };
      }
      const answer: DrainAnswer = { node: id, deadline: new Date(deadlineMs).toISOString() };
      return { status: 202, body: answer };
    },
    { access: 'token' },
  );
}

/** The body's deadlineSec (default DEFAULT_DRAIN_SEC), or why the body is refused. */
export function deadlineSecOf(text: string): number | string {
  if (text.trim() === '') return DEFAULT_DRAIN_SEC;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'the body must be JSON, e.g. {"deadlineSec": 60}';
  }
  const parsed = drainBody.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? '';
    return `${field === '' ? 'body' : field}: ${issue?.message ?? 'invalid'} (deadlineSec is 1..${MAX_DRAIN_MS / 1000})`;
  }
  return parsed.data.deadlineSec ?? DEFAULT_DRAIN_SEC;
}
