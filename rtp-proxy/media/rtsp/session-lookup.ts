/** Finding the session a request names (its Session header). */
import type { RtspRequest } from '../../../src/protocol/rtsp/index.js';
import type { RtspContext } from './context.js';
import type { RtspSession } from './rtsp-session.js';

/**
 * The session the request names: undefined when it names none, null when it
 * names one that does not exist (454). A named session is touched.
 */
export function existingSession(
  ctx: RtspContext,
  request: RtspRequest,
): RtspSession | undefined | null {
  const header = request.headers.get('Session');
  if (header === undefined) return undefined;
  const id = header.split(';')[0]?.trim() ?? '';
  const session = ctx.sessions.get(id);
  if (session === undefined) {
    ctx.defects.add('unknown_session');
    return null;
  }
  session.lastActivityMs = ctx.now();
  return session;
}
