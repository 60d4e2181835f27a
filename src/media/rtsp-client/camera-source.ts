/**
 * A camera pulled over RTSP for the RTSP proxy: one upstream session that
 * the path fans out to its viewers. It runs sessions (camera-session.ts) one
 * after the other until closed: when one fails it says `down`, waits a
 * full-jitter backoff and starts the next.
 *
 *   idle ─start()─► connecting ─ready─► playing ─lost─► retrying ─ready─► playing …
 *                        └──failed──► retrying ◄─failed─┘          any ─close()─► closed
 *
 * Transport 'auto' tries UDP first and switches to TCP-interleaved for good
 * (for this source) when the camera refuses UDP (461) or no RTP arrives over
 * UDP soon after PLAY: the usual symptom of a NAT or firewall on the way.
 */
import { Backoff } from '../../shared/backoff.js';
import { StreammeshError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { PortAllocator } from '../udp/index.js';
import type { MediaSource, SourceListener, SourceState } from '../source/index.js';
import { CameraUdpUnusableError, type CameraError } from './camera-errors.js';
import { asCameraError, CameraSession } from './camera-session.js';
import { DEFAULT_CAMERA_TIMING, STABLE_SESSION_MS, type CameraTiming } from './camera-timing.js';
import { parseCameraUrl, type CameraAddress } from './camera-url.js';

export type { CameraTiming } from './camera-timing.js';

export interface CameraSourceOptions {
  /** rtsp://[user:password@]host[:port]/path; credentials percent-decoded. */
  readonly url: string;
  readonly transport: 'auto' | 'udp' | 'tcp';
  /** Local address the UDP media sockets bind to. */
  readonly mediaHost: string;
  /** UDP port pairs for RTP/RTCP from the camera. */
  readonly ports: PortAllocator;
  readonly log: Logger;
  readonly timing?: Partial<CameraTiming>;
}

/** start() called twice, or after close(). */
export class CameraSourceStateError extends StreammeshError {
  constructor(message: string) {
    super('ERR_INVALID_STATE', message);
  }
}

export class CameraSource implements MediaSource {
  readonly #options: CameraSourceOptions;
  readonly #address: CameraAddress;
  readonly #timing: CameraTiming;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  #listener: SourceListener | undefined;
  #state: SourceState = 'idle';
  #session: CameraSession | undefined;
  /** ready() was emitted and down() not yet: the two alternate strictly. */
  #announced = false;
  #reconnects = 0;
  #lastError: string | null = null;
  /** The failure last logged at warn level. */
  #lastWarned: string | undefined;
  /** Set once 'auto' found that UDP does not work with this camera. */
  #udpUnusable = false;
  #foreignPackets = 0;
  #listenerErrors = 0;
  #loop: Promise<void> = Promise.resolve();
  #closed = false;
  #closing: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #wakeRetry: (() => void) | undefined;

  /** Throws CameraProtocolError when `url` is not an rtsp:// URL with a host. */
  constructor(options: CameraSourceOptions) {
    this.#options = options;
    this.#address = parseCameraUrl(options.url);
    this.#timing = { ...DEFAULT_CAMERA_TIMING, ...options.timing };
    this.#backoff = new Backoff({
      baseMs: this.#timing.backoffBaseMs,
      maxMs: this.#timing.backoffMaxMs,
    });
    // The URL without credentials: passwords never reach a log line.
    this.#log = options.log.child({ camera: this.#address.url });
  }

  get state(): SourceState {
    return this.#state;
  }

  get transport(): 'udp' | 'tcp' | null {
    return this.#state === 'playing' ? (this.#session?.transport ?? null) : null;
  }

  get reconnects(): number {
    return this.#reconnects;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /** UDP datagrams dropped because they did not come from the camera. */
  get foreignPackets(): number {
    return this.#foreignPackets + (this.#session?.foreignPackets ?? 0);
  }

  start(listener: SourceListener): void {
    if (this.#closed) throw new CameraSourceStateError('the camera source is closed');
    if (this.#listener !== undefined) throw new CameraSourceStateError('start() called twice');
    this.#listener = listener;
    this.#state = 'connecting';
    this.#loop = this.#run();
  }

  async close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#state = 'closed';
    clearTimeout(this.#retryTimer);
    this.#wakeRetry?.();
    try {
      await this.#session?.close();
      await this.#loop;
    } catch (error) {
      // #run never rejects; this is only a guard for close()'s promise.
      this.#log.error({ err: error }, 'camera source close failed');
    }
  }

  /** Sessions one after the other until close(). Never rejects. */
  async #run(): Promise<void> {
    while (!this.#closed) {
      let outcome: { reason: CameraError; playedMs: number };
      try {
        outcome = await this.#runSession();
      } catch (error) {
        outcome = { reason: asCameraError(error), playedMs: 0 };
      }
      // close() may have run while the session did (TypeScript's narrowing
      // of the loop condition does not see that, hence the method).
      if (this.#isClosed()) return;
      const { reason, playedMs } = outcome;
      this.#lastError = reason.message;
      if (reason instanceof CameraUdpUnusableError && !this.#udpUnusable) {
        // Not a failure of the camera: redo the session over TCP right away.
        // (The fallback fires only before the first RTP packet, so nothing
        // was announced; #lose keeps ready/down alternating if it ever was.)
        this.#udpUnusable = true;
        if (this.#announced) this.#lose(reason);
        this.#log.info({ reason: reason.message }, 'camera: UDP unusable, switching to TCP');
        continue;
      }
      this.#lose(reason);
      // Reset only after a session proved stable: resetting at PLAY would let
      // a camera that accepts PLAY and then drops us at once be hammered at
      // the base delay forever.
      if (playedMs >= STABLE_SESSION_MS) this.#backoff.reset();
      await this.#sleep(this.#backoff.next());
    }
  }

  /** One session from connect to its end; resolves with why it ended. */
  async #runSession(): Promise<{ reason: CameraError; playedMs: number }> {
    const probingUdp = this.#options.transport === 'auto' && !this.#udpUnusable;
    const transport = this.#options.transport === 'udp' || probingUdp ? 'udp' : 'tcp';
    const session: CameraSession = new CameraSession({
      address: this.#address,
      transport,
      probingUdp,
      mediaHost: this.#options.mediaHost,
      ports: this.#options.ports,
      timing: this.#timing,
      log: this.#log,
      sink: {
        rtp: (track, packet) => {
          if (!this.#admit(session)) return;
          try {
            this.#listener?.rtp(track, packet);
          } catch (error) {
            this.#listenerThrew(error);
          }
        },
        rtcp: (track, packet) => {
          // RTCP alone does not prove the media path: it waits for the first RTP.
          if (!this.#announced || !this.#admit(session)) return;
          try {
            this.#listener?.rtcp(track, packet);
          } catch (error) {
            this.#listenerThrew(error);
          }
        },
      },
    });
    this.#session = session;
    let reason: CameraError;
    let playingSince: number | undefined;
    try {
      await session.establish();
      playingSince = Date.now();
      // Unproven UDP announces at its first packet instead (#admit), so a
      // fallback to TCP never shows the path a ready/down flap.
      if (!probingUdp && !this.#closed) this.#announce(session);
      reason = await session.ended;
    } catch (error) {
      reason = asCameraError(error);
    }
    await session.close();
    this.#foreignPackets += session.foreignPackets;
    this.#session = undefined;
    return { reason, playedMs: playingSince === undefined ? 0 : Date.now() - playingSince };
  }

  /** Whether a packet of `session` goes to the listener; announces the source at the first one. */
  #admit(session: CameraSession): boolean {
    if (this.#closed || session !== this.#session) return false;
    if (!this.#announced) this.#announce(session);
    return true;
  }

  #announce(session: CameraSession): void {
    const description = session.description;
    if (description === undefined || this.#announced) return;
    this.#announced = true;
    this.#state = 'playing';
    this.#log.info({ transport: session.transport }, 'camera playing');
    this.#emit((listener) => listener.ready(description));
  }

  #lose(reason: CameraError): void {
    this.#state = 'retrying';
    // Every failed attempt: a viewer waiting on a camera that never came up
    // is told why now, not at its DESCRIBE timeout.
    this.#emit((listener) => listener.failed?.({ message: reason.message, code: reason.code }));
    if (!this.#announced) {
      // A camera that stays away fails every attempt the same way: say it
      // once, not every backoff period.
      const level = reason.message === this.#lastWarned ? 'debug' : 'warn';
      this.#lastWarned = reason.message;
      this.#log[level]({ reason: reason.message }, 'camera session failed');
      return;
    }
    this.#lastWarned = reason.message;
    this.#announced = false;
    this.#reconnects += 1;
    this.#log.warn({ reason: reason.message }, 'camera lost');
    this.#emit((listener) => listener.down(reason.message));
  }

  async #sleep(ms: number): Promise<void> {
    if (this.#closed) return;
    await new Promise<void>((resolve) => {
      this.#wakeRetry = resolve;
      this.#retryTimer = setTimeout(resolve, ms);
    });
    this.#wakeRetry = undefined;
    this.#retryTimer = undefined;
  }

  #isClosed(): boolean {
    return this.#closed;
  }

  /** Calls the listener about a state change; its exceptions are logged, never let into the session's machinery. */
  #emit(call: (listener: SourceListener) => void): void {
    const listener = this.#listener;
    if (listener === undefined || this.#closed) return;
    try {
      call(listener);
    } catch (error) {
      this.#listenerThrew(error);
    }
  }

  /** Logged at the first and then every 10000th time: a listener broken per packet must not flood the log. */
  #listenerThrew(error: unknown): void {
    this.#listenerErrors += 1;
    if (this.#listenerErrors % 10_000 === 1) {
      this.#log.error({ err: error, times: this.#listenerErrors }, 'camera source listener threw');
    }
  }
}
