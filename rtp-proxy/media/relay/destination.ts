/**
 * One destination of a route: the proxy's own egress port pair for it (so
 * the receiver's RTCP feedback comes back to a port that identifies it), and
 * its outbound chain: SSRC/sequence rewriting, SRTP protect, then the socket.
 * Feedback arriving on the egress ports runs the destination's feedback
 * chain (from its host only, SRTCP unprotect, RTCP parse).
 */
import type { RemoteInfo } from 'node:dgram';
import { validHostPort } from '../../../src/shared/address.js';
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
    const chainOptions = { drops };
    this.outbound = new PacketChain([], chainOptions);
    const rewrite = config.rewrite;
    if (rewrite !== undefined && (rewrite.ssrc !== undefined || rewrite.sequence)) {
      this.outbound.append(new HeaderRewrite({ ssrc: rewrite.ssrc, renumber: rewrite.sequence }));
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
    const sendError = (): void => {
      drops.add('send_error');
    };
    local.rtp.on('error', sendError);
    local.rtcp?.on('error', sendError);
  }

  /** Points the egress sockets at the destination; call once, before any send. */
  async connect(): Promise<void> {
    await connectUdp(this.local.rtp, this.rtpPort, this.host);
    if (this.local.rtcp !== undefined) await connectUdp(this.local.rtcp, this.rtcpPort, this.host);
  }

  /** The packet path's last hop: the outbound chain, then the socket. `inbound` is not modified. */
  sendRtp(inbound: MediaPacket): void {
    const packet = this.#packet.loadFrom(inbound);
    if (!this.outbound.run(packet)) return;
    const out = packet.buffer;
    this.packets += 1;
    this.bytes += out.length;
    // Connected to rtpPort/host by connect(): no address per datagram.
    this.local.rtp.send(out);
  }

  sendRtcp(plain: Buffer): void {
    const packet = this.#rtcpPacket.load(plain, 0);
    if (!this.#rtcpOut.run(packet)) return;
    (this.local.rtcp ?? this.local.rtp).send(packet.buffer);
  }

  /**
   * A datagram that arrived on our egress ports, through the feedback chain:
   * the parsed packet (reused for the next datagram), or undefined when it
   * was dropped (counted).
   */
  receiveFeedback(datagram: Buffer, from: RemoteInfo, arrivalMs: number): MediaPacket | undefined {
    const packet = this.#feedbackPacket.load(datagram, arrivalMs, from.address, from.port);
    return this.#feedback.run(packet) ? packet : undefined;
  }
}
