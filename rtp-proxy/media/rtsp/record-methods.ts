/**
 * The publisher's side of RTSP (RFC 2326 §10.3, §10.11): ANNOUNCE gives the
 * path a description, SETUP with mode=record opens a transport per track
 * towards the proxy, RECORD makes the session the path's source.
 */
import {
  formatSession,
  type RtspRequest,
  type RtspResponse,
} from '../../../src/protocol/rtsp/index.js';
import { attributes, parseSdp } from '../../../src/protocol/sdp/index.js';
import type { RtspConnection } from './connection.js';
import type { RtspContext } from './context.js';
import { existingSession } from './session-lookup.js';
import { setupTrack } from './setup-track.js';
import { PublisherSource } from './publisher-source.js';
import { announcedTrack, type RequestTarget } from './request-target.js';
import { reply } from './responses.js';
import type { RtspSession } from './rtsp-session.js';
import { describeTracks } from '../../../src/media/source/index.js';
import { PathUnavailableError, StreamLimitError, type StreamPath } from './stream-path.js';
import { streamLimit } from './play-methods.js';
import { InterleavedTrackTransport } from './track-transport.js';

/** More tracks than any camera or encoder sends: a bound on what one ANNOUNCE can ask for. */
const MAX_ANNOUNCED_TRACKS = 8;

export function announce(
  ctx: RtspContext,
  connection: RtspConnection,
  request: RtspRequest,
  target: RequestTarget,
  path: StreamPath,
): RtspResponse {
  if (path.kind !== 'publisher') return reply(request, 403);
  const type = request.headers.get('Content-Type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/sdp') return reply(request, 415);
  const parsed = parseSdp(request.body.toString('utf8'));
  if (!parsed.ok) {
    ctx.defects.add('bad_sdp');
    return reply(request, 400);
  }
  const tracks = describeTracks(parsed.sdp);
  if (tracks.length === 0 || tracks.length > MAX_ANNOUNCED_TRACKS) {
    ctx.defects.add('bad_sdp');
    return reply(request, 400);
  }
  if (path.state === 'up') return reply(request, 403);
  connection.announced = { pathName: target.pathName, description: { sdp: parsed.sdp, tracks } };
  return reply(request, 200);
}

export async function setupRecord(
  ctx: RtspContext,
  connection: RtspConnection,
  request: RtspRequest,
  target: RequestTarget,
  path: StreamPath,
): Promise<RtspResponse> {
  const announced = connection.announced;
  if (announced?.pathName !== target.pathName) {
    ctx.defects.add('bad_state');
    return reply(request, 455);
  }
  const controls = announced.description.sdp.media.map(
    (media) => attributes(media.lines, 'control')[0],
  );
  const track = announcedTrack(target.control, controls);
  if (track === undefined) return reply(request, 404);
  return setupTrack(ctx, connection, request, path, 'record', track, undefined, (session) => ({
    rtp: (packet) => {
      session.lastActivityMs = ctx.now();
      session.bytesReceived += packet.length;
      session.publisher?.rtp(track, packet);
    },
    rtcp: (packet) => {
      session.lastActivityMs = ctx.now();
      session.publisher?.rtcp(track, packet);
    },
  }));
}

export function record(
  ctx: RtspContext,
  connection: RtspConnection,
  request: RtspRequest,
): RtspResponse {
  const session = existingSession(ctx, request);
  if (session === undefined || session === null) return reply(request, 454);
  const announced = connection.announced;
  if (session.mode !== 'record' || session.transports.size === 0 || announced === undefined) {
    ctx.defects.add('bad_state');
    return reply(request, 455);
  }
  if (session.publisher === undefined) {
    const transport = session.transport === 'udp' ? 'udp' : 'tcp';
    const publisher = new PublisherSource(announced.description, transport);
    try {
      session.path.attachPublisher(publisher);
    } catch (error) {
      if (error instanceof StreamLimitError) return streamLimit(ctx, request, error);
      if (!(error instanceof PathUnavailableError)) throw error;
      return reply(request, 403);
    }
    session.publisher = publisher;
  }
  return reply(request, 200, [
    ['Session', formatSession({ id: session.id, timeoutSeconds: ctx.sessionTimeoutSec })],
  ]);
}

/** Interleaved data from a publisher: even channel RTP, odd RTCP. */
export function publisherFrame(session: RtspSession, channel: number, payload: Buffer): boolean {
  for (const [track, transport] of session.transports) {
    if (!(transport instanceof InterleavedTrackTransport)) continue;
    const channels = transport.channels;
    if (channel === channels[0]) {
      session.bytesReceived += payload.length;
      session.publisher?.rtp(track, payload);
      return true;
    }
    if (channel === channels[1]) {
      session.publisher?.rtcp(track, payload);
      return true;
    }
  }
  return false;
}
