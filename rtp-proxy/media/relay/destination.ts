/**
 * One destination of a route: the proxy's own egress port pair for it (so
 * the receiver's RTCP feedback comes back to a port that identifies it), the
 * optional SRTP leg, and SSRC/sequence rewriting.
 */
import type { RemoteInfo } from 'node:dgram';
import { setRtpSequenceNumber, setRtpSsrc } from '../../../src/protocol/rtp/index.js';
import { validHostPort } from '../../../src/shared/address.js';
import type { DestinationConfig } from '../../../src/config/index.js';
import type { DropCounters } from './drop-counters.js';
import type { PortPair } from '../../../src/media/udp/port-allocator.js';
import { SrtpLeg } from './srtp-leg.js';
import { connectUdp } from '../../../src/media/udp/udp.js';

export type FeedbackHandler = (destination: Destination, packet: Buffer, from: RemoteInfo) => void;

export class Destination {
  readonly host: string;
  readonly rtpPort: number;
  readonly rtcpPort: number;
  readonly srtp: SrtpLeg | undefined;
  readonly local: PortPair;
  packets = 0;
  bytes = 0;
  readonly #drops: DropCounters;
  readonly #rewriteSsrc: number | undefined;
  #nextSequence: number | undefined;

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
    this.#rewriteSsrc = config.rewrite?.ssrc;
    this.#nextSequence =
      config.rewrite?.sequence === true ? Math.floor(Math.random() * 0x10000) : undefined;
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

  /** The packet path's last hop: rewrite, protect, send. `plain` is not modified. */
  sendRtp(plain: Buffer): void {
    let out = plain;
    if (this.#rewriteSsrc !== undefined || this.#nextSequence !== undefined) {
      out = Buffer.from(plain);
      if (this.#rewriteSsrc !== undefined) setRtpSsrc(out, this.#rewriteSsrc);
      if (this.#nextSequence !== undefined) {
        setRtpSequenceNumber(out, this.#nextSequence);
        this.#nextSequence = (this.#nextSequence + 1) & 0xffff;
      }
    }
    if (this.srtp !== undefined) {
      const result = this.srtp.send.protectRtp(out);
      if (!result.ok) {
        this.#drops.add('protect_failed');
        return;
      }
      out = result.packet;
    }
    this.packets += 1;
    this.bytes += out.length;
    // Connected to rtpPort/host by connect(): no address per datagram.
    this.local.rtp.send(out);
  }

  sendRtcp(plain: Buffer): void {
    let out = plain;
    if (this.srtp !== undefined) {
      const result = this.srtp.send.protectRtcp(plain);
      if (!result.ok) {
        this.#drops.add('protect_failed');
        return;
      }
      out = result.packet;
    }
    (this.local.rtcp ?? this.local.rtp).send(out);
  }

  /** A datagram that arrived on our egress ports, decrypted if this leg is SRTP. */
  unprotectFeedback(packet: Buffer): Buffer | undefined {
    if (this.srtp === undefined) return packet;
    const result = this.srtp.receive.unprotectRtcp(packet);
    if (result.ok) return result.packet;
    this.#drops.add(`srtcp_${result.reason}`);
    return undefined;
  }
}
