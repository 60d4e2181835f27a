/**
 * The HTTP side of WHIP (RFC 9725) and WHEP: bounded body reads, media type
 * checks, CORS for pages on other origins, and refusals as plain text with a
 * status and a bounded reason for the metrics.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EdgeTokenFailure } from '../../src/shared/edge-token/index.js';
import { StreammeshError } from '../../src/shared/errors.js';
import { MAX_SDP_BYTES } from '../sdp/index.js';

export const SDP_TYPE = 'application/sdp';
export const SDPFRAG_TYPE = 'application/trickle-ice-sdpfrag';

/** Why a request was refused: the `reason` label of the refused counter (a bounded set). */
export type RefusalReason =
  | 'content_type'
  | 'bad_sdp'
  | 'too_large'
  | 'no_codec'
  | 'bad_name'
  | 'not_found'
  | 'unknown_session'
  | 'no_room'
  | 'no_producers'
  | 'no_camera'
  | 'camera_unavailable'
  | 'room_full'
  | 'room_closed'
  | 'too_many_sessions'
  | 'over_budget'
  | 'no_ports'
  | 'method'
  | 'precondition'
  | 'bad_fragment'
  | 'internal'
  /** An edge token refused (signaling.requireToken), by why: a bounded set too. */
  | `jwt_${EdgeTokenFailure}`;

/** A refusal: answered with `status` and `message` as text/plain, counted by `reason`. */
export class WhipWhepError extends StreammeshError {
  readonly status: number;
  readonly reason: RefusalReason;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    reason: RefusalReason,
    message: string,
    headers: Readonly<Record<string, string>> = {},
  ) {
    super(`ERR_WHIP_WHEP_${reason.toUpperCase()}`, message);
    this.status = status;
    this.reason = reason;
    this.headers = headers;
  }
}

/** Headers a page on another origin needs to read the answers (every response has them). */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'Location, ETag, Accept-Patch, Accept-Post, Link, Allow',
};

/** Answers an OPTIONS request (CORS preflight or a client asking what it may do): 204. */
export function answerOptions(
  response: ServerResponse,
  methods: readonly string[],
  extra: Readonly<Record<string, string>>,
): void {
  const allow = ['OPTIONS', ...methods].join(', ');
  response
    .writeHead(204, {
      ...CORS_HEADERS,
      allow,
      'access-control-allow-methods': allow,
      'access-control-allow-headers': 'Content-Type, If-Match, Authorization',
      'access-control-max-age': '600',
      ...extra,
    })
    .end();
}

export function refuse(response: ServerResponse, error: WhipWhepError): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response
    .writeHead(error.status, {
      ...CORS_HEADERS,
      'content-type': 'text/plain; charset=utf-8',
      ...error.headers,
    })
    .end(`${error.message}\n`);
}

/** Throws 415 unless the request's Content-Type is `type` (parameters such as charset allowed). */
export function requireContentType(request: IncomingMessage, type: string, accept: string): void {
  const given = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (given !== type) {
    throw new WhipWhepError(
      415,
      'content_type',
      `send the body as ${type}${given === undefined || given === '' ? '' : `, not ${given}`}`,
      { [accept]: type },
    );
  }
}

/** Past the limit the body is read on, and dropped, up to this much; then the connection goes. */
const DRAIN_LIMIT_BYTES = 1024 * 1024;

/**
 * The request body as UTF-8 text, at most MAX_SDP_BYTES. A larger body is
 * refused (413 Content Too Large, RFC 9110) once it has been read and
 * dropped, so the client gets the answer rather than a reset; one larger
 * than 1 MiB is not waited for: the answer is sent and the connection closed.
 */
export async function readSdpBody(request: IncomingMessage): Promise<string> {
  const declared = Number(request.headers['content-length'] ?? Number.NaN);
  const tooLarge = (): WhipWhepError =>
    new WhipWhepError(413, 'too_large', `the body is larger than ${MAX_SDP_BYTES} bytes`, {
      connection: 'close',
    });
  if (declared > DRAIN_LIMIT_BYTES) {
    request.resume();
    throw tooLarge();
  }
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error?: Error): void => {
      request.off('data', onData).off('end', onEnd).off('error', onGone).off('close', onGone);
      if (error !== undefined) {
        reject(error);
      } else if (size > MAX_SDP_BYTES) {
        reject(tooLarge());
      } else {
        resolve(Buffer.concat(chunks).toString('utf8'));
      }
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= MAX_SDP_BYTES) chunks.push(chunk);
      if (size > DRAIN_LIMIT_BYTES) {
        request.pause();
        finish();
      }
    };
    const onEnd = (): void => {
      finish();
    };
    // A client that goes away mid-body is destroyed with an ECONNRESET
    // 'error' (then 'close'): its own doing, not a failure of this node.
    const onGone = (): void => {
      finish(
        new WhipWhepError(400, 'bad_sdp', 'the client went away before sending the whole body'),
      );
    };
    request.on('data', onData).once('end', onEnd).once('error', onGone).once('close', onGone);
  });
  if (text.trim() === '') throw new WhipWhepError(400, 'bad_sdp', 'the body is empty');
  return text;
}
