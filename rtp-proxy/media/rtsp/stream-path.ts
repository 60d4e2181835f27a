/**
 * One named RTSP path: its source (camera, publisher or demo clip), pulled
 * once, fanned out to every viewer. The packet path, per upstream packet,
 * is the track's packet chain (src/media/packet-chain), then the fan-out:
 *
 *   rtp-check -> count -> measure (the relay's measurement) ->
 *   duplicate-filter -> continuity-rewrite (path SSRC, continuous
 *   seq/timestamp) -> each viewer of the track (held back until a keyframe
 *   when it joined late or fell behind)
 *
 * Up to the rewrite, the order and byte convention of every user of the
 * chain (receiveSteps in src/media/packet-chain).
 *
 * Viewers never see the source come and go: they stay attached while it is
 * down and resume, numbering unbroken, when it returns. A packet that no
 * viewer gets (all wait for a keyframe after a restart) gives its sequence
 * number back (TrackContinuity.withdraw), so that wait leaves no hole.
 *
 * The path keeps its source's last failure (lastError in /streams) past the
 * source's end: an on-demand camera closed by the linger still says why it
 * failed. A DESCRIBE waits only while an attempt is in progress: it is
 * answered with the failure as soon as the source reports one, and at once
 * when the source has failed since it last came up.
 *
 * A running source holds one of the node's stream slots (proxy.maxStreams,
 * StreamSlots): a DESCRIBE, PLAY or RECORD that would start one on a node
 * carrying its maximum is refused with StreamLimitError, and the path's
 * viewers of a stream already running never are.
 */
import type { Logger } from '../../../src/shared/log.js';
import type { Clock } from '../../../src/shared/clock.js';
import { StreammeshError } from '../../../src/shared/errors.js';
import { LastErrorRecord, type LastError } from '../../../src/shared/last-error.js';
import { rtpHeaderLength } from '../../../src/protocol/rtp/index.js';
import { h264StartsKeyframe, h265StartsKeyframe } from '../../../src/protocol/video/index.js';
import type { QualitySnapshot } from '../../../src/media/quality/index.js';
import {
  ContinuityRewrite,
  DropCounters,
  MediaPacket,
  PacketChain,
  PacketCounter,
  TrackStream,
  receiveSteps,
} from '../../../src/media/packet-chain/index.js';
import {
  TrackContinuity,
  type MediaSource,
  type SourceDescription,
  type SourceFailure,
  type SourceListener,
  type SourceTrack,
} from '../../../src/media/source/index.js';
import type { StreamSlot, StreamSlots } from './stream-slots.js';

/** What a path needs from a viewer session. */
export interface PathViewer {
  readonly id: string;
  /** Tracks the viewer set up, by index in the path's description. */
  readonly tracks: ReadonlySet<number>;
  /** Delivers a packet; false when it had to be dropped (a slow TCP viewer). */
  sendRtp(track: number, packet: Buffer): boolean;
  sendRtcp(track: number, packet: Buffer): void;
}

export type PathKind = 'camera' | 'publisher' | 'demo';
export type UpstreamState = 'idle' | 'connecting' | 'up' | 'down';

export type PathDropReason =
  | 'invalid_rtp'
  | 'duplicate'
  | 'late'
  | 'unknown_track'
  | 'waiting_keyframe'
  | 'slow_viewer'
  /** An interceptor threw (a bug): the packet was dropped, the path goes on. */
  | 'interceptor_failed';

export interface PathOptions {
  readonly name: string;
  readonly kind: PathKind;
  /** Builds the source for cameras and the demo; publishers attach themselves. */
  readonly createSource?: () => MediaSource;
  /** Keep the source open with no viewers. */
  readonly alwaysOn: boolean;
  readonly lingerMs: number;
  /** How long DESCRIBE waits for a source to come up. */
  readonly describeTimeoutMs: number;
  readonly log: Logger;
  readonly now: () => number;
  /** The node's stream slots; without them the path starts its source whenever it is asked. */
  readonly streams?: StreamSlots;
}

/**
 * The path cannot serve a viewer now. Its message is the reason, written for
 * the viewer (it goes into the DESCRIBE answer's reason header).
 */
export class PathUnavailableError extends StreammeshError {
  constructor(reason: string, code = 'ERR_PATH_UNAVAILABLE') {
    super(code, reason);
  }
}

/** Starting this path's source would carry more streams than proxy.maxStreams (RTSP 453). */
export class StreamLimitError extends PathUnavailableError {
  constructor(max: number) {
    super(
      `this proxy carries its maximum of ${max} streams (proxy.maxStreams): try another proxy`,
      'ERR_STREAM_LIMIT',
    );
  }
}

export interface TrackChainOptions {
  /** Shared by every track of the path: the path reports one total. */
  readonly counter: PacketCounter;
  readonly stream: TrackStream;
  readonly continuity: TrackContinuity;
  readonly drops: DropCounters<PathDropReason>;
  readonly clock: Clock;
}

/** One track's chain: the common receive steps, then the path's numbering. */
export function trackChain(options: TrackChainOptions): PacketChain {
  return new PacketChain(
    receiveSteps({
      check: { invalidReason: 'invalid_rtp' },
      counter: options.counter,
      streams: options.stream,
      rewrites: [new ContinuityRewrite(options.continuity)],
    }),
    { drops: options.drops, clock: options.clock },
  );
}

interface TrackOutput {
  readonly info: SourceTrack;
  readonly continuity: TrackContinuity;
  /** Keyframe test for the track's codec; undefined: any packet is a clean start. */
  readonly startsKeyframe: ((payload: Uint8Array) => boolean) | undefined;
  /** This source epoch's measurement. */
  readonly stream: TrackStream;
  readonly chain: PacketChain;
}

interface ViewerState {
  readonly viewer: PathViewer;
  /** Per track: held back until the next keyframe. */
  readonly waiting: boolean[];
}

interface Waiter {
  resolve(description: SourceDescription): void;
  reject(error: Error): void;
}

export interface PathSnapshot {
  readonly name: string;
  readonly kind: PathKind;
  readonly upstream: {
    readonly state: UpstreamState;
    readonly transport: 'udp' | 'tcp' | null;
    readonly reconnects: number;
    readonly outages: number;
    readonly outageMs: number;
    /** The source's last failure, kept after the source closed; see src/shared/last-error.ts. */
    readonly lastError: LastError | null;
  };
  readonly viewers: number;
  readonly packetsIn: number;
  readonly bytesIn: number;
  readonly drops: Partial<Record<PathDropReason, number>>;
  readonly tracks: readonly {
    readonly index: number;
    readonly kind: string;
    readonly encoding: string;
    readonly ssrc: number;
    readonly quality: QualitySnapshot | null;
  }[];
}

const KEYFRAME_TESTS: Readonly<Record<string, (payload: Uint8Array) => boolean>> = {
  H264: h264StartsKeyframe,
  H265: h265StartsKeyframe,
};

export class StreamPath {
  readonly name: string;
  readonly kind: PathKind;
  /** Drops of every track's chain and of the fan-out, by reason. */
  readonly drops = new DropCounters<PathDropReason>();
  outages = 0;
  readonly #options: PathOptions;
  readonly #clock: Clock;
  /** Valid RTP from the source, duplicates included: shared by every track's chain. */
  readonly #received = new PacketCounter();
  readonly #packet = new MediaPacket();
  readonly #viewers = new Map<PathViewer, ViewerState>();
  #source: MediaSource | undefined;
  /** The node's stream slot, held while #source is set. */
  #slot: StreamSlot | undefined;
  /** What viewers were told (DESCRIBE); kept across source restarts. */
  #description: SourceDescription | undefined;
  #tracks: TrackOutput[] = [];
  #state: UpstreamState = 'idle';
  #waiters: Waiter[] = [];
  #linger: NodeJS.Timeout | undefined;
  #downSinceMs: number | undefined;
  #outageMs = 0;
  #reconnectsBefore = 0;
  #closed = false;
  /** Wall-clock times: they are shown as ISO dates in /streams. */
  readonly #lastError = new LastErrorRecord();
  /**
   * The current source's latest failed attempt, until it comes up: a DESCRIBE
   * then answers with it at once instead of waiting through the backoff.
   */
  #failure: SourceFailure | undefined;

  constructor(options: PathOptions) {
    this.name = options.name;
    this.kind = options.kind;
    this.#options = options;
    this.#clock = { now: options.now };
    if (options.alwaysOn) this.#startSource(undefined, true);
  }

  get packetsIn(): number {
    return this.#received.packets;
  }

  get bytesIn(): number {
    return this.#received.bytes;
  }

  get state(): UpstreamState {
    return this.#state;
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  get description(): SourceDescription | undefined {
    return this.#description;
  }

  /** Next sequence number and last timestamp of a track, for RTP-Info. */
  position(track: number): { sequence: number; timestamp: number } | undefined {
    const output = this.#tracks[track];
    if (output === undefined) return undefined;
    return { sequence: output.continuity.nextSequence, timestamp: output.continuity.lastTimestamp };
  }

  ssrcOf(track: number): number | undefined {
    return this.#tracks[track]?.continuity.ssrc;
  }

  /**
   * The description viewers get: at once when known, else once the source
   * comes up (starting it when on demand). Rejects with PathUnavailableError
   * when nothing is published, at once when the source has failed since it
   * last came up (it retries in the background), as soon as the attempt in
   * progress fails, or when the source is not up in time.
   */
  describe(): Promise<SourceDescription> {
    if (this.#closed) return Promise.reject(new PathUnavailableError('path removed'));
    const known = this.#description;
    if (known !== undefined) {
      if (!this.#ensureSource()) return Promise.reject(this.#limitError());
      this.#scheduleLinger();
      return Promise.resolve(known);
    }
    if (this.kind === 'publisher' && this.#source === undefined) {
      return Promise.reject(new PathUnavailableError('no one is publishing to this path'));
    }
    if (!this.#ensureSource()) return Promise.reject(this.#limitError());
    const failure = this.#failure;
    if (failure !== undefined) {
      this.#scheduleLinger();
      return Promise.reject(new PathUnavailableError(failure.message));
    }
    return new Promise<SourceDescription>((resolve, reject) => {
      const timeoutMs = this.#options.describeTimeoutMs;
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        this.#scheduleLinger();
        reject(new PathUnavailableError(`the source did not come up within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: (description) => {
          clearTimeout(timer);
          this.#scheduleLinger();
          resolve(description);
        },
        reject: (error) => {
          clearTimeout(timer);
          this.#scheduleLinger();
          reject(error);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /**
   * Attaches a viewer; false (the viewer not attached) when its source is
   * not running and the node carries its maximum of streams.
   */
  addViewer(viewer: PathViewer): boolean {
    if (this.#viewers.has(viewer)) return true;
    if (!this.#ensureSource()) return false;
    // A viewer joining a running stream waits for a keyframe on video tracks.
    const waiting = this.#tracks.map((t) => t.startsKeyframe !== undefined);
    this.#viewers.set(viewer, { viewer, waiting });
    this.#cancelLinger();
    return true;
  }

  /**
   * The viewer lost packets of `track` outside the path (its media worker
   * restarted): it gets nothing more of the track until the next keyframe,
   * so that its decoder restarts clean, as a slow viewer's does.
   */
  restartAtKeyframe(viewer: PathViewer, track: number): void {
    const state = this.#viewers.get(viewer);
    if (state !== undefined && this.#tracks[track]?.startsKeyframe !== undefined) {
      state.waiting[track] = true;
    }
  }

  removeViewer(viewer: PathViewer): void {
    if (!this.#viewers.delete(viewer)) return;
    this.#scheduleLinger();
  }

  /**
   * A publisher's RECORD. Fails when another publisher is on the path; a
   * path whose publisher left keeps its viewers and continues with the next.
   */
  attachPublisher(source: MediaSource): void {
    if (this.kind !== 'publisher') throw new PathUnavailableError('path is not for publishers');
    if (this.#source !== undefined) {
      throw new PathUnavailableError('someone is already publishing to this path');
    }
    if (!this.#startSource(source)) throw this.#limitError();
  }

  snapshot(): PathSnapshot {
    const now = this.#options.now();
    const downFor = this.#downSinceMs === undefined ? 0 : now - this.#downSinceMs;
    return {
      name: this.name,
      kind: this.kind,
      upstream: {
        state: this.#state,
        transport: this.#source?.transport ?? null,
        reconnects: this.reconnects,
        outages: this.outages,
        outageMs: Math.round(this.#outageMs + downFor),
        lastError: this.#lastError.value,
      },
      viewers: this.#viewers.size,
      packetsIn: this.packetsIn,
      bytesIn: this.bytesIn,
      drops: { ...this.drops.counts },
      tracks: this.#tracks.map((t) => ({
        index: t.info.index,
        kind: t.info.kind,
        encoding: t.info.encoding,
        ssrc: t.continuity.ssrc,
        quality: t.stream.quality?.snapshot(now) ?? null,
      })),
    };
  }

  get reconnects(): number {
    return this.#reconnectsBefore + (this.#source?.reconnects ?? 0);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#cancelLinger();
    this.#rejectWaiters('path removed');
    this.#viewers.clear();
    await this.#stopSource();
  }

  /** Starts the source if it should run and does not; false when the node's stream limit refused it. */
  #ensureSource(): boolean {
    if (this.#source === undefined && this.kind !== 'publisher' && !this.#closed) {
      return this.#startSource();
    }
    return true;
  }

  #limitError(): StreamLimitError {
    return new StreamLimitError(this.#options.streams?.max ?? 0);
  }

  /**
   * Starts a source in a stream slot; false when no slot was free (counted
   * by the slots). `forced`: the config starts it (always on), over the limit if need be.
   */
  #startSource(given?: MediaSource, forced = false): boolean {
    const streams = this.#options.streams;
    const slot = streams === undefined ? undefined : forced ? streams.takeAnyway() : streams.take();
    if (streams !== undefined && slot === undefined) return false;
    let source: MediaSource | undefined;
    try {
      source = given ?? this.#options.createSource?.();
    } finally {
      if (source === undefined) slot?.release();
    }
    // Nothing to start (a publisher path waits for its publisher): nothing refused either.
    if (source === undefined) return true;
    this.#source = source;
    this.#slot = slot;
    this.#state = 'connecting';
    this.#failure = undefined;
    const listener: SourceListener = {
      ready: (description) => {
        if (this.#source === source) this.#onReady(description);
      },
      rtp: (track, packet) => {
        if (this.#source === source) this.#onRtp(track, packet);
      },
      rtcp: (track, packet) => {
        if (this.#source === source) this.#onRtcp(track, packet);
      },
      down: (reason) => {
        if (this.#source === source) this.#onDown(reason, source);
      },
      failed: (failure) => {
        if (this.#source === source) this.#onFailed(failure);
      },
    };
    source.start(listener);
    return true;
  }

  /** The source is gone: its stream slot goes back to the node. */
  #releaseSlot(): void {
    this.#slot?.release();
    this.#slot = undefined;
  }

  async #stopSource(): Promise<void> {
    const source = this.#source;
    if (source === undefined) return;
    this.#reconnectsBefore += source.reconnects;
    this.#source = undefined;
    this.#releaseSlot();
    this.#failure = undefined;
    this.#state = 'idle';
    this.#markUp();
    await source.close();
  }

  #onReady(description: SourceDescription): void {
    if (this.#description === undefined) {
      this.#description = description;
      this.#tracks = description.tracks.map((info) => this.#trackOutput(info));
    } else {
      this.#checkSameTracks(description);
    }
    // A new source epoch: fresh measurement, numbering continued.
    for (const track of this.#tracks) {
      track.continuity.restart();
      track.stream.restart();
    }
    // After an outage every viewer's decoder needs a clean start again.
    for (const state of this.#viewers.values()) {
      this.#tracks.forEach((t, i) => (state.waiting[i] = t.startsKeyframe !== undefined));
    }
    this.#state = 'up';
    this.#failure = undefined;
    this.#lastError.succeeded();
    this.#markUp();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.resolve(this.#description);
    this.#options.log.info({ path: this.name, tracks: this.#tracks.length }, 'rtsp source up');
  }

  #trackOutput(info: SourceTrack): TrackOutput {
    const continuity = new TrackContinuity(info.clockRate, randomSsrc());
    const stream = new TrackStream({
      clockRate: info.clockRate,
      kind: info.kind === 'audio' ? 'audio' : 'video',
    });
    const chain = trackChain({
      counter: this.#received,
      stream,
      continuity,
      drops: this.drops,
      clock: this.#clock,
    });
    return {
      info,
      continuity,
      startsKeyframe: info.kind === 'video' ? KEYFRAME_TESTS[info.encoding] : undefined,
      stream,
      chain,
    };
  }

  #checkSameTracks(description: SourceDescription): void {
    const now = description.tracks.map((t) => `${t.encoding}/${t.clockRate}`).join(',');
    const before = this.#tracks.map((t) => `${t.info.encoding}/${t.info.clockRate}`).join(',');
    if (now !== before) {
      this.#options.log.warn(
        { path: this.name, before, now },
        'rtsp source came back with other tracks; viewers keep the first description',
      );
    }
  }

  #onDown(reason: string, source: MediaSource): void {
    if (this.#state === 'up') {
      this.outages += 1;
      this.#downSinceMs = this.#options.now();
    }
    this.#state = 'down';
    this.#options.log.warn({ path: this.name, reason }, 'rtsp source down');
    if (this.kind === 'publisher') {
      // A publisher does not come back by itself: free the path for the next one.
      this.#reconnectsBefore += source.reconnects;
      this.#source = undefined;
      this.#releaseSlot();
      void source.close();
    }
  }

  /** Kept for /streams; viewers waiting for this attempt are told why at once. */
  #onFailed(failure: SourceFailure): void {
    this.#failure = failure;
    this.#lastError.failed(failure.message, failure.code);
    this.#rejectWaiters(failure.message);
  }

  #markUp(): void {
    if (this.#downSinceMs !== undefined) {
      this.#outageMs += this.#options.now() - this.#downSinceMs;
      this.#downSinceMs = undefined;
    }
  }

  #onRtp(track: number, datagram: Buffer): void {
    const output = this.#tracks[track];
    if (output === undefined) {
      this.drops.add('unknown_track');
      return;
    }
    const chained = this.#packet.load(datagram, this.#clock.now());
    if (!output.chain.run(chained)) return;
    const packet = chained.buffer;
    // The rewrite touched the header only: the payload still tells a keyframe.
    const keyframe = this.#startsKeyframe(output, packet);
    let watched = false;
    let delivered = false;
    let lost = false;
    for (const state of this.#viewers.values()) {
      if (!state.viewer.tracks.has(track)) continue;
      watched = true;
      if (state.waiting[track] === true) {
        if (!keyframe) {
          this.drops.add('waiting_keyframe');
          continue;
        }
        state.waiting[track] = false;
      }
      if (state.viewer.sendRtp(track, packet)) {
        delivered = true;
      } else {
        // It lost a packet: let its decoder restart clean at the next keyframe.
        lost = true;
        this.drops.add('slow_viewer');
        if (output.startsKeyframe !== undefined) state.waiting[track] = true;
      }
    }
    // No viewer got it because all wait for a keyframe: the next packet takes
    // its number. A packet a slow viewer lost keeps it: that is a real loss.
    if (watched && !delivered && !lost) output.continuity.withdraw();
  }

  #startsKeyframe(output: TrackOutput, packet: Buffer): boolean {
    const test = output.startsKeyframe;
    if (test === undefined) return true;
    return test(packet.subarray(rtpHeaderLength(packet)));
  }

  #onRtcp(track: number, packet: Buffer): void {
    const report = this.#tracks[track]?.continuity.senderReport(packet);
    if (report === undefined) return;
    for (const state of this.#viewers.values()) {
      if (state.viewer.tracks.has(track)) state.viewer.sendRtcp(track, report);
    }
  }

  #scheduleLinger(): void {
    if (this.#options.alwaysOn || this.kind === 'publisher' || this.#closed) return;
    if (this.#viewers.size > 0 || this.#linger !== undefined) return;
    this.#linger = setTimeout(() => {
      this.#linger = undefined;
      if (this.#viewers.size > 0 || this.#waiters.length > 0) return;
      this.#options.log.info({ path: this.name }, 'rtsp source closed: no viewers');
      this.#description = undefined;
      this.#tracks = [];
      void this.#stopSource();
    }, this.#options.lingerMs);
  }

  #cancelLinger(): void {
    if (this.#linger !== undefined) clearTimeout(this.#linger);
    this.#linger = undefined;
  }

  #rejectWaiters(reason: string): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(new PathUnavailableError(reason));
  }
}

function randomSsrc(): number {
  return Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
}
