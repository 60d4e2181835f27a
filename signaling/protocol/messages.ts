/**
 * The signaling protocol, version 1: JSON text frames over a WebSocket.
 *
 *   client -> server  request       { "v": 1, "id": 7, "method": "join", "data": { ... } }
 *   server -> client  response      { "v": 1, "id": 7, "ok": true, "data": { ... } }
 *                     error         { "v": 1, "id": 7, "ok": false,
 *                                     "error": { "code": "not_joined", "message": "..." } }
 *                     notification  { "v": 1, "event": "newProducer", "data": { ... } }
 *
 * `id` is the client's, echoed so it can match answers to requests sent
 * concurrently. Every request is validated here before any handler sees it;
 * mediasoup's own parameter objects (DTLS, RTP parameters and capabilities)
 * are checked for shape only, mediasoup validates their content.
 */
import { z } from 'zod';
import { displayNameSchema } from './display-name.js';

export const PROTOCOL_VERSION = 1;
/** The WebSocket subprotocol a client asks for (Sec-WebSocket-Protocol). */
export const SUBPROTOCOL = 'streammesh.v1';
/** Larger frames are refused unparsed: an SDP-sized RTP parameters object is a few KiB. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** Stable error codes: clients switch on these, never on the message text. */
export const errorCodes = [
  'bad_json',
  'bad_message',
  'too_large',
  'unsupported_version',
  'unknown_method',
  'not_joined',
  'already_joined',
  'not_found',
  'limit_exceeded',
  'rate_limited',
  'over_budget',
  'forbidden',
  'moved',
  'internal',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

const id = z.string().min(1).max(64);
/** Room and peer names: what a URL or a log line can carry as is. */
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$/, {
  message: 'must be 1-64 letters, digits and . _ ~ -, starting with a letter or digit',
});
/** A mediasoup parameters object: a JSON object, checked by mediasoup itself. */
const parameters = z.record(z.string(), z.unknown());
const appData = z.record(z.string(), z.json()).optional();

export const requestSchemas = {
  ping: z.strictObject({}),
  join: z.strictObject({
    room: name,
    peer: name.optional(),
    displayName: displayNameSchema.optional(),
  }),
  leave: z.strictObject({}),
  getRouterRtpCapabilities: z.strictObject({}),
  createTransport: z.strictObject({ direction: z.enum(['send', 'recv']) }),
  connectTransport: z.strictObject({ transportId: id, dtlsParameters: parameters }),
  restartIce: z.strictObject({ transportId: id }),
  produce: z.strictObject({
    transportId: id,
    kind: z.enum(['audio', 'video']),
    rtpParameters: parameters,
    appData,
  }),
  consume: z.strictObject({ transportId: id, producerId: id, rtpCapabilities: parameters }),
  pauseProducer: z.strictObject({ producerId: id }),
  resumeProducer: z.strictObject({ producerId: id }),
  closeProducer: z.strictObject({ producerId: id }),
  pauseConsumer: z.strictObject({ consumerId: id }),
  resumeConsumer: z.strictObject({ consumerId: id }),
  closeConsumer: z.strictObject({ consumerId: id }),
} as const;

export type Method = keyof typeof requestSchemas;
export const methods = Object.keys(requestSchemas) as Method[];

export type RequestData<M extends Method> = z.output<(typeof requestSchemas)[M]>;

export type ClientRequest = {
  [M in Method]: { readonly id: number; readonly method: M; readonly data: RequestData<M> };
}[Method];

export interface ProtocolError {
  readonly code: ErrorCode;
  readonly message: string;
  /** With `moved`: the WebSocket URL of the node to join instead (ws:// or wss://). */
  readonly url?: string;
}

export type ParseResult =
  | { readonly ok: true; readonly request: ClientRequest }
  /** `id` when the frame got far enough to name one, so the error can answer it. */
  | { readonly ok: false; readonly id: number | undefined; readonly error: ProtocolError };

const envelope = z.strictObject({
  v: z.number(),
  id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  method: z.string().max(64),
  data: z.unknown().optional(),
});

function isMethod(text: string): text is Method {
  return Object.hasOwn(requestSchemas, text);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}

/** Parses one WebSocket text frame from a client. Never throws. */
export function parseClientMessage(frame: string | Buffer): ParseResult {
  const bytes = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
  if (bytes > MAX_MESSAGE_BYTES) {
    return fail(undefined, 'too_large', `message of ${bytes} bytes; at most ${MAX_MESSAGE_BYTES}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof frame === 'string' ? frame : frame.toString('utf8'));
  } catch {
    return fail(undefined, 'bad_json', 'not JSON');
  }
  const outer = envelope.safeParse(json);
  if (!outer.success) {
    const first = outer.error.issues[0];
    const idValue = (json as { id?: unknown } | null)?.id;
    const knownId =
      Number.isSafeInteger(idValue) && (idValue as number) >= 0 ? (idValue as number) : undefined;
    return fail(
      knownId,
      'bad_message',
      first === undefined ? 'bad envelope' : describeIssue(first),
    );
  }
  const { v, id: requestId, method } = outer.data;
  if (v !== PROTOCOL_VERSION) {
    return fail(
      requestId,
      'unsupported_version',
      `version ${v}; this server speaks ${PROTOCOL_VERSION}`,
    );
  }
  if (!isMethod(method))
    return fail(requestId, 'unknown_method', `unknown method ${JSON.stringify(method)}`);
  const data = requestSchemas[method].safeParse(outer.data.data ?? {});
  if (!data.success) {
    const first = data.error.issues[0];
    return fail(requestId, 'bad_message', first === undefined ? 'bad data' : describeIssue(first));
  }
  return { ok: true, request: { id: requestId, method, data: data.data } as ClientRequest };
}

function fail(id: number | undefined, code: ErrorCode, message: string): ParseResult {
  return { ok: false, id, error: { code, message } };
}

/** A response frame. */
export function responseFrame(id: number, data: unknown): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, id, ok: true, data });
}

/** An error frame; `id` null when the request could not be identified. */
export function errorFrame(id: number | undefined, error: ProtocolError): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, id: id ?? null, ok: false, error });
}

export const eventNames = [
  'peerJoined',
  'peerLeft',
  'newProducer',
  'producerClosed',
  'producerPaused',
  'producerResumed',
  'consumerClosed',
  'consumerPaused',
  'consumerResumed',
  'reconnect',
  'move',
] as const;
export type EventName = (typeof eventNames)[number];

/** A notification frame. */
export function eventFrame(event: EventName, data: unknown): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, event, data });
}
