/**
 * A camera path's source at an edge: the stream comes from the camera's
 * owner over a hop instead of from the camera. It binds a UDP socket of its
 * own (one per path, so the socket names the stream), asks the control plane
 * for the stream with that address (a hop request, sent by the node), and
 * takes the hops the control plane then pushes (MEDIA_KEY resources, handed
 * in by offer()): each hop's packets are authenticated and decrypted under
 * its key epochs (HopReceiver), and only the active hop's reach the path.
 *
 * Which hop is active: the one from the session's owner (the placement). A
 * hop takes over at its first keyframe (the first hop too), so viewers
 * switch between two clean pictures with no packet numbered and dropped in
 * between; the old hop's
 * packets flow until then (a drain keeps it alive for the handover) and a
 * hop that is gone stops at once. Each switch is a new source epoch for the
 * path (ready() again): the path keeps its SSRC and numbering for viewers.
 *
 * What arrives from a source that is no hop's sender is dropped and counted;
 * so is what fails authentication or replay (HopReceiver's reasons).
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { HopReceiver, type HopSnapshot } from '../../../src/media/hop/index.js';
import {
  describeTracks,
  type MediaSource,
  type SourceDescription,
  type SourceListener,
  type SourceState,
} from '../../../src/media/source/index.js';
import { bindUdp, closeQuietly } from '../../../src/media/udp/index.js';
import { rtpSsrc } from '../../../src/protocol/rtp/index.js';
import { parseSdp } from '../../../src/protocol/sdp/index.js';
import { formatHostPort, validHostPort, type HostPort } from '../../../src/shared/address.js';
import type { HopBody } from '../../../src/config/index.js';
import { errorMessage } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/log.js';
import { startsCleanly } from './clean-start.js';
import { readDescription, type HopDescription } from './description-message.js';

/** How often each hop's receiver reports go back to its owner (RFC 3550 leaves it to us). */
const REPORT_INTERVAL_MS = 1_000;
/** A hop socket that could not be bound is tried again after this. */
const BIND_RETRY_MS = 1_000;
/** A new owner's hop that shows no keyframe takes over after this anyway. */
const SWITCH_DEADLINE_MS = 3_000;

export type HopSourceDrop =
  'unknown_source' | 'hop_rejected' | 'bad_description' | 'unknown_ssrc' | 'inactive_hop';

export interface HopSourceOptions {
  readonly session: string;
  readonly mediaHost: string;
  /** The node that owns the session now (its placement), or undefined. */
  readonly owner: () => string | undefined;
  /** The source's address is known or gone: the node re-sends its hop requests. */
  readonly requestsChanged: () => void;
  /** Called once, when the source is closed for good. */
  readonly onClose?: () => void;
  readonly log: Logger;
  /** Unix ms. */
  readonly now: () => number;
}

interface HopIn {
  /** The latest body offered, and where its sender is (it moves when the owner restarts). */
  body: HopBody;
  from: HostPort;
  readonly receiver: HopReceiver;
  description:
    { readonly source: SourceDescription; readonly ssrcs: readonly number[] } | undefined;
  /** When its first authenticated RTP packet came: the switch deadline runs from there. */
  firstRtpAtMs: number | undefined;
}

export interface HopSourceSnapshot {
  readonly session: string;
  readonly address: string | null;
  readonly active: string | null;
  readonly hops: readonly (HopSnapshot & { readonly peer: string })[];
  readonly drops: Partial<Record<HopSourceDrop, number>>;
}

export class HopSource implements MediaSource {
  readonly session: string;
  readonly transport = 'udp' as const;
  reconnects = 0;
  readonly #options: HopSourceOptions;
  readonly #hops = new Map<string, HopIn>();
  readonly #drops = new Map<HopSourceDrop, number>();
  #socket: Socket | undefined;
  #address: string | undefined;
  #listener: SourceListener | undefined;
  #active: HopIn | undefined;
  #state: SourceState = 'idle';
  #lastError: string | null = null;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: HopSourceOptions) {
    this.session = options.session;
    this.#options = options;
  }

  get state(): SourceState {
    return this.#state;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /** The host its socket is bound to (proxy.mediaAddress). */
  get host(): string {
    return this.#options.mediaHost;
  }

  /** Where this source receives, once bound: its hop request. */
  get address(): string | undefined {
    return this.#address;
  }

  start(listener: SourceListener): void {
    this.#listener = listener;
    this.#state = 'connecting';
    bindUdp(this.#options.mediaHost, 0).then(
      (socket) => {
        if (this.#closed) {
          closeQuietly(socket);
          return;
        }
        this.#socket = socket;
        const bound = socket.address();
        this.#address = formatHostPort({ host: bound.address, port: bound.port });
        socket.on('message', (datagram, from) => this.#receive(datagram, from));
        socket.on('error', () => undefined);
        this.#timer = setInterval(() => this.#report(), REPORT_INTERVAL_MS);
        this.#options.requestsChanged();
      },
      (error: unknown) => {
        this.#lastError = `cannot bind a hop socket on ${this.#options.mediaHost}: ${errorMessage(error)}`;
        this.#state = 'retrying';
        listener.failed?.({ message: this.#lastError, code: 'ERR_HOP_BIND' });
        // Tried again (ports run out, an address comes up late), until closed.
        this.#timer = setTimeout(() => {
          if (!this.#closed) this.start(listener);
        }, BIND_RETRY_MS);
      },
    );
  }

  /** The hops the control plane pushed for this session and node (all of them, each time). */
  offer(bodies: readonly HopBody[]): void {
    const wanted = new Map(bodies.map((body) => [body.hopId, body]));
    for (const [hopId, hop] of this.#hops) {
      if (!wanted.has(hopId)) this.#drop(hopId, hop);
    }
    for (const body of bodies) {
      const held = this.#hops.get(body.hopId);
      try {
        if (held === undefined) this.#hops.set(body.hopId, this.#newHop(body));
        else this.#renew(held, body);
      } catch (error) {
        // A key that conflicts with one held (a control plane that lost the
        // hop's keys): start the hop over with the keys it sends now.
        this.#count('hop_rejected');
        this.#options.log.warn(
          { hop: body.hopId, reason: errorMessage(error) },
          'hop keys refused; the hop starts over with the new ones',
        );
        if (held !== undefined) this.#drop(body.hopId, held);
        try {
          this.#hops.set(body.hopId, this.#newHop(body));
        } catch {
          // Counted above; the next body of this hop is tried again.
        }
      }
    }
    if (this.#active !== undefined && !this.#hops.has(this.#active.body.hopId)) {
      this.#active = undefined;
    }
  }

  snapshot(): HopSourceSnapshot {
    const now = this.#options.now();
    return {
      session: this.session,
      address: this.#address ?? null,
      active: this.#active?.body.hopId ?? null,
      hops: [...this.#hops.values()].map((hop) => ({
        ...hop.receiver.snapshot(now),
        peer: hop.body.sender,
      })),
      drops: Object.fromEntries(this.#drops),
    };
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#options.onClose?.();
    this.#state = 'closed';
    clearInterval(this.#timer);
    closeQuietly(this.#socket);
    this.#socket = undefined;
    this.#hops.clear();
    this.#active = undefined;
    this.#listener = undefined;
    if (this.#address !== undefined) this.#options.requestsChanged();
    return Promise.resolve();
  }

  #newHop(body: HopBody): HopIn {
    const receiver = new HopReceiver({ hopId: body.hopId, cname: `hop-receiver@${body.receiver}` });
    for (const key of body.keys) receiver.install(key);
    return {
      body,
      from: validHostPort(body.senderAddress),
      receiver,
      description: undefined,
      firstRtpAtMs: undefined,
    };
  }

  /** A newer body of a held hop: its new keys, and its sender's address. Throws as install does. */
  #renew(hop: HopIn, body: HopBody): void {
    const from = validHostPort(body.senderAddress);
    installNewer(hop.receiver, body, this.#options.now());
    hop.from = from;
    hop.body = body;
  }

  #drop(hopId: string, hop: HopIn): void {
    this.#hops.delete(hopId);
    if (this.#active === hop) {
      this.#active = undefined;
      // Lost after having played: the next hop to take over is a reconnect.
      this.reconnects += 1;
      this.#listener?.down(`hop ${hopId} removed`);
      this.#state = 'retrying';
    }
  }

  #receive(datagram: Buffer, from: RemoteInfo): void {
    const hop = this.#hopFrom(from);
    if (hop === undefined) {
      this.#count('unknown_source');
      return;
    }
    const now = this.#options.now();
    const result = hop.receiver.receive(datagram, now);
    if (!result.ok) return;
    if (result.kind === 'rtcp') {
      this.#onRtcp(hop, result.packet);
      return;
    }
    const packet = result.packet;
    const track = hop.description?.ssrcs.indexOf(rtpSsrc(packet)) ?? -1;
    if (track < 0) {
      this.#count('unknown_ssrc');
      return;
    }
    if (hop !== this.#active && !this.#takeOver(hop, track, packet, now)) {
      this.#count('inactive_hop');
      return;
    }
    this.#listener?.rtp(track, packet);
  }

  #onRtcp(hop: HopIn, plain: Buffer): void {
    const description = readDescription(plain);
    if (description === 'invalid') {
      this.#count('bad_description');
      return;
    }
    if (description !== undefined) {
      this.#described(hop, description);
      return;
    }
    if (hop !== this.#active || hop.description === undefined) return;
    // A Sender Report: the path rewrites it for its viewers (by the SSRC it names).
    for (const [track, ssrc] of hop.description.ssrcs.entries()) {
      if (plain.length >= 8 && plain.readUInt32BE(4) === ssrc) {
        this.#listener?.rtcp(track, plain);
        return;
      }
    }
  }

  #described(hop: HopIn, description: HopDescription): void {
    if (
      hop.description !== undefined &&
      hop.description.ssrcs.join() === description.ssrcs.join()
    ) {
      return;
    }
    const sdp = parseSdp(description.sdp);
    if (!sdp.ok) {
      this.#count('bad_description');
      return;
    }
    hop.description = {
      source: { sdp: sdp.sdp, tracks: describeTracks(sdp.sdp) },
      ssrcs: description.ssrcs,
    };
  }

  /**
   * Whether `hop` takes over at this packet: when none is active or it
   * comes from the owner, at a keyframe, or at any packet once its stream
   * has run SWITCH_DEADLINE_MS without one.
   */
  #takeOver(hop: HopIn, track: number, packet: Buffer, now: number): boolean {
    const active = this.#active;
    const description = hop.description;
    if (description === undefined) return false;
    if (active !== undefined && hop.body.sender !== this.#options.owner()) return false;
    // Viewers restart at a keyframe after a switch: a packet before it would
    // only be numbered and dropped at the path (a hole in their numbering).
    const clean = startsCleanly(description.source, track, packet);
    hop.firstRtpAtMs ??= now;
    if (!clean && now - hop.firstRtpAtMs < SWITCH_DEADLINE_MS) return false;
    if (active !== undefined) this.reconnects += 1;
    this.#active = hop;
    this.#state = 'playing';
    this.#options.log.info({ session: this.session, hop: hop.body.hopId }, 'hop active');
    this.#listener?.ready(description.source);
    return true;
  }

  #hopFrom(from: RemoteInfo): HopIn | undefined {
    for (const hop of this.#hops.values()) {
      if (hop.from.port === from.port && hop.from.host === from.address) return hop;
    }
    return undefined;
  }

  #report(): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    const now = this.#options.now();
    for (const hop of this.#hops.values()) {
      const report = hop.receiver.receiverReport(now);
      if (report !== undefined) socket.send(report, hop.from.port, hop.from.host);
    }
  }

  #count(reason: HopSourceDrop): void {
    this.#drops.set(reason, (this.#drops.get(reason) ?? 0) + 1);
  }
}

/**
 * Installs the body's keys the receiver does not hold yet. A key older than
 * the receiver's current epoch that it no longer holds was retired there
 * already (bodies carry the epoch before the one in use for a while): it is
 * skipped. Throws for a key that conflicts with one held (another key for
 * a held epoch).
 */
function installNewer(receiver: HopReceiver, body: HopBody, now: number): void {
  const { current, previous } = receiver.snapshot(now).epochs;
  for (const key of body.keys) {
    if (current !== null && key.epoch < current && key.epoch !== previous) continue;
    receiver.install(key);
  }
}
