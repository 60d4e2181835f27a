/**
 * The two UDP sockets one track of a camera sends to (RTP on an even port,
 * RTCP on the next, RFC 3550 §11), bound from the proxy's RTP port range.
 * Datagrams from any address but the camera's are dropped and counted: the
 * ports are open to the network, and only the camera may feed the path.
 */
import type { RemoteInfo } from 'node:dgram';
import type { Logger } from '../../shared/log.js';
import { type PortAllocator, type PortPair, closeQuietly } from '../udp/index.js';

export interface UdpTrackSink {
  rtp(packet: Buffer): void;
  rtcp(packet: Buffer): void;
  /** A datagram from an address that is not the camera's. */
  foreign(): void;
}

/** `::ffff:192.0.2.1` and `192.0.2.1` are the same camera. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class UdpTrackReceiver {
  readonly #pair: PortPair;
  readonly #ports: PortAllocator;
  #closed = false;

  private constructor(pair: PortPair, ports: PortAllocator, log: Logger) {
    this.#pair = pair;
    this.#ports = ports;
    // A socket without an 'error' listener would take the process down.
    const onError = (error: Error): void => {
      log.warn({ err: error, port: pair.port }, 'camera media socket error');
    };
    pair.rtp.on('error', onError);
    pair.rtcp?.on('error', onError);
  }

  /** Binds a fresh RTP/RTCP pair on `host`. Rejects as PortAllocator.allocate does. */
  static async open(ports: PortAllocator, host: string, log: Logger): Promise<UdpTrackReceiver> {
    return new UdpTrackReceiver(await ports.allocate(host, false), ports, log);
  }

  /** The RTP port; RTCP is on the next one. */
  get port(): number {
    return this.#pair.port;
  }

  /** Starts handing the camera's datagrams (from one of `sources`) to `sink`. */
  listen(sources: ReadonlySet<string>, sink: UdpTrackSink): void {
    const route =
      (deliver: (packet: Buffer) => void) =>
      (packet: Buffer, from: RemoteInfo): void => {
        if (sources.has(normalizeAddress(from.address))) deliver(packet);
        else sink.foreign();
      };
    this.#pair.rtp.on(
      'message',
      route((packet) => {
        sink.rtp(packet);
      }),
    );
    this.#pair.rtcp?.on(
      'message',
      route((packet) => {
        sink.rtcp(packet);
      }),
    );
  }

  /** Closes both sockets and gives the ports back. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of [this.#pair.rtp, this.#pair.rtcp]) {
      socket?.removeAllListeners('message');
      closeQuietly(socket);
    }
    this.#ports.release(this.#pair.port);
  }
}
