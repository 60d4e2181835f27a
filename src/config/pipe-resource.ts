/**
 * PIPE resources: one cascade pipe of an SFU room between two signaling
 * nodes (issue 18), the mediasoup PipeTransport pair that carries every
 * producer of the room one node's participants consume from the other.
 *
 *   type PIPE, name pipe/<room>/<a>~<b> (node ids, a < b),
 *   body { pipeId, room, a: End, b: End },
 *   End = { node, identity, address?, srtp?: { cryptoSuite, keyBase64 } }
 *
 * The control plane makes a PIPE when two nodes report the same room, and
 * pushes it to those two nodes only. Each node creates its PipeTransport
 * (SRTP on) and reports its address and key (PipeEndpoints); the control
 * plane fills that end in and pushes again, and each node connects to the
 * other end once both are there. mediasoup makes a pipe's SRTP key itself
 * (it has no way to be given one): the control plane relays each key, over
 * its mutually authenticated channel, to the other authenticated end only,
 * and each end checks that the body names it under its own identity.
 * Keys are never logged or shown; a refusal never quotes one.
 */
import { z } from 'zod';
import { describeZodIssues, resourceVersion, type PushedResource } from './resources.js';
import { meshHostPortSchema, meshNodeIdSchema } from './signaling-node-resource.js';

export const PIPE = 'PIPE';

/** The one SRTP suite mediasoup's PipeTransport uses. */
export const PIPE_SRTP_SUITE = 'AEAD_AES_256_GCM';
/** Characters of its base64 key: 44 bytes (32 of key, 12 of salt). */
const PIPE_SRTP_KEY_BASE64_LENGTH = 60;

/** Room names as signaling takes them (/ws join, /whip/<room>): what a URL can carry as is. */
export const roomNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$/, {
  message: 'must be 1-64 letters, digits and . _ ~ -, starting with a letter or digit',
});

export const pipeSrtpSchema = z.strictObject({
  cryptoSuite: z.literal(PIPE_SRTP_SUITE),
  keyBase64: z
    .string()
    .length(PIPE_SRTP_KEY_BASE64_LENGTH, 'must be a 44-byte key in base64')
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64'),
});

export const pipeEndSchema = z.strictObject({
  node: meshNodeIdSchema,
  /** The SPIFFE ID the control plane authenticated the node by; null without mTLS. */
  identity: z.string().min(1).max(2048).nullable(),
  address: meshHostPortSchema.optional(),
  srtp: pipeSrtpSchema.optional(),
});

export const pipeBodySchema = z
  .strictObject({
    pipeId: z.string().min(1).max(253),
    room: roomNameSchema,
    a: pipeEndSchema,
    b: pipeEndSchema,
  })
  .superRefine((body, ctx) => {
    if (!(body.a.node < body.b.node)) {
      ctx.addIssue({
        code: 'custom',
        path: ['b', 'node'],
        message: 'ends must be in node id order, a < b',
      });
    }
    if (body.pipeId !== pipeResourceName(body.room, body.a.node, body.b.node)) {
      ctx.addIssue({ code: 'custom', path: ['pipeId'], message: 'must be pipe/<room>/<a>~<b>' });
    }
  });

export type PipeEnd = z.infer<typeof pipeEndSchema>;
export type PipeBody = z.infer<typeof pipeBodySchema>;
export type PipeSrtp = z.infer<typeof pipeSrtpSchema>;

/** The name (and pipeId) of the pipe of `room` between nodes `x` and `y`, in either order. */
export function pipeResourceName(room: string, x: string, y: string): string {
  const [a, b] = x < y ? [x, y] : [y, x];
  return `pipe/${room}/${a}~${b}`;
}

export function pipeResource(body: PipeBody): PushedResource {
  return { type: PIPE, name: body.pipeId, order: 0, body, version: resourceVersion(body) };
}

/** A body as the schema reads it (its name must be its pipeId), or the reason it is refused. */
export function parsePipeBody(name: string, body: unknown): PipeBody | string {
  const parsed = pipeBodySchema.safeParse(body);
  // zod quotes no input value in its messages, so no key can reach the reason.
  if (!parsed.success) return describeZodIssues(parsed.error);
  if (parsed.data.pipeId !== name) return 'pipeId: must be the resource name';
  return parsed.data;
}

/** This node's end of `body` and the other one; undefined when the pipe is not this node's. */
export function pipeEndsOf(
  body: PipeBody,
  node: string,
): { readonly own: PipeEnd; readonly peer: PipeEnd } | undefined {
  if (body.a.node === node) return { own: body.a, peer: body.b };
  if (body.b.node === node) return { own: body.b, peer: body.a };
  return undefined;
}
