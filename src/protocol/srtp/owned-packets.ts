/**
 * For callers that keep what a session returns past the next call of the same
 * method (srtp-context.ts): a session
 * whose ok packets are the caller's own (a copy when the engine hands out a
 * view of its reused buffer, i.e. libsrtp; node:crypto's are new already).
 * The hop path needs it: its packets go to node:dgram sends (which read the
 * buffer after a DNS-lookup tick, or later when the socket buffer is full)
 * and to RTSP viewers' TCP writes (queued while the socket is slow). The
 * relay does not: it copies into its send slab at once.
 */
import type { SrtpContext } from './srtp-context.js';
import type { SrtpResult } from './result.js';

export function withOwnedPackets(session: SrtpContext): SrtpContext {
  if (session.engine === 'node') return session;
  const own = (result: SrtpResult): SrtpResult =>
    result.ok ? { ok: true, packet: Buffer.from(result.packet) } : result;
  return {
    profile: session.profile,
    engine: session.engine,
    get mki() {
      return session.mki;
    },
    carriesMki: (packet, kind) => session.carriesMki(packet, kind),
    protectRtp: (plain) => own(session.protectRtp(plain)),
    unprotectRtp: (received) => own(session.unprotectRtp(received)),
    protectRtcp: (plain) => own(session.protectRtcp(plain)),
    unprotectRtcp: (received) => own(session.unprotectRtcp(received)),
  };
}
