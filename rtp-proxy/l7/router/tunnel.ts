/**
 * The byte pipe of an upgraded connection (WebSocket or any other HTTP/1.1
 * Upgrade) once the upstream has answered 101: what each side sent past its
 * head goes first, then bytes flow both ways with backpressure. A FIN from
 * one side is passed on and the other may still answer: both sockets are
 * made half-open for the tunnel (the listener's TCP server and node's HTTP
 * client make them full-close, which would end the write side on the first
 * FIN and lose a late answer); an abrupt close or an
 * error on either side closes both; no byte either way for `idleTimeoutMs`
 * closes both. Node's HTTP server and client did all the HTTP parsing before.
 */
import type { Duplex } from 'node:stream';

export interface TunnelBytes {
  /** Bytes relayed downstream -> upstream, the client's early `head` included. */
  readonly toUpstream: number;
  /** Bytes relayed upstream -> downstream, what followed the 101 head included. */
  readonly toDownstream: number;
}

export interface TunnelEnd {
  readonly socket: Duplex;
  /** Bytes already read from this side past its HTTP head. */
  readonly head: Buffer;
}

/** Pipes both ends until both are closed; never rejects. */
export function runTunnel(
  downstream: TunnelEnd,
  upstream: TunnelEnd,
  idleTimeoutMs: number,
): Promise<TunnelBytes> {
  return new Promise((resolve) => {
    const bytes = { toUpstream: 0, toDownstream: 0 };
    const client = downstream.socket;
    const server = upstream.socket;
    // Read by the stream when its side's FIN arrives: from now on that ends only the read side.
    client.allowHalfOpen = true;
    server.allowHalfOpen = true;
    const destroyBoth = (): void => {
      client.destroy();
      server.destroy();
    };
    const idle = setTimeout(destroyBoth, idleTimeoutMs);
    let open = 2;
    const closed = (side: Duplex, other: Duplex): void => {
      // A side gone without a clean end leaves nothing for the other to answer.
      if (!side.readableEnded) other.destroy();
      open -= 1;
      if (open > 0) return;
      clearTimeout(idle);
      resolve(bytes);
    };
    for (const [side, other] of [
      [client, server],
      [server, client],
    ] as const) {
      side.on('error', destroyBoth);
      if (side.closed) closed(side, other);
      else side.once('close', () => closed(side, other));
    }
    if (client.destroyed || server.destroyed) {
      destroyBoth();
      return;
    }
    const relay = (chunk: Buffer, direction: keyof TunnelBytes): void => {
      bytes[direction] += chunk.length;
      idle.refresh();
    };
    if (upstream.head.length > 0) {
      relay(upstream.head, 'toDownstream');
      client.write(upstream.head);
    }
    if (downstream.head.length > 0) {
      relay(downstream.head, 'toUpstream');
      server.write(downstream.head);
    }
    client.on('data', (chunk: Buffer) => relay(chunk, 'toUpstream'));
    server.on('data', (chunk: Buffer) => relay(chunk, 'toDownstream'));
    client.pipe(server);
    server.pipe(client);
  });
}
