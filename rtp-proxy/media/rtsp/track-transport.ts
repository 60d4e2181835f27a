/**
 * How one track of an RTSP session moves between the proxy and a client:
 * UDP on a port pair of the proxy's own (RFC 2326 §12.39 client_port /
 * server_port), or `$`-framed inside the RTSP connection (§10.12). The same
 * transport carries media out (viewer) or in (publisher).
 *
 * UDP goes through BatchSockets (native recvmmsg/sendmmsg or node:dgram):
 * what a viewer gets during one event-loop turn is copied into its send
 * slab and leaves as one sendBatch at the end of the turn. With several
 * media workers a viewer's UDP track is a WorkerUdpTrackTransport instead
 * (viewer-spread.ts): this same UdpTrackTransport, run in a worker.
 */
import { SendSlab, closePair, type PortPair, type UdpBatch } from '../../../src/media/udp/index.js';
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

/** A viewer's slab: a burst of one turn (a key frame's packets), small enough for many viewers. */
const VIEWER_SLAB = { datagrams: 32, bytes: 32 * 1500 };

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
  readonly #rtpSlab: SendSlab;
  readonly #rtcpSlab: SendSlab;
  /** Datagrams the kernel did not take (a viewer's socket buffer full, its port closed). */
  lost = 0;

  private constructor(pair: PortPair, release: () => void) {
    this.pair = pair;
    this.#release = release;
    const counted = (result: { readonly lost: number }): void => {
      this.lost += result.lost;
    };
    this.#rtpSlab = new SendSlab(pair.rtp, counted, VIEWER_SLAB);
    this.#rtcpSlab =
      pair.rtcp === undefined ? this.#rtpSlab : new SendSlab(pair.rtcp, counted, VIEWER_SLAB);
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
    try {
      await pair.rtp.connect(client.host, client.rtpPort);
      if (pair.rtcp !== undefined) await pair.rtcp.connect(client.host, client.rtcpPort);
    } catch (error) {
      transport.close();
      throw error;
    }
    // A connected socket only delivers its peer's datagrams; the address check
    // stays for the rtcp-mux case and as a second line. A publisher's packets
    // go on to every viewer and may be kept (TCP frames): each is a Buffer of its own.
    const take = (deliver: (packet: Buffer) => void) => (batch: UdpBatch) => {
      for (let i = 0; i < batch.count; i++) {
        if (batch.source(i).address === client.host) deliver(copyIfViewed(pair, batch.datagram(i)));
        else incoming.stray();
      }
    };
    pair.rtp.onBatch(
      take((packet) => {
        incoming.rtp(packet);
      }),
    );
    pair.rtcp?.onBatch(
      take((packet) => {
        incoming.rtcp(packet);
      }),
    );
    const ignore = (): void => undefined;
    pair.rtp.onError(ignore);
    pair.rtcp?.onError(ignore);
    return transport;
  }

  get serverPorts(): [number, number] {
    return [this.pair.port, this.pair.rtcp === undefined ? this.pair.port : this.pair.port + 1];
  }

  sendRtp(packet: Buffer): boolean {
    if (this.pair.rtp.closed) return false;
    this.#rtpSlab.push(packet);
    this.#rtpSlab.flushLater();
    return true;
  }

  sendRtcp(packet: Buffer): void {
    if (this.#rtcpSlab === this.#rtpSlab ? this.pair.rtp.closed : this.pair.rtcp?.closed === true)
      return;
    this.#rtcpSlab.push(packet);
    this.#rtcpSlab.flushLater();
  }

  close(): void {
    // What this turn gathered for the viewer goes before its sockets close.
    this.#rtpSlab.flushReported();
    if (this.#rtcpSlab !== this.#rtpSlab) this.#rtcpSlab.flushReported();
    closePair(this.pair);
    this.#release();
  }
}

/**
 * A datagram's bytes the receiver may keep: the native socket's datagram is
 * a view of its receive slab, rewritten by the next batch, so it is copied;
 * node:dgram's is a Buffer of its own already.
 */
function copyIfViewed(pair: PortPair, datagram: Buffer): Buffer {
  return pair.rtp.kind === 'native' ? Buffer.from(datagram) : datagram;
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
