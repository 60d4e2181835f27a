/**
 * Dispatch of one RTSP request: CSeq check, the path it names, viewer auth,
 * then the method. Requests that name a session are authorized by it: the
 * session id is a 64-bit secret handed only to the client that passed auth
 * at SETUP. Publishing (ANNOUNCE, SETUP in record mode) is authorized apart
 * from viewing: an edge token of role viewer that opened a path for DESCRIBE
 * does not open it for ANNOUNCE on the same connection.
 */
import type { RtspRequest, RtspResponse } from '../../../src/protocol/rtsp/index.js';
import type { EdgeTokenFailure } from '../../../src/shared/edge-token/index.js';
import type { RtspConnection } from './connection.js';
import type { RequestDefect, RtspContext } from './context.js';
import { describe, pause, play, setupPlay } from './play-methods.js';
import { existingSession } from './session-lookup.js';
import { announce, publisherFrame, record, setupRecord } from './record-methods.js';
import { requestTarget, type RequestTarget } from './request-target.js';
import { reasonHeader, reply } from './responses.js';
import type { StreamPath } from './stream-path.js';
import type { AuthFailure } from './viewer-auth.js';

export const PUBLIC_METHODS = [
  'OPTIONS',
  'DESCRIBE',
  'SETUP',
  'PLAY',
  'PAUSE',
  'TEARDOWN',
  'GET_PARAMETER',
  'SET_PARAMETER',
  'ANNOUNCE',
  'RECORD',
] as const;

/** Methods RFC 2326 defines that a proxy of live streams does not serve. */
const NOT_ALLOWED = new Set(['REDIRECT', 'PLAY_NOTIFY']);

const CSEQ = /^\d{1,9}$/;
const RECORD_MODE = /mode="?record"?/i;

export async function routeRequest(
  ctx: RtspContext,
  connection: RtspConnection,
  request: RtspRequest,
): Promise<RtspResponse> {
  const cseq = request.headers.get('CSeq');
  if (cseq === undefined || !CSEQ.test(cseq.trim())) {
    ctx.defects.add('missing_cseq');
    return reply(request, 400);
  }
  const method = request.method;
  switch (method) {
    case 'OPTIONS':
      return reply(request, 200, [['Public', PUBLIC_METHODS.join(', ')]]);
    case 'GET_PARAMETER':
    case 'SET_PARAMETER':
      return keepalive(ctx, request);
    case 'TEARDOWN':
      return teardown(ctx, request);
    case 'PLAY':
      return play(ctx, request, targetOf(ctx, request));
    case 'PAUSE':
      return pause(ctx, request);
    case 'RECORD':
      return record(ctx, connection, request);
    case 'DESCRIBE':
    case 'SETUP':
    case 'ANNOUNCE':
      return withPath(ctx, connection, request);
    default:
      ctx.defects.add('unknown_method');
      if (NOT_ALLOWED.has(method)) {
        return reply(request, 405, [['Allow', PUBLIC_METHODS.join(', ')]]);
      }
      return reply(request, 501);
  }
}

function targetOf(ctx: RtspContext, request: RtspRequest): RequestTarget | undefined {
  return requestTarget(request.url, (name) => ctx.paths.has(name));
}

async function withPath(
  ctx: RtspContext,
  connection: RtspConnection,
  request: RtspRequest,
): Promise<RtspResponse> {
  const target = targetOf(ctx, request);
  const path: StreamPath | undefined =
    target === undefined ? undefined : ctx.paths.get(target.pathName);
  if (target === undefined || path === undefined) {
    ctx.defects.add('unknown_path');
    return reply(request, 404);
  }
  const denied = authorize(ctx, connection, request, target);
  if (denied !== undefined) return denied;
  // A draining proxy keeps its sessions and takes no new one: a client goes to another proxy.
  const refusing = ctx.refusing();
  if (refusing !== undefined && (existingSession(ctx, request) ?? undefined) === undefined) {
    ctx.defects.add('draining');
    return reply(request, 503, [reasonHeader(refusing)]);
  }
  switch (request.method) {
    case 'DESCRIBE':
      return describe(ctx, connection, request, target, path);
    case 'ANNOUNCE':
      return announce(ctx, connection, request, target, path);
    default: {
      const recording = RECORD_MODE.test(request.headers.get('Transport') ?? '');
      return recording
        ? setupRecord(ctx, connection, request, target, path)
        : setupPlay(ctx, connection, request, target, path);
    }
  }
}

/** undefined when the request may go on; else the 401 (403, 503) to answer. */
function authorize(
  ctx: RtspContext,
  connection: RtspConnection,
  request: RtspRequest,
  target: RequestTarget,
): RtspResponse | undefined {
  const publishing =
    request.method === 'ANNOUNCE' ||
    (request.method === 'SETUP' && RECORD_MODE.test(request.headers.get('Transport') ?? ''));
  const grant = publishing ? `${target.pathName}\0publish` : target.pathName;
  if (!ctx.auth.required || connection.authenticated.has(grant)) return undefined;
  // A session this client already holds was authorized when it was created.
  const session = existingSession(ctx, request);
  if (session !== undefined && session !== null && session.path.name === target.pathName) {
    return undefined;
  }
  const verdict = ctx.auth.check({ ...request, pathName: target.pathName, publishing });
  if (verdict.ok) {
    connection.authenticated.add(grant);
    return undefined;
  }
  ctx.defects.add(defectOf(verdict.reason));
  ctx.log.info(
    { path: target.pathName, client: connection.remoteAddress, reason: verdict.reason },
    'rtsp client refused',
  );
  return reply(
    request,
    verdict.status,
    verdict.challenges.map((challenge) => ['WWW-Authenticate', challenge] as const),
  );
}

/** Edge token refusals are counted by why; every other refusal as unauthorized. */
function defectOf(reason: AuthFailure): RequestDefect {
  return isEdgeTokenFailure(reason) ? reason : 'unauthorized';
}

function isEdgeTokenFailure(reason: AuthFailure): reason is `jwt_${EdgeTokenFailure}` {
  return reason.startsWith('jwt_');
}

function keepalive(ctx: RtspContext, request: RtspRequest): RtspResponse {
  const session = existingSession(ctx, request);
  if (session === null) return reply(request, 454);
  // SET_PARAMETER with content sets parameters; the proxy has none to set.
  if (request.method === 'SET_PARAMETER' && request.body.length > 0) return reply(request, 451);
  return reply(request, 200);
}

function teardown(ctx: RtspContext, request: RtspRequest): RtspResponse {
  const session = existingSession(ctx, request);
  if (session === undefined || session === null) return reply(request, 454);
  ctx.sessions.remove(session, 'teardown');
  return reply(request, 200);
}

/** Interleaved data on a connection: publisher media, or a viewer's RTCP (a sign of life). */
export function routeInterleaved(
  ctx: RtspContext,
  connection: RtspConnection,
  channel: number,
  payload: Buffer,
): boolean {
  for (const session of ctx.sessions.ownedBy(connection.id)) {
    if (session.mode === 'record') {
      if (publisherFrame(session, channel, payload)) {
        session.lastActivityMs = ctx.now();
        return true;
      }
    } else if (session.transport !== null) {
      session.lastActivityMs = ctx.now();
      return true;
    }
  }
  return false;
}
