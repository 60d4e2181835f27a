/**
 * The viewer's side of RTSP (RFC 2326 §10): DESCRIBE answers the source's
 * description rewritten so every URL and address is the proxy's; SETUP opens
 * a transport per track; PLAY attaches the session to the path's fan-out;
 * PAUSE detaches it.
 */
import {
  formatRtpInfo,
  formatSession,
  type RtpInfoEntry,
  type RtspRequest,
  type RtspResponse,
} from '../../../src/protocol/rtsp/index.js';
import { rewriteForProxy, serializeSdp } from '../../../src/protocol/sdp/index.js';
import type { RtspConnection } from './connection.js';
import type { RtspContext } from './context.js';
import { type RequestTarget, viewerTrack } from './request-target.js';
import { reasonHeader, reply } from './responses.js';
import { existingSession } from './session-lookup.js';
import { setupTrack } from './setup-track.js';
import { PathUnavailableError, StreamLimitError, type StreamPath } from './stream-path.js';
import { plainAddress } from './transport-setup.js';
import type { SourceDescription } from '../../../src/media/source/index.js';

async function describePath(
  ctx: RtspContext,
  request: RtspRequest,
  path: StreamPath,
): Promise<SourceDescription | RtspResponse> {
  try {
    return await path.describe();
  } catch (error) {
    if (!(error instanceof PathUnavailableError)) throw error;
    if (error instanceof StreamLimitError) return streamLimit(ctx, request, error);
    ctx.log.info({ path: path.name, reason: error.message }, 'rtsp path unavailable');
    // No publisher yet is "not found"; a camera that does not answer is "unavailable".
    return reply(request, path.kind === 'publisher' ? 404 : 503, [reasonHeader(error.message)]);
  }
}

export async function describe(
  ctx: RtspContext,
  connection: RtspConnection,
  request: RtspRequest,
  target: RequestTarget,
  path: StreamPath,
): Promise<RtspResponse> {
  const described = await describePath(ctx, request, path);
  if (!('tracks' in described)) return described;
  const address = plainAddress(connection.socket.localAddress ?? '0.0.0.0');
  const sdp = rewriteForProxy(described.sdp, {
    address,
    controlFor: (index) => `trackID=${index}`,
  });
  return reply(
    request,
    200,
    [
      ['Content-Type', 'application/sdp'],
      ['Content-Base', target.base],
    ],
    Buffer.from(serializeSdp(sdp), 'utf8'),
  );
}

export async function setupPlay(
  ctx: RtspContext,
  connection: RtspConnection,
  request: RtspRequest,
  target: RequestTarget,
  path: StreamPath,
): Promise<RtspResponse> {
  const described = path.description ?? (await describePath(ctx, request, path));
  if (!('tracks' in described)) return described;
  const track = viewerTrack(target.control, described.tracks.length);
  if (track === undefined) return reply(request, 404);
  return setupTrack(
    ctx,
    connection,
    request,
    path,
    'play',
    track,
    path.ssrcOf(track),
    (session) => ({
      rtp: () => undefined,
      rtcp: () => {
        // Receiver reports keep a UDP session alive (RFC 2326 §12.37).
        session.lastActivityMs = ctx.now();
      },
    }),
  );
}

export function play(
  ctx: RtspContext,
  request: RtspRequest,
  target: RequestTarget | undefined,
): RtspResponse {
  const session = existingSession(ctx, request);
  if (session === undefined || session === null) return reply(request, 454);
  if (session.mode !== 'play' || session.transports.size === 0) {
    ctx.defects.add('bad_state');
    return reply(request, 455);
  }
  if (!session.path.addViewer(session)) {
    return streamLimit(ctx, request, new StreamLimitError(ctx.maxStreams()));
  }
  session.playing = true;
  const base = target?.base ?? request.url.replace(/\/?$/, '/');
  const entries: RtpInfoEntry[] = [];
  for (const track of [...session.tracks].sort((a, b) => a - b)) {
    const position = session.path.position(track);
    entries.push({
      url: `${base}trackID=${track}`,
      ...(position === undefined ? {} : { seq: position.sequence, rtptime: position.timestamp }),
    });
  }
  const headers: [string, string][] = [
    ['Session', formatSession({ id: session.id, timeoutSeconds: ctx.sessionTimeoutSec })],
    ['Range', 'npt=0.000-'],
  ];
  if (entries.length > 0) headers.push(['RTP-Info', formatRtpInfo(entries)]);
  return reply(request, 200, headers);
}

/** The node carries proxy.maxStreams and this would be one more: 453, counted. */
export function streamLimit(
  ctx: RtspContext,
  request: RtspRequest,
  error: StreamLimitError,
): RtspResponse {
  ctx.defects.add('max_streams');
  return reply(request, 453, [reasonHeader(error.message)]);
}

export function pause(ctx: RtspContext, request: RtspRequest): RtspResponse {
  const session = existingSession(ctx, request);
  if (session === undefined || session === null) return reply(request, 454);
  if (session.mode === 'play' && session.playing) {
    session.path.removeViewer(session);
    session.playing = false;
  }
  return reply(request, 200, [
    ['Session', formatSession({ id: session.id, timeoutSeconds: ctx.sessionTimeoutSec })],
  ]);
}
