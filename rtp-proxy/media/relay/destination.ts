/**
 * One destination of a route: the proxy's own egress port pair for it (so
 * the receiver's RTCP feedback comes back to a port that identifies it), and
 * its outbound chain: SSRC/sequence rewriting, SRTP protect, then the socket.
 * Feedback arriving on the egress ports runs the destination's feedback
 * chain (from its host only, SRTCP unprotect, RTCP parse).
 *
 * The egress sockets are BatchSockets (native recvmmsg/sendmmsg or
 * node:dgram, src/media/udp/udp-io.ts). What leaves during one batch of the
 * route's ingress is copied into the socket's send slab (the bytes may be
 * the receive slab's or an SRTP engine's reused buffer) and goes out as one
 * sendBatch when the route calls flush() at the end of that batch.
 *
 * Sending never throws into the packet loop: once either egress socket has
 * closed (the route is being torn down, or the socket was closed under it)
 * a packet is dropped as 'destination_closed', and datagrams the kernel does
 * not take are dropped as 'send_error'.
 *
 * Socket errors (an ICMP port unreachable comes back as ECONNREFUSED on the
 * connected egress socket: from the next send, or from the receive the
 * socket's readiness triggers) are also kept as the destination's lastError
 * for /streams; RTCP from the destination proves it alive again and marks
 * the error resolved (UDP gives no other sign of a send that worked).
 */
import { validHostPort } from '../../../src/shared/address.js';
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
import {
  SendSlab,
  type FlushResult,
  type PortPair,
  type UdpSocketError,
  type UdpSource,
} from '../../../src/media/udp/index.js';
import { SrtpLeg } from './srtp-leg.js';

export const DESTINATION_CLOSED = 'destination_closed';
export const SEND_ERROR = 'send_error';

export type FeedbackHandler = (destination: Destination, packet: Buffer, from: UdpSource) => void;

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
  readonly #rtpSlab: SendSlab;
  /** The RTCP port's own slab; undefined with rtcp-mux (RTCP goes in the RTP slab, in order). */
  readonly #rtcpSlab: SendSlab | undefined;

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
    const counted = (result: FlushResult): void => {
      this.#counted(result);
    };
    this.#rtpSlab = new SendSlab(local.rtp, counted);
    this.#rtcpSlab = local.rtcp === undefined ? undefined : new SendSlab(local.rtcp, counted);
    // With rtcp-mux on our side the receiver's RTCP arrives on the RTP port.
    const sockets = local.rtcp === undefined ? [local.rtp] : [local.rtp, local.rtcp];
    for (const socket of sockets) {
      socket.onBatch((batch) => {
        for (let i = 0; i < batch.count; i++) onFeedback(this, batch.datagram(i), batch.source(i));
      });
      socket.onError((error) => {
        this.#onSocketError(error);
      });
    }
  }

  /** True once an egress socket has closed: nothing more is sent. */
  get closed(): boolean {
    if (!this.#closed) this.#closed = this.local.rtp.closed || this.local.rtcp?.closed === true;
    return this.#closed;
  }

  /** Points the egress sockets at the destination; call once, before any send. */
  async connect(): Promise<void> {
    await this.local.rtp.connect(this.host, this.rtpPort);
    if (this.local.rtcp !== undefined) await this.local.rtcp.connect(this.host, this.rtcpPort);
  }

  /**
   * The packet path's last hop: the outbound chain, then the send slab
   * (sent at the route's flush()). `inbound` is not modified.
   */
  sendRtp(inbound: MediaPacket): void {
    if (this.closed) {
      this.#drops.add(DESTINATION_CLOSED);
      return;
    }
    const packet = this.#packet.loadFrom(inbound);
    const passed = this.outbound.run(packet);
    // Copied here: SRTP protect may hand back a buffer it reuses on its next call.
    if (passed) this.#rtpSlab.push(packet.buffer);
    // Before any return: the next destination reads the sender's header again.
    this.#rewrite?.restore();
  }

  sendRtcp(plain: Buffer): void {
    if (this.closed) {
      this.#drops.add(DESTINATION_CLOSED);
      return;
    }
    const packet = this.#rtcpPacket.load(plain, 0);
    if (!this.#rtcpOut.run(packet)) return;
    (this.#rtcpSlab ?? this.#rtpSlab).push(packet.buffer, false);
  }

  /** Sends what this turn gathered: one sendBatch per egress socket. */
  flush(): void {
    if (this.#rtpSlab.pending > 0) this.#counted(this.#rtpSlab.flush());
    if (this.#rtcpSlab !== undefined && this.#rtcpSlab.pending > 0)
      this.#counted(this.#rtcpSlab.flush());
  }

  /** A flush's outcome in the counters: packets and bytes sent, the rest dropped. */
  #counted(result: FlushResult): void {
    // RTP only (pushed as measured); RTCP shares the slab when muxed.
    this.packets += result.measured;
    this.bytes += result.measuredBytes;
    if (result.lost === 0) return;
    if (this.closed) this.#drops.add(DESTINATION_CLOSED, result.lost);
    else this.#drops.add(SEND_ERROR, result.lost);
  }

  /**
   * An error the socket reported: kept as lastError. One reported late (an
   * ICMP error queued on the socket, node:dgram's failed send) is a datagram
   * that did not arrive, counted here; one from inside a flush was counted by it.
   */
  #onSocketError(error: UdpSocketError): void {
    if (error.late) this.#drops.add(SEND_ERROR);
    const words =
      error.code === 'ECONNREFUSED'
        ? 'port unreachable (ECONNREFUSED): nothing listens there'
        : error.message;
    this.lastError.failed(`sending to ${this.host}:${this.rtpPort}: ${words}`, error.code);
  }

  /**
   * A datagram that arrived on our egress ports, through the feedback chain:
   * the parsed packet (reused for the next datagram), or undefined when it
   * was dropped (counted).
   */
  receiveFeedback(datagram: Buffer, from: UdpSource, arrivalMs: number): MediaPacket | undefined {
    const packet = this.#feedbackPacket.load(datagram, arrivalMs, from.address, from.port);
    if (!this.#feedback.run(packet)) return undefined;
    this.lastError.succeeded();
    return packet;
  }
}
