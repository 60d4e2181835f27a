/**
 * One stream route: RTP (and RTCP) in on one port pair, out to every
 * destination. The packet path is the route's inbound chain, then each
 * destination's outbound chain (src/media/packet-chain):
 *
 *   ingress socket -> latch-gate -> srtp-unprotect -> rtp-check -> count
 *   -> measure -> latch-confirm -> duplicate-filter
 *   -> each destination (header-rewrite, srtp-protect, send)
 *
 * From rtp-check on, the order (and the byte convention, wire length) of
 * every user of the chain: receiveSteps in src/media/packet-chain. So
 * packets the stream table refuses ('too_many_streams', 'unknown_ssrc') are
 * in `packetsIn` and counted as drops under that reason.
 *
 * RTCP from the sender (source-address, srtcp-unprotect, rtcp-parse) is
 * measured (SR) and passed to every destination; RTCP that comes while no
 * sender holds the route, ahead of the RTP packet that latches one (ffmpeg's
 * first SR), waits for that packet (early-sender-rtcp.ts), so a clean run
 * drops nothing. RTCP from destinations (RR, NACK, PLI, FIR...) is measured
 * (RR) and passed upstream to the sender; this hop also sends the sender
 * its own receiver reports. Nothing on the path throws: a bad packet is
 * dropped and counted, once, by the chain that dropped it, in the route's
 * one DropCounters. After close() a datagram still handed to the route is
 * dropped as 'route_closed', and nothing is sent on a closed socket
 * (destination.ts).
 *
 * The sockets are BatchSockets (src/media/udp): datagrams arrive one batch
 * per event-loop turn and run the chain one by one; what the batch sends to
 * the destinations waits in their send slabs and leaves at the end of the
 * batch, one sendBatch (one sendmmsg natively) per egress socket. A source
 * address is decoded only because the latch needs it, and the native socket
 * decodes one sender's address once, not per datagram.
 */
import type { LastError } from '../../../src/shared/last-error.js';
import { isRtcpPacket } from '../../../src/protocol/rtp/index.js';
import { middle32 } from '../../../src/protocol/rtcp/index.js';
import type { RouteConfig } from '../../../src/config/index.js';
import type { QualitySnapshot } from '../../../src/media/quality/index.js';
import {
  MediaPacket,
  PacketChain,
  PacketCounter,
  RtcpParse,
  SourceAddress,
  SrtpProtect,
  SrtpUnprotect,
  SsrcStreamTable,
  SymmetricLatch,
  UNLATCHED_SOURCE,
  monotonicClock,
  receiveSteps,
  type DuplicateFilterOptions,
  type MeasuredStream,
} from '../../../src/media/packet-chain/index.js';
import type { SrtpSession } from '../../../src/protocol/srtp/index.js';
import type { Clock } from '../../../src/shared/clock.js';
import type { Destination } from './destination.js';
import type { DropCounters, DropCounts } from './drop-counters.js';
import { EarlySenderRtcp } from './early-sender-rtcp.js';
import type { PortPair, UdpBatch, UdpSource } from '../../../src/media/udp/index.js';
import { ReceiverReporter, ntpMiddle32Now } from './receiver-reporter.js';
import type { SrtpLeg } from './srtp-leg.js';

/** A latched sender silent this long may be replaced by a new one. */
const RELATCH_AFTER_MS = 5_000;
/**
 * RTCP held while no sender is latched: ffmpeg's first SR comes about 1 ms
 * before its first RTP packet; a second is plenty, and a few packets bound
 * what a stranger can park here.
 */
const EARLY_RTCP_MAX_AGE_MS = 1_000;
const EARLY_RTCP_MAX_PACKETS = 4;
/** A stream with no packet for this long has ended and leaves the metrics. */
const STREAM_IDLE_MS = 30_000;
/** Streams (SSRCs) per route: bounds memory and metric label cardinality. */
const MAX_STREAMS = 16;

export type MediaRouteStream = MeasuredStream;

export const ROUTE_CLOSED = 'route_closed';

export interface RouteInboundChainOptions {
  readonly latch: SymmetricLatch;
  /** The ingress leg's receive session, when the sender speaks SRTP. */
  readonly srtp?: SrtpSession | undefined;
  readonly table: SsrcStreamTable;
  readonly counter: PacketCounter;
  readonly drops: DropCounters;
  readonly clock: Clock;
  readonly duplicates?: DuplicateFilterOptions;
}

/**
 * A route's inbound chain: latch gate and SRTP unprotect in front of the
 * common receive steps, the latch confirmed right after measure (only a
 * valid packet of an admitted stream latches or refreshes the sender).
 */
export function routeInboundChain(options: RouteInboundChainOptions): PacketChain {
  const chain = new PacketChain([], { drops: options.drops, clock: options.clock });
  chain.append(options.latch.gate);
  if (options.srtp !== undefined) chain.append(new SrtpUnprotect(options.srtp));
  const steps = receiveSteps({
    counter: options.counter,
    streams: options.table,
    afterMeasure: [options.latch.confirm],
    ...(options.duplicates === undefined ? {} : { duplicates: options.duplicates }),
  });
  for (const step of steps) chain.append(step);
  return chain;
}

export interface MediaRouteOptions {
  /** Arrival times for measurement and latching. Default: monotonic ms. */
  readonly clock?: Clock;
}

export interface MediaRouteSnapshot {
  readonly name: string;
  readonly listen: { readonly rtp: string; readonly rtcp: string };
  readonly srtp: string | null;
  readonly sender: { readonly address: string; readonly port: number } | null;
  readonly packetsIn: number;
  readonly bytesIn: number;
  readonly drops: DropCounts;
  /**
   * SRTP and SRTCP packets of all its legs that the libsrtp engine handed
   * to node:crypto (a sender gone back in its numbering, each SSRC's first
   * SRTCP packet...): see src/protocol/srtp/libsrtp-transform.ts.
   */
  readonly srtpNodeCryptoPackets: number;
  readonly destinations: readonly {
    readonly address: string;
    readonly local: string;
    readonly srtp: string | null;
    readonly packets: number;
    readonly bytes: number;
    /** Its last socket error (e.g. port unreachable), kept after it passes. */
    readonly lastError: LastError | null;
  }[];
  readonly streams: readonly QualitySnapshot[];
}

export class MediaRoute {
  readonly config: RouteConfig;
  readonly ingress: PortPair;
  readonly destinations: readonly Destination[];
  readonly drops: DropCounters;
  /** RTP from the sender, up to the fan-out. Interceptors may be added. */
  readonly inbound: PacketChain;
  readonly streams: Map<number, MediaRouteStream>;
  readonly #clock: Clock;
  readonly #host: string;
  readonly #srtp: SrtpLeg | undefined;
  readonly #reporter: ReceiverReporter;
  readonly #latch: SymmetricLatch;
  readonly #table: SsrcStreamTable;
  readonly #received = new PacketCounter();
  readonly #senderRtcp: PacketChain;
  readonly #upstreamRtcp: PacketChain;
  readonly #earlyRtcp: EarlySenderRtcp;
  readonly #packet = new MediaPacket();
  readonly #rtcpPacket = new MediaPacket();
  readonly #upstreamPacket = new MediaPacket();
  /** sendBatch's arrays for one datagram upstream, created once. */
  readonly #oneOffset = new Int32Array(1);
  readonly #oneLength = new Int32Array(1);
  #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(
    config: RouteConfig,
    host: string,
    ingress: PortPair,
    srtp: SrtpLeg | undefined,
    destinations: readonly Destination[],
    drops: DropCounters,
    options: MediaRouteOptions = {},
  ) {
    this.config = config;
    this.#host = host;
    this.ingress = ingress;
    this.#srtp = srtp;
    this.destinations = destinations;
    this.drops = drops;
    const clock = options.clock ?? monotonicClock;
    this.#clock = clock;
    this.#reporter = new ReceiverReporter({
      cname: `streammesh-${config.name}`,
      send: (report) => {
        this.#sendUpstream(report);
      },
      streams: () => this.streams.values(),
      clock,
    });
    this.#latch = new SymmetricLatch({
      lockedAddress: config.latch.address,
      relatchAfterMs: RELATCH_AFTER_MS,
    });
    this.#table = new SsrcStreamTable({
      clockRate: config.clockRate,
      kind: config.kind,
      maxStreams: MAX_STREAMS,
      onlyFirstSsrc: config.latch.ssrc,
      onNewStream: () => {
        this.#reporter.start();
      },
    });
    this.streams = this.#table.streams;
    this.inbound = routeInboundChain({
      latch: this.#latch,
      srtp: srtp?.receive,
      table: this.#table,
      counter: this.#received,
      drops,
      clock,
    });

    this.#senderRtcp = new PacketChain([new SourceAddress(() => this.#latch.sender?.address)], {
      drops,
      clock,
    });
    this.#earlyRtcp = new EarlySenderRtcp({
      maxPackets: EARLY_RTCP_MAX_PACKETS,
      maxAgeMs: EARLY_RTCP_MAX_AGE_MS,
      onDropped: () => drops.add(UNLATCHED_SOURCE),
    });
    this.#upstreamRtcp = new PacketChain([], { drops, clock });
    if (srtp !== undefined) {
      this.#senderRtcp.append(new SrtpUnprotect(srtp.receive, 'rtcp'));
      this.#upstreamRtcp.append(new SrtpProtect(srtp.send, 'rtcp'));
    }
    this.#senderRtcp.append(new RtcpParse());

    // A successor taking these sockets over (media-route-table.ts) replaces both handlers.
    ingress.rtp.onBatch((batch) => {
      this.#onIngressRtpBatch(batch);
    });
    ingress.rtcp?.onBatch((batch) => {
      this.#onSenderRtcpBatch(batch);
    });
    // Only upstream RTCP leaves the ingress sockets; a late error is one of those lost.
    const ingressError = (error: { readonly late: boolean }): void => {
      if (error.late) drops.add('send_error');
    };
    ingress.rtp.onError(ingressError);
    ingress.rtcp?.onError(ingressError);
    this.#sweep = setInterval(() => {
      this.#forgetIdleStreams();
      this.#earlyRtcp.expire(this.#clock.now());
    }, 5_000);
    this.#sweep.unref();
  }

  get name(): string {
    return this.config.name;
  }

  get ingressSrtp(): SrtpLeg | undefined {
    return this.#srtp;
  }

  /** Valid RTP packets received (duplicates and refused streams included; what was dropped before `count` not). */
  get packetsIn(): number {
    return this.#received.packets;
  }

  /** Their bytes as received (SRTP included). */
  get bytesIn(): number {
    return this.#received.bytes;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#reporter.close();
    this.#earlyRtcp.clear();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** One turn's datagrams on the RTP port, one by one through the chain; then one send per destination. */
  #onIngressRtpBatch(batch: UdpBatch): void {
    // Arrival times are put back from each datagram's age: a batch read late
    // must not look like a burst to the jitter measurement.
    const now = this.#clock.now();
    for (let i = 0; i < batch.count; i++) {
      this.#onIngressRtpPort(batch.datagram(i), batch.source(i), now - batch.ageMs(i));
    }
    this.#flush();
  }

  #onSenderRtcpBatch(batch: UdpBatch): void {
    const now = this.#clock.now();
    for (let i = 0; i < batch.count; i++) {
      this.#onSenderRtcp(batch.datagram(i), batch.source(i), now - batch.ageMs(i));
    }
    this.#flush();
  }

  #flush(): void {
    for (const destination of this.destinations) destination.flush();
  }

  #onIngressRtpPort(datagram: Buffer, from: UdpSource, arrivalMs: number): void {
    if (this.config.rtcpMux && isRtcpPacket(datagram)) {
      this.#onSenderRtcp(datagram, from, arrivalMs);
      return;
    }
    if (this.#closed) {
      this.drops.add(ROUTE_CLOSED);
      return;
    }
    const packet = this.#packet.load(datagram, arrivalMs, from.address, from.port);
    const passed = this.inbound.run(packet);
    // Before the fan-out: RTCP that came just ahead of this packet goes out ahead of it too.
    if (this.#earlyRtcp.size > 0) this.#releaseEarlyRtcp(packet.arrivalMs);
    if (!passed) return;
    // With more than one destination the bytes are read again after each one's chain.
    packet.shared = this.destinations.length > 1;
    for (const destination of this.destinations) destination.sendRtp(packet);
  }

  #onSenderRtcp(datagram: Buffer, from: UdpSource, arrivalMs: number): void {
    if (this.#closed) {
      this.drops.add(ROUTE_CLOSED);
      return;
    }
    const { address, port } = from;
    // Not (yet) the latched address, but an RTP packet from it could latch the route now.
    if (this.#latch.sender?.address !== address && this.#latch.isOpenTo(address, arrivalMs)) {
      // Kept past this batch, whose memory the socket reuses: copied (rare: before a sender latches).
      this.#earlyRtcp.hold({ datagram: Buffer.from(datagram), address, port, arrivalMs });
      return;
    }
    this.#relaySenderRtcp(datagram, address, port, arrivalMs);
  }

  /** Once a sender holds the route, the RTCP that waited for it is relayed or dropped. */
  #releaseEarlyRtcp(nowMs: number): void {
    if (this.#latch.isOpen(nowMs)) return;
    for (const rtcp of this.#earlyRtcp.release(nowMs)) {
      this.#relaySenderRtcp(rtcp.datagram, rtcp.address, rtcp.port, rtcp.arrivalMs);
    }
  }

  /** RTCP from the sender: SRs are noted, everything goes to every destination. */
  #relaySenderRtcp(datagram: Buffer, address: string, port: number, arrivalMs: number): void {
    const packet = this.#rtcpPacket.load(datagram, arrivalMs, address, port);
    if (!this.#senderRtcp.run(packet)) return;
    for (const rtcp of packet.rtcp) {
      if (rtcp.type === 'sr') {
        this.streams
          .get(rtcp.ssrc)
          ?.quality.onSenderReport(middle32(rtcp.ntpTimestamp), packet.arrivalMs);
      }
    }
    for (const destination of this.destinations) destination.sendRtcp(packet.buffer);
    for (const rtcp of packet.rtcp) {
      if (rtcp.type === 'bye') for (const ssrc of rtcp.sources) this.streams.delete(ssrc);
    }
  }

  /** RTCP from a destination: its RRs are folded in, everything goes upstream. */
  onFeedback(destination: Destination, datagram: Buffer, from: UdpSource): void {
    if (this.#closed) {
      this.drops.add(ROUTE_CLOSED);
      return;
    }
    const packet = destination.receiveFeedback(datagram, from, this.#clock.now());
    if (packet === undefined) return;
    const ntpNow = ntpMiddle32Now();
    for (const rtcp of packet.rtcp) {
      if (rtcp.type !== 'rr' && rtcp.type !== 'sr') continue;
      for (const block of rtcp.reports) {
        this.streams
          .get(block.ssrc)
          ?.quality.onReceiverReport(
            `${destination.host}:${destination.rtpPort}`,
            block,
            ntpNow,
            packet.arrivalMs,
          );
      }
    }
    if (this.#latch.sender === undefined) {
      this.drops.add('no_sender');
      return;
    }
    this.#sendUpstream(packet.buffer);
  }

  #sendUpstream(plain: Buffer): void {
    const sender = this.#latch.sender;
    if (sender === undefined) return;
    const packet = this.#upstreamPacket.load(plain, 0);
    if (!this.#upstreamRtcp.run(packet)) return;
    const port = this.config.rtcpMux ? sender.port : sender.port + 1;
    const socket = this.ingress.rtcp ?? this.ingress.rtp;
    this.#oneLength[0] = packet.buffer.length;
    let taken = 0;
    try {
      // Sent at once, not batched: RTCP upstream is a few packets a second.
      if (!socket.closed) {
        taken = socket.sendBatch(packet.buffer, this.#oneOffset, this.#oneLength, 1, {
          address: sender.address,
          port,
        });
      }
    } catch {
      // Refused at once (a socket closed under the route): counted below.
    }
    if (taken === 0) this.drops.add('send_error');
  }

  #forgetIdleStreams(): void {
    this.#table.forgetIdle(this.#clock.now() - STREAM_IDLE_MS);
    if (this.streams.size === 0) this.#reporter.stop();
  }

  snapshot(): MediaRouteSnapshot {
    const now = this.#clock.now();
    const rtcpPort = this.ingress.rtcp === undefined ? this.ingress.port : this.ingress.port + 1;
    const sender = this.#latch.sender;
    return {
      name: this.name,
      listen: { rtp: `${this.#host}:${this.ingress.port}`, rtcp: `${this.#host}:${rtcpPort}` },
      srtp: this.#srtp?.profile ?? null,
      sender: sender === undefined ? null : { address: sender.address, port: sender.port },
      packetsIn: this.packetsIn,
      bytesIn: this.bytesIn,
      drops: { ...this.drops.counts },
      srtpNodeCryptoPackets: this.destinations.reduce(
        (sum, destination) => sum + (destination.srtp?.nodeCryptoPackets ?? 0),
        this.#srtp?.nodeCryptoPackets ?? 0,
      ),
      destinations: this.destinations.map((destination) => ({
        address: `${destination.host}:${destination.rtpPort}`,
        local: `${this.#host}:${destination.local.port}`,
        srtp: destination.srtp?.profile ?? null,
        packets: destination.packets,
        bytes: destination.bytes,
        lastError: destination.lastError.value,
      })),
      streams: [...this.streams.values()].map((stream) => stream.quality.snapshot(now)),
    };
  }
}
