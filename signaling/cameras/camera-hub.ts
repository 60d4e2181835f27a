/**
 * The cameras of the RTSP proxy as WHEP viewers watch them: the first
 * acquire(path) pulls rtsp://<proxy>/<path> into the SFU (camera-pull.ts);
 * every further one, concurrent first ones included, shares that Router and
 * Producer, so a camera watched by 50 browsers is one RTSP session here and
 * one upstream (the proxy shares its camera session among its viewers too).
 *
 * Each acquire returns a lease; when the last lease is released the pull is
 * kept `lingerMs` (a viewer reloading its page finds it warm), then its RTSP
 * session is torn down and its Router closed.
 *
 *   acquire ─► [describing] ─404─► undefined
 *                   │ ok
 *                   ▼
 *              [starting] ─failed─► rejects every waiting acquire (next one retries)
 *                   │ PLAY
 *                   ▼
 *   acquire ─► [pulled, n viewers] ─last release─► [lingering] ─lingerMs─► closed
 *                   ▲                                   │
 *                   └────────────── acquire ────────────┘
 */
import type { types } from 'mediasoup';
import type { Registry } from 'prom-client';
import { RTSP_PATH_NAME } from '../../src/config/index.js';
import { errorMessage } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import {
  DEFAULT_CAMERA_TIMING,
  parseCameraUrl,
  type CameraTiming,
} from '../../src/media/rtsp-client/index.js';
import type { CameraSources, WatchableSource, WorkerPool } from '../sfu/index.js';
import { CameraPullError } from './camera-errors.js';
import { registerCameraMetrics, type CameraMetrics, type PulledCamera } from './camera-metrics.js';
import { openCameraPull, type CameraPull } from './camera-pull.js';
import { describeCamera } from './describe-camera.js';
import { findH264Track } from './h264-track.js';

/** Longest path name the RTSP proxy accepts (its config schema's bound). */
const MAX_PATH_LENGTH = 128;

export interface CameraHubOptions {
  readonly pool: WorkerPool;
  /** Base URL of the RTSP proxy (`rtsp://[user:password@]host:port`); a path is appended. */
  readonly rtspBase: string;
  /** How long a camera stays pulled after its last viewer leaves. */
  readonly lingerMs: number;
  readonly log: Logger;
  /** Where the camera metrics are registered; none when omitted. */
  readonly metrics?: Registry;
  /** RTSP client timings (connect/answer timeout, stall detection, reconnect backoff). */
  readonly timing?: Partial<CameraTiming>;
}

/** One path's pull and who holds it. */
class Entry {
  readonly path: string;
  /** Settles once: the pull playing, undefined for an unknown path, or the failure. */
  opening: Promise<CameraPull | undefined> = Promise.resolve(undefined);
  /** Set when `opening` resolves with a pull. */
  pull: CameraPull | undefined;
  /** Acquires holding or waiting for this pull. */
  viewers = 0;
  lingerTimer: NodeJS.Timeout | undefined;
  /** Out of the table for good: failed, unknown, lost, lingered out, or the hub closed. */
  gone = false;

  constructor(path: string) {
    this.path = path;
  }
}

export class CameraHub implements CameraSources {
  readonly #options: CameraHubOptions;
  readonly #log: Logger;
  readonly #timing: CameraTiming;
  readonly #base: string;
  readonly #entries = new Map<string, Entry>();
  readonly #closings = new Set<Promise<void>>();
  readonly #metrics: CameraMetrics | undefined;
  readonly #baseError: CameraPullError | undefined;
  #closed = false;

  /**
   * A base URL that is not rtsp:// (rtsps:// is not supported) does not stop
   * the node: it is logged, and every acquire rejects with the reason.
   */
  constructor(options: CameraHubOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'camera-hub' });
    this.#timing = { ...DEFAULT_CAMERA_TIMING, ...options.timing };
    try {
      parseCameraUrl(options.rtspBase);
    } catch (error) {
      this.#baseError = new CameraPullError(
        'ERR_CAMERA_PULL',
        `signaling.cameras.rtsp: ${errorMessage(error)}`,
        { cause: error },
      );
      this.#log.error({ reason: this.#baseError.message }, 'cameras cannot be pulled');
    }
    this.#base = options.rtspBase.replace(/\/+$/, '');
    this.#metrics =
      options.metrics === undefined
        ? undefined
        : registerCameraMetrics(options.metrics, () => this.pulled());
  }

  /** Cameras pulled now, with their viewers (a lingering one has none). */
  pulled(): PulledCamera[] {
    const cameras: PulledCamera[] = [];
    for (const entry of this.#entries.values()) {
      const pull = entry.pull;
      if (pull !== undefined) {
        cameras.push({ path: entry.path, viewers: entry.viewers, packets: pull.packets });
      }
    }
    return cameras;
  }

  /**
   * The camera at `path` of the RTSP proxy; undefined when the proxy has no
   * such path (or `path` cannot be one). Rejects with a CameraPullError when
   * the camera cannot be pulled; the next acquire tries again.
   */
  async acquire(path: string): Promise<WatchableSource | undefined> {
    if (this.#closed) throw hubClosed();
    if (this.#baseError !== undefined) throw this.#baseError;
    if (path.length > MAX_PATH_LENGTH || !RTSP_PATH_NAME.test(path)) return undefined;
    let entry = this.#entries.get(path);
    if (entry === undefined) {
      entry = this.#open(path);
      this.#entries.set(path, entry);
    }
    entry.viewers += 1;
    clearTimeout(entry.lingerTimer);
    entry.lingerTimer = undefined;
    let pull: CameraPull | undefined;
    try {
      pull = await entry.opening;
    } catch (error) {
      this.#drop(entry);
      throw error;
    }
    if (pull === undefined) {
      this.#drop(entry);
      return undefined;
    }
    if (entry.gone) {
      // Closed (hub closed, worker died) between its PLAY and this caller waking up.
      if (this.#isClosed()) throw hubClosed();
      throw new CameraPullError('ERR_CAMERA_LOST', `camera ${path}: the pull was lost`);
    }
    return this.#lease(entry, pull);
  }

  /** Closes every pull (TEARDOWN of each RTSP session) and refuses further acquires. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const entries = [...this.#entries.values()];
    for (const entry of entries) this.#drop(entry);
    // A pull still opening is closed as it settles (see #open).
    await Promise.allSettled(entries.map(async (entry) => entry.opening));
    await Promise.all([...this.#closings]);
  }

  /** `#closed` read where TypeScript's narrowing would wrongly assume it unchanged (after an await). */
  #isClosed(): boolean {
    return this.#closed;
  }

  #open(path: string): Entry {
    const entry = new Entry(path);
    entry.opening = this.#pull(entry);
    entry.opening.then(
      (pull) => {
        entry.pull = pull;
        // Dropped while opening (the hub closed): nobody will release it.
        if (pull !== undefined && entry.gone) this.#closePull(pull);
      },
      () => undefined,
    );
    return entry;
  }

  /** DESCRIBE, then the pull; failures of the RTSP exchange become CameraPullErrors. */
  async #pull(entry: Entry): Promise<CameraPull | undefined> {
    const url = `${this.#base}/${entry.path}`;
    const address = parseCameraUrl(url);
    const log = this.#log.child({ camera: entry.path });
    const failed = (error: unknown): CameraPullError =>
      error instanceof CameraPullError
        ? error
        : new CameraPullError(
            'ERR_CAMERA_PULL',
            `cannot pull camera ${address.url}: ${errorMessage(error)}`,
            { cause: error },
          );
    try {
      const sdp = await describeCamera(address, this.#timing.connectTimeoutMs, log);
      if (sdp === undefined) {
        log.info('no such path on the RTSP proxy');
        return undefined;
      }
      const track = findH264Track(sdp, address.url);
      const pull = await openCameraPull({
        path: entry.path,
        url,
        safeUrl: address.url,
        track,
        pool: this.#options.pool,
        log,
        timing: this.#timing,
        // Connect and four requests, each bounded by the answer timeout.
        startTimeoutMs: 5 * this.#timing.connectTimeoutMs,
        onLost: () => {
          this.#drop(entry);
        },
      });
      log.info({ profileLevelId: track.profileLevelId, router: pull.router.id }, 'camera pulled');
      return pull;
    } catch (error) {
      const reason = failed(error);
      log.warn({ code: reason.code, reason: reason.message }, 'camera pull failed');
      throw reason;
    }
  }

  #lease(entry: Entry, pull: CameraPull): WatchableSource {
    let released = false;
    const producers: readonly types.Producer[] = [pull.producer];
    return {
      router: pull.router,
      producers,
      release: () => {
        if (released) return;
        released = true;
        this.#release(entry);
      },
    };
  }

  #release(entry: Entry): void {
    entry.viewers -= 1;
    if (entry.viewers > 0 || entry.gone) return;
    entry.lingerTimer = setTimeout(() => {
      entry.lingerTimer = undefined;
      this.#log.info({ camera: entry.path }, 'camera unwatched for lingerMs; closing its pull');
      this.#drop(entry);
    }, this.#options.lingerMs);
    // A lingering camera must not keep the process alive.
    entry.lingerTimer.unref();
  }

  /** Takes the entry out for good and closes its pull, if any. Idempotent. */
  #drop(entry: Entry): void {
    if (entry.gone) return;
    entry.gone = true;
    clearTimeout(entry.lingerTimer);
    entry.lingerTimer = undefined;
    if (this.#entries.get(entry.path) === entry) this.#entries.delete(entry.path);
    this.#metrics?.forget(entry.path);
    if (entry.pull !== undefined) this.#closePull(entry.pull);
  }

  #closePull(pull: CameraPull): void {
    const closing = pull.close().finally(() => {
      this.#closings.delete(closing);
    });
    this.#closings.add(closing);
  }
}

function hubClosed(): CameraPullError {
  return new CameraPullError('ERR_CAMERA_HUB_CLOSED', 'the camera hub is closed');
}
