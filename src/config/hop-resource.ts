/**
 * MEDIA_KEY resources: one proxy-to-proxy hop of a camera stream, with the
 * SRTP keys of both its ends. The control plane makes one for every camera
 * stream a proxy asked for over a hop (HopRequests in the proto) whose owner
 * is another proxy, and pushes it to those two nodes only:
 *
 *   type MEDIA_KEY, name = hopId = `<session key>:<sender>-><receiver>`
 *   body { hopId, session, sender, receiver, senderAddress, receiverAddress,
 *          keys, sendEpoch }
 *
 * - `hopId` names one sender-receiver pair of the session; when the session
 *   moves to another owner it is another hop, with other keys. Two hops of
 *   one session to one receiver exist at once only during a handover (a
 *   drain: the new owner's hop first, the old one removed after). A sender
 *   never reuses a key: a key protects from packet index 0.
 * - A restarted control plane learns the hops and their keys back from the
 *   nodes' Hellos (which return MEDIA_KEY resources with their bodies, as
 *   they do PLACEMENT), so a restart changes no key.
 * - `keys`: the epochs both ends hold, oldest first (src/protocol/srtp
 *   HopKey; the epoch travels as the MKI). The receiver installs all of them;
 *   the sender protects with `sendEpoch`. A rotation adds epoch n+1 while
 *   the sender stays on n; once the receiver has acknowledged holding it, the
 *   control plane moves `sendEpoch` to n+1, and later drops n: no packet
 *   meets a receiver without its key.
 * - `senderAddress` is where the owner's hop socket is (the receiver drops
 *   what comes from elsewhere and sends its reports there);
 *   `receiverAddress` is where the receiving socket is (from its request).
 *
 * The keys travel over the control plane's gRPC channel; they are redacted
 * from every admin view.
 */
import { z } from 'zod';
import { assertHopKey, srtpProfiles, type HopKey } from '../protocol/srtp/index.js';
import { errorMessage } from '../shared/errors.js';
import { describeZodIssues, resourceVersion, type PushedResource } from './resources.js';

export const MEDIA_KEY = 'MEDIA_KEY';

/** Epochs a hop body carries at most: the one in use, the next, and one being retired. */
export const MAX_HOP_KEYS = 3;

const nodeId = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, 'must be a registered node id (a DNS label)');

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port');

const hopKeySchema = z.strictObject({
  hopId: z.string().min(1).max(256),
  epoch: z.number().int().min(1).max(0xffff_ffff),
  profile: z.enum(srtpProfiles),
  key: z.string().min(1).max(128),
  notAfter: z.number(),
});

export const hopBodySchema = z
  .strictObject({
    hopId: z.string().min(1).max(256),
    session: z.string().min(1).max(253),
    sender: nodeId,
    receiver: nodeId,
    senderAddress: hostPort,
    receiverAddress: hostPort,
    keys: z.array(hopKeySchema).min(1).max(MAX_HOP_KEYS),
    sendEpoch: z.number().int().min(1).max(0xffff_ffff),
    // The SPIFFE IDs the control plane authenticated each end by (mutual TLS
    // on its gRPC channel); absent from a control plane without mTLS. A node
    // refuses a hop that names it with another identity than its own.
    senderIdentity: z.string().min(1).max(2048).optional(),
    receiverIdentity: z.string().min(1).max(2048).optional(),
  })
  .superRefine((body, ctx) => {
    if (body.hopId !== hopResourceName(body.session, body.sender, body.receiver)) {
      ctx.addIssue({
        code: 'custom',
        path: ['hopId'],
        message: 'must be <session>:<sender>-><receiver>',
      });
    }
    if (body.sender === body.receiver) {
      ctx.addIssue({ code: 'custom', path: ['receiver'], message: 'must differ from sender' });
    }
    let previous = 0;
    for (const [index, key] of body.keys.entries()) {
      if (key.hopId !== body.hopId) {
        ctx.addIssue({
          code: 'custom',
          path: ['keys', index, 'hopId'],
          message: "must be the hop's hopId",
        });
      }
      if (key.epoch <= previous) {
        ctx.addIssue({
          code: 'custom',
          path: ['keys', index, 'epoch'],
          message: 'epochs must increase',
        });
      }
      previous = key.epoch;
      try {
        assertHopKey(key);
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['keys', index], message: errorMessage(error) });
      }
    }
    if (!body.keys.some((key) => key.epoch === body.sendEpoch)) {
      ctx.addIssue({
        code: 'custom',
        path: ['sendEpoch'],
        message: 'must be the epoch of one of keys',
      });
    }
  });

export type HopBody = z.infer<typeof hopBodySchema>;

/** The hop's id, which is also its MEDIA_KEY resource's name. */
export function hopResourceName(session: string, sender: string, receiver: string): string {
  return `${session}:${sender}->${receiver}`;
}

/** The MEDIA_KEY resource of one hop. */
export function hopResource(body: HopBody): PushedResource {
  return {
    type: MEDIA_KEY,
    name: body.hopId,
    order: 0,
    body,
    version: resourceVersion(body),
  };
}

/** The key of `epoch` in a body, as the hop ends take it. */
export function hopKeyOf(body: HopBody, epoch: number): HopKey | undefined {
  return body.keys.find((key) => key.epoch === epoch);
}

/** A body as the schema reads it, or the reason it is refused (one line, never quoting a key). */
export function parseHopBody(body: unknown): HopBody | string {
  const parsed = hopBodySchema.safeParse(body);
  if (parsed.success) return parsed.data;
  return describeZodIssues(parsed.error);
}
