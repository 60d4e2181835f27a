/**
 * The owner's end of its hops: one UDP socket per proxy, registered with the
 * control plane as the proxy's `hop` listen address. Every hop this proxy
 * sends leaves from it, and the receivers' reports come back to it; a
 * datagram is handed to the hop whose receiver address it comes from, and
 * anything else is dropped and counted (the hop ends are the only peers).
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { formatHostPort } from '../../../src/shared/address.js';
import { bindUdp, closeQuietly } from '../../../src/media/udp/index.js';

export type HopSocketDrop = 'unknown_source';

export class HopSocket {
  readonly #socket: Socket;
  readonly #peers = new Map<string, (datagram: Buffer) => void>();
  readonly #drops = new Map<HopSocketDrop, number>();
  readonly address: string;
  readonly host: string;

  private constructor(socket: Socket) {
    this.#socket = socket;
    const bound = socket.address();
    this.host = bound.address;
    this.address = formatHostPort({ host: bound.address, port: bound.port });
    socket.on('message', (datagram, from) => this.#receive(datagram, from));
    // A send to a peer that went away (ICMP unreachable) is not the socket's end.
    socket.on('error', () => undefined);
  }

  /** Binds `host`, port 0 unless given. */
  static async bind(host: string, port = 0): Promise<HopSocket> {
    return new HopSocket(await bindUdp(host, port));
  }

  /** Datagrams from `peer` (host:port) go to `receive` until the returned function is called. */
  attach(peer: string, receive: (datagram: Buffer) => void): () => void {
    this.#peers.set(peer, receive);
    return () => {
      if (this.#peers.get(peer) === receive) this.#peers.delete(peer);
    };
  }

  send(datagram: Buffer, peer: { host: string; port: number }): void {
    this.#socket.send(datagram, peer.port, peer.host);
  }

  drops(): Partial<Record<HopSocketDrop, number>> {
    return Object.fromEntries(this.#drops);
  }

  close(): void {
    closeQuietly(this.#socket);
  }

  #receive(datagram: Buffer, from: RemoteInfo): void {
    const receive = this.#peers.get(formatHostPort({ host: from.address, port: from.port }));
    if (receive === undefined) {
      this.#drops.set('unknown_source', (this.#drops.get('unknown_source') ?? 0) + 1);
      return;
    }
    receive(datagram);
  }
}
