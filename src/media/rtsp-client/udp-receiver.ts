/**
 * The two UDP sockets one track of a camera sends to (RTP on an even port,
 * RTCP on the next, RFC 3550 §11), bound from the proxy's RTP port range.
 * Datagrams from any address but the camera's are dropped and counted: the
 * ports are open to the network, and only the camera may feed the path.
 *
 * The sockets are BatchSockets of the thread's UDP I/O kind: a burst (a key
 * frame) comes in with one recvmmsg. The sink gets a Buffer of its own for
 * each datagram (copied out of the native receive slab, which the next batch
 * rewrites): the fan-out behind it keeps packets past the batch (TCP
 * viewers' frames, hops).
 */
import type { Logger } from '../../shared/log.js';
import {
  closePair,
  type PortAllocator,
  type PortPair,
  type UdpBatch,
  type UdpSocketError,
} from '../udp/index.js';

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
    const onError = (error: UdpSocketError): void => {
      log.warn(
        { code: error.code, error: error.message, port: pair.port },
        'camera media socket error',
      );
    };
    pair.rtp.onError(onError);
    pair.rtcp?.onError(onError);
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
    const viewed = this.#pair.rtp.kind === 'native';
    const route =
      (deliver: (packet: Buffer) => void) =>
      (batch: UdpBatch): void => {
        for (let i = 0; i < batch.count; i++) {
          if (!sources.has(normalizeAddress(batch.source(i).address))) {
            sink.foreign();
            continue;
          }
          const datagram = batch.datagram(i);
          deliver(viewed ? Buffer.from(datagram) : datagram);
        }
      };
    this.#pair.rtp.onBatch(
      route((packet) => {
        sink.rtp(packet);
      }),
    );
    this.#pair.rtcp?.onBatch(
      route((packet) => {
        sink.rtcp(packet);
      }),
    );
  }

  /** Closes both sockets and gives the ports back. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closePair(this.#pair);
    this.#ports.release(this.#pair.port);
  }
}
