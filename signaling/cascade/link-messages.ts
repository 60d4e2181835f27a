/**
 * The cascade link's messages (issue 18): JSON text frames between two
 * signaling nodes that share a room, version 1.
 *
 *   { "v": 1, "type": "producerAdded", "room": "r1", "peer": "alice", ... }
 *
 * They carry what one node's participants do to the other node's copy of
 * the room (roster and producers, `sync` for the whole set), and the
 * on-demand piping of a producer (`pipeRequest` answered by `pipeReady` or
 * `pipeRefused` with the same `id`). No key ever crosses the link: a pipe's
 * SRTP keys travel only through the control plane (PIPE resources).
 *
 * The peer node is authenticated, but it is still input from the network:
 * a frame is checked here before anything reads it, and a frame that does
 * not pass is dropped and counted by the link (never answered, never
 * fatal), so a buggy or newer peer cannot take a room down. Room and peer
 * names follow the signaling protocol's rule (what a URL and a log line can
 * carry as is); display names are cleaned as the signaling protocol cleans
 * them; mediasoup's parameter objects are checked for shape only, mediasoup
 * validates their content.
 *
 * 64 KiB per frame, as for a client's frames: the sender keeps a message
 * below it (a room's `sync` too; a larger roster goes as a `sync` of the
 * peers followed by `producerAdded` messages).
 */
import { z } from 'zod';
import { roomNameSchema } from '../../src/config/index.js';
import { displayNameSchema } from '../protocol/index.js';

export const LINK_PROTOCOL_VERSION = 1;
/** The WebSocket subprotocol of the link (Sec-WebSocket-Protocol). */
export const LINK_SUBPROTOCOL = 'streammesh.cascade.v1';
/** Larger frames are dropped unparsed. */
export const MAX_LINK_MESSAGE_BYTES = 64 * 1024;

const room = roomNameSchema;
/** Peer names follow the same rule as room names (signaling/protocol/messages.ts). */
const peer = roomNameSchema;
/** mediasoup ids (UUIDs), bounded like the signaling protocol's. */
const producerId = z.string().min(1).max(64);
const requestId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const kind = z.enum(['audio', 'video']);
const appData = z.record(z.string(), z.json()).optional();
/** A mediasoup parameters object: a JSON object, checked by mediasoup itself. */
const parameters = z.record(z.string(), z.unknown());
/** A roster's size is bounded by the frame size anyway; this bounds the work before that. */
const MAX_LIST = 4096;

const producerInfo = {
  peer,
  producerId,
  kind,
  paused: z.boolean(),
  appData,
};

const producerEvent = z.strictObject({ room, producerId });

/** Each message type's fields (`type` and `v` aside). */
export const linkMessageSchemas = {
  /** A room's whole local roster and producers, when the link comes up or the room becomes shared. */
  sync: z.strictObject({
    room,
    peers: z
      .array(z.strictObject({ peer, displayName: displayNameSchema.nullable() }))
      .max(MAX_LIST),
    producers: z.array(z.strictObject(producerInfo)).max(MAX_LIST),
  }),
  peerJoined: z.strictObject({ room, peer, displayName: displayNameSchema.nullable() }),
  peerLeft: z.strictObject({ room, peer }),
  producerAdded: z.strictObject({ room, ...producerInfo }),
  producerClosed: producerEvent,
  producerPaused: producerEvent,
  producerResumed: producerEvent,
  /** "Pipe this producer of yours to me": answered by pipeReady or pipeRefused with the same id. */
  pipeRequest: z.strictObject({ id: requestId, room, producerId }),
  pipeReady: z.strictObject({
    id: requestId,
    room,
    producerId,
    kind,
    /** The pipe consumer's RTP parameters: what the asking node's pipe producer takes. */
    rtpParameters: parameters,
    paused: z.boolean(),
  }),
  pipeRefused: z.strictObject({
    id: requestId,
    room,
    producerId,
    reason: z.string().min(1).max(256),
  }),
  /** "I no longer consume this producer": the origin closes its pipe consumer. */
  unpipe: producerEvent,
  ping: z.strictObject({}),
  pong: z.strictObject({}),
} as const;

export type LinkMessageType = keyof typeof linkMessageSchemas;
export const linkMessageTypes = Object.keys(linkMessageSchemas) as LinkMessageType[];

/** A schema's fields; none for an empty one (zod reads `{}` as Record<string, never>). */
type Fields<T> = string extends keyof T ? unknown : Readonly<T>;

/** One message as it reads after parsing (what a sender gives, `v` aside). */
export type LinkMessage = {
  [T in LinkMessageType]: { readonly type: T } & Fields<z.output<(typeof linkMessageSchemas)[T]>>;
}[LinkMessageType];

export type LinkMessageOf<T extends LinkMessageType> = Extract<LinkMessage, { type: T }>;

/** The replies a pipeRequest waits for. */
export type PipeReply = LinkMessageOf<'pipeReady'> | LinkMessageOf<'pipeRefused'>;

/** Why a frame was dropped: the label of streammesh_signaling_cascade_messages_dropped_total. */
export type LinkParseFailure =
  'too_large' | 'binary' | 'bad_json' | 'bad_message' | 'unsupported_version' | 'unknown_type';

export type LinkParseResult =
  | { readonly ok: true; readonly message: LinkMessage }
  | { readonly ok: false; readonly reason: LinkParseFailure; readonly detail: string };

const envelope = z.looseObject({ v: z.number(), type: z.string().max(64) });

function isType(text: string): text is LinkMessageType {
  return Object.hasOwn(linkMessageSchemas, text);
}

function fail(reason: LinkParseFailure, detail: string): LinkParseResult {
  return { ok: false, reason, detail };
}

/** Parses one frame from a peer node. Never throws. */
export function parseLinkMessage(frame: string | Buffer): LinkParseResult {
  const bytes = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
  if (bytes > MAX_LINK_MESSAGE_BYTES) {
    return fail('too_large', `frame of ${bytes} bytes; at most ${MAX_LINK_MESSAGE_BYTES}`);
  }
  try {
    let json: unknown;
    try {
      json = JSON.parse(typeof frame === 'string' ? frame : frame.toString('utf8'));
    } catch {
      return fail('bad_json', 'not JSON');
    }
    const outer = envelope.safeParse(json);
    if (!outer.success) return fail('bad_message', firstIssue(outer.error));
    const { v, type, ...fields } = outer.data;
    if (v !== LINK_PROTOCOL_VERSION) {
      return fail('unsupported_version', `version ${v}; this node speaks ${LINK_PROTOCOL_VERSION}`);
    }
    if (!isType(type)) return fail('unknown_type', 'unknown message type');
    const parsed = linkMessageSchemas[type].safeParse(fields);
    if (!parsed.success) return fail('bad_message', `${type}: ${firstIssue(parsed.error)}`);
    return { ok: true, message: { type, ...parsed.data } as LinkMessage };
  } catch {
    // A nesting deep enough to exhaust the stack in a recursive check: not a message.
    return fail('bad_message', 'not a message');
  }
}

/** The frame for `message`. */
export function encodeLinkMessage(message: LinkMessage): string {
  return JSON.stringify({ v: LINK_PROTOCOL_VERSION, ...message });
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'bad message';
  const path = issue.path.map(String).join('.');
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}
