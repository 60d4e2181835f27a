/**
 * How one track of an RTSP session moves between the proxy and a client:
 * UDP on a port pair of the proxy's own (RFC 2326 §12.39 client_port /
 * server_port), or `$`-framed inside the RTSP connection (§10.12). The same
 * transport carries media out (viewer) or in (publisher).
 */
import type { RemoteInfo } from 'node:dgram';
import { type PortPair, closeQuietly, connectUdp } from '../../../src/media/udp/index.js';
import { frameBatcher, type InterleavedWriter } from './frame-batcher.js';

export interface TrackTransport {
  readonly kind: 'udp' | 'tcp';
  /** RTP to the client; false when dropped (a TCP client that does not keep up). */
  sendRtp(packet: Buffer): boolean;
  sendRtcp(packet: Buffer): void;
  close(): void;
}

export interface IncomingHandlers {
  rtp(packet: Buffer): void;
  rtcp(packet: Buffer): void;
  /** A datagram from an address other than the client's. */
  stray(): void;
}

/**
 * A TCP viewer whose unsent backlog passes this is not keeping up: its
 * packets are dropped (and its video restarts at a keyframe) rather than
 * buffered without bound.
 */
export const MAX_INTERLEAVED_BACKLOG = 2 * 1024 * 1024;

export class UdpTrackTransport implements TrackTransport {
  readonly kind = 'udp';
  readonly pair: PortPair;
  readonly #release: () => void;

  private constructor(pair: PortPair, release: () => void) {
    this.pair = pair;
    this.#release = release;
  }

  /**
   * Points the pair at the client. Media goes only to the address the RTSP
   * request came from (never a `destination=` parameter: that would make the
   * proxy a traffic reflector), and only datagrams from it are taken in.
   */
  static async open(
    pair: PortPair,
    client: { host: string; rtpPort: number; rtcpPort: number },
    incoming: IncomingHandlers,
    release: () => void,
  ): Promise<UdpTrackTransport> {
    const transport = new UdpTrackTransport(pair, release);
    const rtcpSocket = pair.rtcp ?? pair.rtp;
    try {
      await connectUdp(pair.rtp, client.rtpPort, client.host);
      if (pair.rtcp !== undefined) await connectUdp(pair.rtcp, client.rtcpPort, client.host);
    } catch (error) {
      transport.close();
      throw error;
    }
    // A connected socket only delivers its peer's datagrams; the address check
    // stays for the rtcp-mux case and as a second line.
    const accept = (from: RemoteInfo): boolean => {
      if (from.address === client.host) return true;
      incoming.stray();
      return false;
    };
    pair.rtp.on('message', (packet: Buffer, from: RemoteInfo) => {
      if (accept(from)) incoming.rtp(packet);
    });
    if (pair.rtcp !== undefined) {
      rtcpSocket.on('message', (packet: Buffer, from: RemoteInfo) => {
        if (accept(from)) incoming.rtcp(packet);
      });
    }
    const ignore = (): void => undefined;
    pair.rtp.on('error', ignore);
    pair.rtcp?.on('error', ignore);
    return transport;
  }

  get serverPorts(): [number, number] {
    return [this.pair.port, this.pair.rtcp === undefined ? this.pair.port : this.pair.port + 1];
  }

  sendRtp(packet: Buffer): boolean {
    this.pair.rtp.send(packet);
    return true;
  }

  sendRtcp(packet: Buffer): void {
    (this.pair.rtcp ?? this.pair.rtp).send(packet);
  }

  close(): void {
    closeQuietly(this.pair.rtp);
    closeQuietly(this.pair.rtcp);
    this.#release();
  }
}

export class InterleavedTrackTransport implements TrackTransport {
  readonly kind = 'tcp';
  readonly channels: [number, number];
  readonly #writer: InterleavedWriter;
  #open = true;

  constructor(writer: InterleavedWriter, channels: [number, number]) {
    this.#writer = writer;
    this.channels = channels;
  }

  sendRtp(packet: Buffer): boolean {
    return this.#send(this.channels[0], packet);
  }

  sendRtcp(packet: Buffer): void {
    this.#send(this.channels[1], packet);
  }

  #send(channel: number, packet: Buffer): boolean {
    if (!this.#open || frameBatcher.backlog(this.#writer) > MAX_INTERLEAVED_BACKLOG) return false;
    frameBatcher.enqueue(this.#writer, frameBatcher.frame(channel, packet));
    return true;
  }

  close(): void {
    this.#open = false;
  }
}
