/**
 * One destination of a route: the proxy's own egress port pair for it (so
 * the receiver's RTCP feedback comes back to a port that identifies it), and
 * its outbound chain: SSRC/sequence rewriting, SRTP protect, then the socket.
 * Feedback arriving on the egress ports runs the destination's feedback
 * chain (from its host only, SRTCP unprotect, RTCP parse).
 *
 * Sending never throws into the packet loop: once either egress socket has
 * closed (the route is being torn down, or the socket was closed under it)
 * a packet is dropped as 'destination_closed', and a send that throws all
 * the same is dropped as 'send_error'.
 *
 * Socket errors (an ICMP port unreachable comes back as ECONNREFUSED on the
 * connected egress socket) are also kept as the destination's lastError for
 * /streams; RTCP from the destination proves it alive again and marks the
 * error resolved (UDP gives no other sign of a send that worked). Node
 * reports such an error through the socket's 'error' event only when it
 * arrives before the next send; a send right behind it fails inside Node,
 * unseen without a per-packet callback, which the packet path does not pay
 * for. A destination that stays unreachable is still reported, at the
 * first gap between packets.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { validHostPort } from '../../../src/shared/address.js';
import { errorMessage } from '../../../src/shared/errors.js';
import { LastErrorRecord } from '../../../src/shared/last-error.js';
import type { DestinationConfig } from '../../../src/config/index.js';
import {
  HeaderRewrite,
  MediaPacket,
  PacketChain,
  RtcpParse,
  SourceAddress,
  SrtpProtect,
  SrtpUnprotect,
  type DropCounters,
} from '../../../src/media/packet-chain/index.js';
import { type PortPair, connectUdp } from '../../../src/media/udp/index.js';
import { SrtpLeg } from './srtp-leg.js';

export const DESTINATION_CLOSED = 'destination_closed';
export const SEND_ERROR = 'send_error';

export type FeedbackHandler = (destination: Destination, packet: Buffer, from: RemoteInfo) => void;

export class Destination {
  readonly host: string;
  readonly rtpPort: number;
  readonly rtcpPort: number;
  readonly srtp: SrtpLeg | undefined;
  readonly local: PortPair;
  /** RTP on its way out: rewrite, protect. Interceptors may be added. */
  readonly outbound: PacketChain;
  packets = 0;
  bytes = 0;
  /** Its last socket error; see src/shared/last-error.ts. */
  readonly lastError = new LastErrorRecord();
  readonly #drops: DropCounters;
  /** Present when the destination rewrites headers (it restores shared packets it rewrote in place). */
  readonly #rewrite: HeaderRewrite | undefined;
  #closed = false;
  readonly #rtcpOut: PacketChain;
  readonly #feedback: PacketChain;
  readonly #packet = new MediaPacket();
  readonly #rtcpPacket = new MediaPacket();
  readonly #feedbackPacket = new MediaPacket();

  constructor(
    config: DestinationConfig,
    local: PortPair,
    drops: DropCounters,
    onFeedback: FeedbackHandler,
  ) {
    const address = validHostPort(config.address);
    this.host = address.host;
    this.rtpPort = address.port;
    this.rtcpPort = config.rtcpMux ? address.port : address.port + 1;
    this.srtp = config.srtp === undefined ? undefined : new SrtpLeg(config.srtp);
    this.local = local;
    this.#drops = drops;
    const chainOptions = { drops };
    this.outbound = new PacketChain([], chainOptions);
    const rewrite = config.rewrite;
    if (rewrite !== undefined && (rewrite.ssrc !== undefined || rewrite.sequence)) {
      this.#rewrite = new HeaderRewrite({
        ssrc: rewrite.ssrc,
        renumber: rewrite.sequence,
        // SRTP protect writes a new buffer: rewrite in place, put the header back after.
        restore: this.srtp !== undefined,
      });
      this.outbound.append(this.#rewrite);
    }
    this.#rtcpOut = new PacketChain([], chainOptions);
    this.#feedback = new PacketChain([new SourceAddress(() => this.host)], chainOptions);
    if (this.srtp !== undefined) {
      this.outbound.append(new SrtpProtect(this.srtp.send));
      this.#rtcpOut.append(new SrtpProtect(this.srtp.send, 'rtcp'));
      this.#feedback.append(new SrtpUnprotect(this.srtp.receive, 'rtcp'));
    }
    this.#feedback.append(new RtcpParse());
    const feedback = (packet: Buffer, from: RemoteInfo): void => {
      onFeedback(this, packet, from);
    };
    // With rtcp-mux on our side the receiver's RTCP arrives on the RTP port.
    (local.rtcp ?? local.rtp).on('message', feedback);
    if (local.rtcp !== undefined) local.rtp.on('message', feedback);
    const sendError = (error: NodeJS.ErrnoException): void => {
      drops.add(SEND_ERROR);
      this.#recordError(error);
    };
    local.rtp.on('error', sendError);
    local.rtcp?.on('error', sendError);
    const closed = (): void => {
      this.#closed = true;
    };
    local.rtp.once('close', closed);
    local.rtcp?.once('close', closed);
  }

  /** True once an egress socket has closed: nothing more is sent. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Points the egress sockets at the destination; call once, before any send. */
  async connect(): Promise<void> {
    await connectUdp(this.local.rtp, this.rtpPort, this.host);
    if (this.local.rtcp !== undefined) await connectUdp(this.local.rtcp, this.rtcpPort, this.host);
  }

  /** The packet path's last hop: the outbound chain, then the socket. `inbound` is not modified. */
  sendRtp(inbound: MediaPacket): void {
    if (this.#closed) {
      this.#drops.add(DESTINATION_CLOSED);
      return;
    }
    const packet = this.#packet.loadFrom(inbound);
    const passed = this.outbound.run(packet);
    const out = packet.buffer;
    // Before any return: the next destination reads the sender's header again.
    this.#rewrite?.restore();
    if (!passed) return;
    // Connected to rtpPort/host by connect(): no address per datagram.
    if (!this.#send(this.local.rtp, out)) return;
    this.packets += 1;
    this.bytes += out.length;
  }

  sendRtcp(plain: Buffer): void {
    if (this.#closed) {
      this.#drops.add(DESTINATION_CLOSED);
      return;
    }
    const packet = this.#rtcpPacket.load(plain, 0);
    if (!this.#rtcpOut.run(packet)) return;
    this.#send(this.local.rtcp ?? this.local.rtp, packet.buffer);
  }

  /** dgram's send throws at once on a closed socket: counted, never into the packet loop. */
  #send(socket: Socket, datagram: Buffer): boolean {
    try {
      socket.send(datagram);
      return true;
    } catch (error) {
      this.#drops.add(SEND_ERROR);
      this.#recordError(error);
      return false;
    }
  }

  #recordError(error: unknown): void {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const words =
      code === 'ECONNREFUSED'
        ? 'port unreachable (ECONNREFUSED): nothing listens there'
        : errorMessage(error);
    this.lastError.failed(`sending to ${this.host}:${this.rtpPort}: ${words}`, code ?? 'ERR_SEND');
  }

  /**
   * A datagram that arrived on our egress ports, through the feedback chain:
   * the parsed packet (reused for the next datagram), or undefined when it
   * was dropped (counted).
   */
  receiveFeedback(datagram: Buffer, from: RemoteInfo, arrivalMs: number): MediaPacket | undefined {
    const packet = this.#feedbackPacket.load(datagram, arrivalMs, from.address, from.port);
    if (!this.#feedback.run(packet)) return undefined;
    this.lastError.succeeded();
    return packet;
  }
}
