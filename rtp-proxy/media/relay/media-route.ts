/**
 * One stream route: RTP (and RTCP) in on one port pair, out to every
 * destination. The packet path, in order:
 *
 *   ingress socket -> source check (latch) -> SRTP unprotect -> RTP check
 *   -> stream table (quality) -> each destination (rewrite, SRTP protect, send)
 *
 * RTCP from the sender is measured (SR) and passed to every destination;
 * RTCP from destinations (RR, NACK, PLI, FIR...) is measured (RR) and passed
 * upstream to the sender; this hop also sends the sender its own receiver
 * reports. Nothing on the path throws: a bad packet is dropped and counted.
 */
import type { RemoteInfo } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import {
  checkRtp,
  isRtcpPacket,
  rtpPayloadType,
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
} from '../../../src/protocol/rtp/index.js';
import { middle32, parseRtcpCompound } from '../../../src/protocol/rtcp/index.js';
import type { RouteConfig } from '../../../src/config/index.js';
import { StreamQuality, type QualitySnapshot } from '../../../src/media/quality/index.js';
import type { Destination } from './destination.js';
import { DropCounters, type DropCounts } from './drop-counters.js';
import type { PortPair } from '../../../src/media/udp/port-allocator.js';
import { ReceiverReporter, ntpMiddle32Now } from './receiver-reporter.js';
import type { SrtpLeg } from './srtp-leg.js';

/** A latched sender silent this long may be replaced by a new one. */
const RELATCH_AFTER_MS = 5_000;
/** A stream with no packet for this long has ended and leaves the metrics. */
const STREAM_IDLE_MS = 30_000;
/** Streams (SSRCs) per route: bounds memory and metric label cardinality. */
const MAX_STREAMS = 16;

interface Sender {
  readonly address: string;
  readonly port: number;
  lastSeenMs: number;
}

export interface MediaRouteStream {
  readonly quality: StreamQuality;
  lastSeenMs: number;
}

export interface MediaRouteSnapshot {
  readonly name: string;
  readonly listen: { readonly rtp: string; readonly rtcp: string };
  readonly srtp: string | null;
  readonly sender: { readonly address: string; readonly port: number } | null;
  readonly packetsIn: number;
  readonly bytesIn: number;
  readonly drops: DropCounts;
  readonly destinations: readonly {
    readonly address: string;
    readonly local: string;
    readonly srtp: string | null;
    readonly packets: number;
    readonly bytes: number;
  }[];
  readonly streams: readonly QualitySnapshot[];
}

export class MediaRoute {
  readonly config: RouteConfig;
  readonly ingress: PortPair;
  readonly destinations: readonly Destination[];
  readonly drops: DropCounters;
  readonly streams = new Map<number, MediaRouteStream>();
  packetsIn = 0;
  bytesIn = 0;
  readonly #host: string;
  readonly #srtp: SrtpLeg | undefined;
  readonly #reporter: ReceiverReporter;
  #sender: Sender | undefined;
  #latchedSsrc: number | undefined;
  #sweep: NodeJS.Timeout;

  constructor(
    config: RouteConfig,
    host: string,
    ingress: PortPair,
    srtp: SrtpLeg | undefined,
    destinations: readonly Destination[],
    drops: DropCounters,
  ) {
    this.config = config;
    this.#host = host;
    this.ingress = ingress;
    this.#srtp = srtp;
    this.destinations = destinations;
    this.drops = drops;
    ingress.rtp.on('message', (packet: Buffer, from: RemoteInfo) => {
      this.#onIngressRtpPort(packet, from);
    });
    ingress.rtcp?.on('message', (packet: Buffer, from: RemoteInfo) => {
      this.#onSenderRtcp(packet, from);
    });
    ingress.rtp.on('error', () => drops.add('send_error'));
    ingress.rtcp?.on('error', () => drops.add('send_error'));
    this.#reporter = new ReceiverReporter({
      cname: `streammesh-${config.name}`,
      send: (report) => {
        this.#sendUpstream(report);
      },
      streams: () => this.streams.values(),
    });
    this.#sweep = setInterval(() => {
      this.#forgetIdleStreams();
    }, 5_000);
    this.#sweep.unref();
  }

  get name(): string {
    return this.config.name;
  }

  get ingressSrtp(): SrtpLeg | undefined {
    return this.#srtp;
  }

  close(): void {
    clearInterval(this.#sweep);
    this.#reporter.close();
  }

  #onIngressRtpPort(packet: Buffer, from: RemoteInfo): void {
    if (this.config.rtcpMux && isRtcpPacket(packet)) {
      this.#onSenderRtcp(packet, from);
      return;
    }
    const now = performance.now();
    if (!this.#acceptSource(from, now)) return;
    let plain = packet;
    if (this.#srtp !== undefined) {
      const result = this.#srtp.receive.unprotectRtp(packet);
      if (!result.ok) {
        this.drops.add(`srtp_${result.reason}`);
        return;
      }
      plain = result.packet;
    }
    const invalid = checkRtp(plain);
    if (invalid !== null) {
      this.drops.add(invalid);
      return;
    }
    const ssrc = rtpSsrc(plain);
    const stream = this.streams.get(ssrc) ?? this.#newStream(ssrc, now);
    if (stream === undefined) return;
    // Only a valid packet latches (or refreshes) the sender.
    this.#latch(from, now);
    stream.lastSeenMs = now;
    stream.quality.onRtp(
      rtpSequenceNumber(plain),
      rtpTimestamp(plain),
      rtpPayloadType(plain),
      plain.length,
      now,
    );
    this.packetsIn += 1;
    this.bytesIn += packet.length;
    for (const destination of this.destinations) destination.sendRtp(plain);
  }

  /** Symmetric RTP: true if `from` may send on this route now. */
  #acceptSource(from: RemoteInfo, now: number): boolean {
    const locked = this.config.latch.address;
    if (locked !== undefined && from.address !== locked) {
      this.drops.add('source_not_allowed');
      return false;
    }
    const sender = this.#sender;
    if (sender === undefined || (sender.address === from.address && sender.port === from.port)) {
      return true;
    }
    if (now - sender.lastSeenMs > RELATCH_AFTER_MS) return true;
    this.drops.add('unlatched_source');
    return false;
  }

  #latch(from: RemoteInfo, now: number): void {
    const sender = this.#sender;
    if (sender !== undefined && sender.address === from.address && sender.port === from.port) {
      sender.lastSeenMs = now;
      return;
    }
    this.#sender = { address: from.address, port: from.port, lastSeenMs: now };
  }

  #newStream(ssrc: number, now: number): MediaRouteStream | undefined {
    if (this.config.latch.ssrc && this.#latchedSsrc !== undefined && this.#latchedSsrc !== ssrc) {
      this.drops.add('unknown_ssrc');
      return undefined;
    }
    if (this.streams.size >= MAX_STREAMS) {
      this.drops.add('too_many_streams');
      return undefined;
    }
    this.#latchedSsrc ??= ssrc;
    const stream: MediaRouteStream = {
      quality: new StreamQuality({
        ssrc,
        clockRate: this.config.clockRate,
        kind: this.config.kind,
        startMs: now,
      }),
      lastSeenMs: now,
    };
    this.streams.set(ssrc, stream);
    this.#reporter.start();
    return stream;
  }

  /** RTCP from the sender: SRs are noted, everything goes to every destination. */
  #onSenderRtcp(packet: Buffer, from: RemoteInfo): void {
    const sender = this.#sender;
    if (sender === undefined || sender.address !== from.address) {
      this.drops.add('unlatched_source');
      return;
    }
    let plain = packet;
    if (this.#srtp !== undefined) {
      const result = this.#srtp.receive.unprotectRtcp(packet);
      if (!result.ok) {
        this.drops.add(`srtcp_${result.reason}`);
        return;
      }
      plain = result.packet;
    }
    const parsed = parseRtcpCompound(plain);
    if (!parsed.ok) {
      this.drops.add(`rtcp_${parsed.reason}`);
      return;
    }
    const now = performance.now();
    for (const rtcp of parsed.packets) {
      if (rtcp.type === 'sr') {
        this.streams.get(rtcp.ssrc)?.quality.onSenderReport(middle32(rtcp.ntpTimestamp), now);
      }
    }
    for (const destination of this.destinations) destination.sendRtcp(plain);
    for (const rtcp of parsed.packets) {
      if (rtcp.type === 'bye') for (const ssrc of rtcp.sources) this.streams.delete(ssrc);
    }
  }

  /** RTCP from a destination: its RRs are folded in, everything goes upstream. */
  onFeedback(destination: Destination, packet: Buffer, from: RemoteInfo): void {
    if (from.address !== destination.host) {
      this.drops.add('unlatched_source');
      return;
    }
    const plain = destination.unprotectFeedback(packet);
    if (plain === undefined) return;
    const parsed = parseRtcpCompound(plain);
    if (!parsed.ok) {
      this.drops.add(`rtcp_${parsed.reason}`);
      return;
    }
    const now = performance.now();
    const ntpNow = ntpMiddle32Now();
    for (const rtcp of parsed.packets) {
      if (rtcp.type !== 'rr' && rtcp.type !== 'sr') continue;
      for (const block of rtcp.reports) {
        this.streams
          .get(block.ssrc)
          ?.quality.onReceiverReport(
            `${destination.host}:${destination.rtpPort}`,
            block,
            ntpNow,
            now,
          );
      }
    }
    if (this.#sender === undefined) {
      this.drops.add('no_sender');
      return;
    }
    this.#sendUpstream(plain);
  }

  #sendUpstream(plain: Buffer): void {
    const sender = this.#sender;
    if (sender === undefined) return;
    let out = plain;
    if (this.#srtp !== undefined) {
      const result = this.#srtp.send.protectRtcp(plain);
      if (!result.ok) {
        this.drops.add('protect_failed');
        return;
      }
      out = result.packet;
    }
    const port = this.config.rtcpMux ? sender.port : sender.port + 1;
    (this.ingress.rtcp ?? this.ingress.rtp).send(out, port, sender.address);
  }

  #forgetIdleStreams(): void {
    const cutoff = performance.now() - STREAM_IDLE_MS;
    for (const [ssrc, stream] of this.streams) {
      if (stream.lastSeenMs < cutoff) this.streams.delete(ssrc);
    }
    if (this.streams.size === 0) this.#reporter.stop();
  }

  snapshot(): MediaRouteSnapshot {
    const now = performance.now();
    const rtcpPort = this.ingress.rtcp === undefined ? this.ingress.port : this.ingress.port + 1;
    return {
      name: this.name,
      listen: { rtp: `${this.#host}:${this.ingress.port}`, rtcp: `${this.#host}:${rtcpPort}` },
      srtp: this.#srtp?.profile ?? null,
      sender:
        this.#sender === undefined
          ? null
          : { address: this.#sender.address, port: this.#sender.port },
      packetsIn: this.packetsIn,
      bytesIn: this.bytesIn,
      drops: { ...this.drops.counts },
      destinations: this.destinations.map((destination) => ({
        address: `${destination.host}:${destination.rtpPort}`,
        local: `${this.#host}:${destination.local.port}`,
        srtp: destination.srtp?.profile ?? null,
        packets: destination.packets,
        bytes: destination.bytes,
      })),
      streams: [...this.streams.values()].map((stream) => stream.quality.snapshot(now)),
    };
  }
}
