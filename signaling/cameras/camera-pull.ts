/**
 * One camera of the RTSP proxy fed into the SFU: a Router on the WorkerPool,
 * a PlainTransport on 127.0.0.1 and a Producer, fed by one RTSP session
 * (TCP-interleaved, so no UDP port on the way in) through a local UDP socket:
 *
 *   RTSP proxy ─$-frames─► CameraSource ─► packet chain ─► dgram 127.0.0.1 ─► PlainTransport ─► Producer
 *
 * The packet chain (src/media/packet-chain) is the RTSP path's:
 * rtp-check -> count -> measure -> duplicate-filter -> payload-type-map ->
 * continuity-rewrite, on an injected clock (receiveSteps: the order of every
 * user of the chain). The payload-type map comes after measure: other
 * payload types on the track's sequence numbers (RED, FEC, CN) are part of
 * the stream, not gaps, though only the H.264 one is fed. The rewrite keeps
 * what mediasoup sees one continuous stream: the
 * Producer's own SSRC and payload type, and sequence numbers and timestamps
 * that continue across reconnects (the proxy keeps its numbering across
 * camera restarts; this covers a restart of the proxy itself). The camera
 * source reconnects by itself, with backoff, for as long as the pull lives;
 * the Producer stays, and viewers just see a pause.
 *
 * Nothing is sent once the pull is closing: a packet handed over after
 * close() is dropped as 'pull_closed', and a send that throws all the same
 * (dgram throws at once on a closed socket) is counted with the send errors.
 */
import type { Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import type { types } from 'mediasoup';
import { errorMessage } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import { PortAllocator, bindUdp, closeQuietly, connectUdp } from '../../src/media/udp/index.js';
import { CameraSource, type CameraTiming } from '../../src/media/rtsp-client/index.js';
import {
  TrackContinuity,
  type MediaSource,
  type SourceDescription,
} from '../../src/media/source/index.js';
import type { QualitySnapshot } from '../../src/media/quality/index.js';
import {
  ContinuityRewrite,
  MediaPacket,
  PacketChain,
  PacketCounter,
  PayloadTypeMap,
  TrackStream,
  monotonicClock,
  receiveSteps,
  type DropCounts,
} from '../../src/media/packet-chain/index.js';
import type { Clock } from '../../src/shared/clock.js';
import type { WorkerPool } from '../sfu/index.js';
import { CameraPullError } from './camera-errors.js';
import { cameraRouterCodecs, cameraRtpParameters } from './camera-codecs.js';
import { H264_CLOCK_RATE, findH264Track, type H264Track } from './h264-track.js';

const LOCALHOST = '127.0.0.1';
/** How often the start-up wait looks at the camera source's state. */
const START_POLL_MS = 50;
export const PULL_CLOSED = 'pull_closed';

export interface CameraChainOptions {
  readonly counter: PacketCounter;
  readonly stream: TrackStream;
  /** Takes the camera's H.264 payload type, gives the Producer's. */
  readonly payloadTypes: PayloadTypeMap;
  readonly continuity: TrackContinuity;
  readonly clock: Clock;
}

/** The pull's chain: the common receive steps, then the Producer's payload type and numbering. */
export function cameraChain(options: CameraChainOptions): PacketChain {
  return new PacketChain(
    receiveSteps({
      check: { invalidReason: 'invalid_rtp' },
      counter: options.counter,
      streams: options.stream,
      rewrites: [options.payloadTypes, new ContinuityRewrite(options.continuity)],
    }),
    { clock: options.clock },
  );
}

export interface CameraPullOptions {
  /** The proxy path, for logs and errors. */
  readonly path: string;
  /** rtsp://[user:password@]proxy/path. */
  readonly url: string;
  /** The same URL without credentials, for messages. */
  readonly safeUrl: string;
  /** The camera's H.264 track, from the DESCRIBE made before the pull. */
  readonly track: H264Track;
  readonly pool: WorkerPool;
  readonly log: Logger;
  readonly timing: CameraTiming;
  /** Bound on the first PLAY. */
  readonly startTimeoutMs: number;
  /** The Router was closed under the pull (its worker died): the pull is dead. */
  readonly onLost: () => void;
  /** Arrival times for measurement and continuity. Default: monotonic ms. */
  readonly clock?: Clock;
  /**
   * The source of the camera's packets. Default: a CameraSource on `url`
   * (TCP-interleaved). A test passes a scripted one to time packets against
   * close().
   */
  readonly createSource?: () => MediaSource;
}

/** Opens a pull and waits for its first PLAY; rejects with a CameraPullError, leaving nothing behind. */
export async function openCameraPull(options: CameraPullOptions): Promise<CameraPull> {
  const { router, workerIndex } = await options.pool.createRouter(
    cameraRouterCodecs(options.track),
    { camera: options.path },
  );
  let socket: Socket | undefined;
  try {
    const portRange = options.pool.workers[workerIndex]?.portRange;
    const transport = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: LOCALHOST, ...(portRange ? { portRange } : {}) },
      rtcpMux: true,
      // The transport takes the address of the first packet it gets as the
      // remote one: ours, a socket of this process.
      comedia: true,
      // The stats name the RTSP proxy as the peer that sends this camera.
      appData: { camera: options.path, peer: 'rtsp-proxy' },
    });
    const ssrc = randomInt(1, 0xffff_ffff);
    let producer: types.Producer;
    try {
      producer = await transport.produce({
        kind: 'video',
        rtpParameters: cameraRtpParameters(options.track, ssrc, `camera/${options.path}`),
        appData: { camera: options.path },
      });
    } catch (error) {
      throw new CameraPullError(
        'ERR_CAMERA_UNSUPPORTED',
        `camera ${options.safeUrl}: the SFU refused its H.264 track (${errorMessage(error)})`,
        { cause: error },
      );
    }
    socket = await bindUdp(LOCALHOST, 0);
    await connectUdp(socket, transport.tuple.localPort, LOCALHOST);
    const pull = new CameraPull(options, router, producer, socket, ssrc);
    await pull.started();
    return pull;
  } catch (error) {
    router.close();
    closeQuietly(socket);
    throw error;
  }
}

export class CameraPull {
  readonly router: types.Router;
  readonly producer: types.Producer;
  readonly #options: CameraPullOptions;
  readonly #log: Logger;
  readonly #socket: Socket;
  readonly #source: MediaSource;
  readonly #continuity: TrackContinuity;
  readonly #clock: Clock;
  readonly #stream = new TrackStream({ clockRate: H264_CLOCK_RATE, kind: 'video' });
  /** Takes the camera's H.264 payload type, gives the Producer's. */
  readonly #payloadTypes: PayloadTypeMap;
  readonly #chain: PacketChain;
  /** Valid RTP from the camera's H.264 track, whatever its payload type. */
  readonly #received = new PacketCounter();
  readonly #packet = new MediaPacket();
  /** Where the camera's H.264 is now: it may move when the camera comes back with another SDP. */
  #track: H264Track | undefined;
  #playing = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #packets = 0;
  #sendErrors = 0;

  constructor(
    options: CameraPullOptions,
    router: types.Router,
    producer: types.Producer,
    socket: Socket,
    ssrc: number,
  ) {
    this.#options = options;
    this.#log = options.log;
    this.router = router;
    this.producer = producer;
    this.#socket = socket;
    this.#track = options.track;
    this.#continuity = new TrackContinuity(H264_CLOCK_RATE, ssrc);
    this.#clock = options.clock ?? monotonicClock;
    this.#payloadTypes = new PayloadTypeMap(options.track.payloadType, options.track.payloadType);
    this.#chain = cameraChain({
      counter: this.#received,
      stream: this.#stream,
      payloadTypes: this.#payloadTypes,
      continuity: this.#continuity,
      clock: this.#clock,
    });
    socket.on('error', (error) => {
      this.#log.warn({ err: error }, 'camera feed socket error');
    });
    // mediasoup's RTCP (receiver reports) comes back here; nothing needs it.
    socket.on('message', () => undefined);
    router.observer.once('close', () => {
      if (this.#closed) return;
      this.#log.warn('camera router closed under the pull (worker died?)');
      void this.close();
      options.onLost();
    });
    this.#source =
      options.createSource?.() ??
      new CameraSource({
        url: options.url,
        transport: 'tcp',
        mediaHost: LOCALHOST,
        // TCP-interleaved only: the source never asks for a UDP port pair,
        // and an allocator with none makes sure of it.
        ports: new PortAllocator({ start: 0, end: 0 }),
        log: options.log,
        timing: options.timing,
      });
    this.#source.start({
      ready: (description) => {
        this.#onReady(description);
      },
      rtp: (track, packet) => {
        this.#onRtp(track, packet);
      },
      rtcp: (track, packet) => {
        this.#onRtcp(track, packet);
      },
      down: (reason) => {
        this.#playing = false;
        this.#log.warn({ reason }, 'camera feed down; reconnecting');
      },
    });
  }

  /** H.264 RTP packets fed to the Producer. */
  get packets(): number {
    return this.#packets;
  }

  /** Valid RTP packets received on the H.264 track (any payload type, duplicates included). */
  get packetsIn(): number {
    return this.#received.packets;
  }

  /** Their bytes as received (the RTP packets, without RTSP framing). */
  get bytesIn(): number {
    return this.#received.bytes;
  }

  /** Sends that failed (the worker gone, the socket closed under a send). */
  get sendErrors(): number {
    return this.#sendErrors;
  }

  /** Packets refused: not RTP, not the H.264 payload type, duplicates, after close. */
  get dropped(): number {
    return this.#chain.drops.total();
  }

  /** Why packets were refused, by reason. */
  get drops(): DropCounts {
    return { ...this.#chain.drops.counts };
  }

  /** Loss, jitter, duplicates of the camera's H.264 as it reaches the pull (this epoch). */
  quality(): QualitySnapshot | null {
    return this.#stream.quality?.snapshot(this.#clock.now()) ?? null;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves at the first PLAY; rejects with the first failure, or after startTimeoutMs. */
  async started(): Promise<void> {
    const deadline = Date.now() + this.#options.startTimeoutMs;
    while (!this.#playing) {
      const failure = this.#source.lastError;
      if (this.#closed || failure !== null || Date.now() >= deadline) {
        await this.close();
        throw new CameraPullError(
          'ERR_CAMERA_PULL',
          `cannot play camera ${this.#options.safeUrl}: ${
            failure ??
            (this.#closed
              ? 'closed while starting'
              : `no PLAY within ${this.#options.startTimeoutMs} ms`)
          }`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, START_POLL_MS));
    }
  }

  /** TEARDOWN of the RTSP session (bounded), then the Router with its transport and Producer. Idempotent. */
  async close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#playing = false;
    this.router.close();
    closeQuietly(this.#socket);
    await this.#source.close();
    this.#log.info(
      { packets: this.#packets, drops: this.drops, sendErrors: this.#sendErrors },
      'camera pull closed',
    );
  }

  #onReady(description: SourceDescription): void {
    // The camera may come back with another SDP; the Producer cannot change,
    // so only the same payload moves on (as the Producer's payload type).
    try {
      const track = findH264Track(description.sdp, this.#options.safeUrl);
      if (track.profileLevelId !== this.#options.track.profileLevelId) {
        this.#log.warn(
          { was: this.#options.track.profileLevelId, now: track.profileLevelId },
          'camera changed its H.264 profile; viewers may fail to decode until they reconnect',
        );
      }
      this.#track = track;
      this.#payloadTypes.from = track.payloadType;
    } catch (error) {
      this.#track = undefined;
      this.#log.warn(
        { reason: errorMessage(error) },
        'camera came back without H.264; feeding nothing',
      );
    }
    this.#continuity.restart();
    this.#stream.restart();
    this.#playing = true;
  }

  #onRtp(trackIndex: number, packet: Buffer): void {
    const track = this.#track;
    // Other tracks (audio) are not fed: see README.md.
    if (track === undefined || trackIndex !== track.index) return;
    if (this.#closed) {
      this.#chain.drops.add(PULL_CLOSED);
      return;
    }
    const chained = this.#packet.load(packet, this.#clock.now());
    if (!this.#chain.run(chained)) return;
    if (this.#send(chained.buffer)) this.#packets += 1;
  }

  #onRtcp(trackIndex: number, packet: Buffer): void {
    if (trackIndex !== this.#track?.index) return;
    // The proxy's Sender Reports, in the Producer's numbering: mediasoup
    // dates the stream by them for its own reports to viewers.
    if (this.#closed) return;
    const report = this.#continuity.senderReport(packet);
    if (report !== undefined) this.#send(report);
  }

  /** False when the send threw at once (closed socket): counted, never into the source. */
  #send(datagram: Buffer): boolean {
    try {
      this.#socket.send(datagram, this.#onSent);
      return true;
    } catch {
      this.#sendErrors += 1;
      return false;
    }
  }

  /** Sends fail only while closing or when the worker is gone: counted, not logged per packet. */
  readonly #onSent = (error: Error | null): void => {
    if (error !== null) this.#sendErrors += 1;
  };
}
