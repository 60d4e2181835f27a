/**
 * The part of SETUP that viewers and publishers share: negotiate the
 * transport, find or create the session (a session is either playing or
 * recording one path), open the track's transport and answer with it. A
 * new session over the source's maxSessionsPerSource is refused with 453
 * Not Enough Bandwidth (RFC 2326 §11.3.12) before any port is taken.
 */
import {
  formatSession,
  formatTransport,
  parseTransport,
  type RtspRequest,
  type RtspResponse,
} from '../../../src/protocol/rtsp/index.js';
import type { RtspConnection } from './connection.js';
import type { RtspContext } from './context.js';
import { reasonHeader, reply } from './responses.js';
import { existingSession } from './session-lookup.js';
import { RtspSession, type SessionMode } from './rtsp-session.js';
import type { StreamPath } from './stream-path.js';
import type { IncomingHandlers } from './track-transport.js';
import { chooseTransport, openTransport } from './transport-setup.js';

export async function setupTrack(
  ctx: RtspContext,
  connection: RtspConnection,
  request: RtspRequest,
  path: StreamPath,
  mode: SessionMode,
  track: number,
  /** The SSRC the client will see (viewers), for the Transport answer. */
  ssrc: number | undefined,
  incoming: (session: RtspSession) => Omit<IncomingHandlers, 'stray'>,
): Promise<RtspResponse> {
  const specs = parseTransport(request.headers.get('Transport') ?? '');
  const choice = specs === undefined ? undefined : chooseTransport(specs);
  if (choice === undefined) {
    ctx.defects.add('bad_transport');
    return reply(request, 461);
  }
  const named = existingSession(ctx, request);
  if (named === null) return reply(request, 454);
  if (named !== undefined && (named.mode !== mode || named.path !== path)) {
    ctx.defects.add('bad_state');
    return reply(request, 459);
  }
  if (
    named === undefined &&
    ctx.sessions.heldBy(connection.remoteAddress) >= ctx.maxSessionsPerSource
  ) {
    ctx.defects.add('sessions_per_source');
    return reply(request, 453, [
      reasonHeader(
        `this address holds its maximum of ${ctx.maxSessionsPerSource} sessions: tear one down first`,
      ),
    ]);
  }
  const session = named ?? new RtspSession(mode, path, connection, ctx.now());
  const handlers: IncomingHandlers = {
    ...incoming(session),
    stray: () => {
      ctx.defects.add('bad_transport');
    },
  };
  const { transport, answer } = await openTransport(
    ctx,
    connection,
    session,
    track,
    choice,
    handlers,
    ssrc,
  );
  session.addTransport(track, transport);
  if (named === undefined) ctx.sessions.add(session);
  return reply(request, 200, [
    ['Transport', formatTransport(answer)],
    ['Session', formatSession({ id: session.id, timeoutSeconds: ctx.sessionTimeoutSec })],
  ]);
}
