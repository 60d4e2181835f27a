/**
 * SETUP's transport negotiation (RFC 2326 §12.39), shared by viewers and
 * publishers: the first acceptable spec of the client's list wins — unicast
 * UDP with client ports, or TCP-interleaved with channels — and the answer
 * echoes it with the proxy's side filled in.
 */
import type { TransportSpec } from '../../../src/protocol/rtsp/index.js';
import type { PortPair } from '../../../src/media/udp/index.js';
import type { RtspConnection } from './connection.js';
import type { RtspContext } from './context.js';
import type { RtspSession } from './rtsp-session.js';
import {
  InterleavedTrackTransport,
  UdpTrackTransport,
  type IncomingHandlers,
  type TrackTransport,
} from './track-transport.js';
import type { WorkerUdpTrackTransport } from './viewer-spread.js';

export type TransportChoice =
  | { readonly kind: 'udp'; readonly clientPorts: [number, number]; readonly spec: TransportSpec }
  | {
      readonly kind: 'tcp';
      readonly channels: [number, number] | undefined;
      readonly spec: TransportSpec;
    };

/** The first spec the proxy can serve; undefined answers 461 Unsupported Transport. */
export function chooseTransport(specs: readonly TransportSpec[]): TransportChoice | undefined {
  for (const spec of specs) {
    const protocol = spec.protocol.toUpperCase();
    if (spec.delivery === 'multicast') continue;
    if (protocol === 'RTP/AVP' || protocol === 'RTP/AVP/UDP') {
      const ports = spec.clientPort;
      if (ports === undefined || ports[0] === 0) continue;
      const rtcp = ports[1] === ports[0] ? ports[0] + 1 : ports[1];
      if (rtcp > 65535) continue;
      return { kind: 'udp', clientPorts: [ports[0], rtcp], spec };
    }
    if (protocol === 'RTP/AVP/TCP') {
      const pair = spec.interleaved;
      const channels: [number, number] | undefined =
        pair === undefined ? undefined : [pair[0], pair[1] === pair[0] ? pair[0] + 1 : pair[1]];
      if (channels !== undefined && (channels[0] > 255 || channels[1] > 255)) continue;
      return { kind: 'tcp', channels, spec };
    }
  }
  return undefined;
}

/** Interleaved channels already used on this connection by any session. */
function usedChannels(ctx: RtspContext, connection: RtspConnection): Set<number> {
  const used = new Set<number>();
  for (const session of ctx.sessions.ownedBy(connection.id)) {
    for (const transport of session.transports.values()) {
      if (transport instanceof InterleavedTrackTransport) {
        used.add(transport.channels[0]).add(transport.channels[1]);
      }
    }
  }
  return used;
}

/** The client's address as the UDP socket sees it (no IPv4-mapped prefix). */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * A viewer's UDP track on a media worker when the proxy has several
 * (viewer-spread.ts), else (one worker, a publisher, every worker
 * restarting) on a pair of the main thread, as before.
 */
async function openUdp(
  ctx: RtspContext,
  session: RtspSession,
  track: number,
  client: { host: string; rtpPort: number; rtcpPort: number },
  incoming: IncomingHandlers,
): Promise<UdpTrackTransport | WorkerUdpTrackTransport> {
  if (ctx.spread !== undefined && session.mode === 'play') {
    const spread = await ctx.spread.open(ctx.ports, ctx.mediaHost, client, {
      ...incoming,
      reopened: () => {
        if (session.playing) session.path.restartAtKeyframe(session, track);
      },
      gone: (reason) => {
        ctx.sessions.remove(session, reason);
      },
    });
    if (spread !== undefined) return spread;
  }
  const pair: PortPair = await ctx.ports.allocate(ctx.mediaHost, false);
  return UdpTrackTransport.open(pair, client, incoming, () => {
    ctx.ports.release(pair.port);
  });
}

/**
 * Opens the transport for one track and returns it with the Transport
 * header value to answer. Throws when no port pair is free or the client's
 * address cannot be reached.
 */
export async function openTransport(
  ctx: RtspContext,
  connection: RtspConnection,
  session: RtspSession,
  track: number,
  choice: TransportChoice,
  incoming: IncomingHandlers,
  ssrc: number | undefined,
): Promise<{ transport: TrackTransport; answer: TransportSpec }> {
  const mode = choice.spec.mode === undefined ? {} : { mode: choice.spec.mode };
  if (choice.kind === 'udp') {
    const client = {
      host: plainAddress(connection.remoteAddress),
      rtpPort: choice.clientPorts[0],
      rtcpPort: choice.clientPorts[1],
    };
    const transport = await openUdp(ctx, session, track, client, incoming);
    const answer: TransportSpec = {
      protocol: 'RTP/AVP',
      delivery: 'unicast',
      clientPort: choice.clientPorts,
      serverPort: transport.serverPorts,
      ...(ssrc === undefined ? {} : { ssrc }),
      ...mode,
    };
    return { transport, answer };
  }
  const used = usedChannels(ctx, connection);
  const existing = session.transports.get(track);
  if (existing instanceof InterleavedTrackTransport) {
    used.delete(existing.channels[0]);
    used.delete(existing.channels[1]);
  }
  let channels = choice.channels;
  if (channels === undefined || used.has(channels[0]) || used.has(channels[1])) {
    let first = 0;
    while (used.has(first) || used.has(first + 1)) first += 2;
    if (first > 254) throw new Error('no free interleaved channel pair on this connection');
    channels = [first, first + 1];
  }
  const transport = new InterleavedTrackTransport(connection, channels);
  const answer: TransportSpec = {
    protocol: 'RTP/AVP/TCP',
    delivery: 'unicast',
    interleaved: channels,
    ...(ssrc === undefined ? {} : { ssrc }),
    ...mode,
  };
  return { transport, answer };
}
