/**
 * The SFU's mediasoup Workers: one C++ worker process per core, each with its
 * own slice of the RTC port range. Conferencing rooms are Routers placed on the
 * least-loaded live worker. A worker that dies is restarted with backoff; the
 * pool reports the Routers it lost ('worker-died', before the restart) so the
 * room layer can re-create its rooms and tell their clients to reconnect.
 *
 * Ownership follows mediasoup's tree: the pool owns the workers, a worker owns
 * its Routers; closing the pool closes them all and restarts nothing.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { Backoff, type BackoffOptions } from '../../src/shared/backoff.js';
import { StreammeshError, errorMessage } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import { splitPortRange, type PortRange } from './port-slices.js';

export type RouterCodecs = readonly types.RouterRtpCodecCapability[];

export interface WorkerPoolOptions {
  /** Number of workers, usually one per core (`os.availableParallelism()`). */
  readonly size: number;
  /** The whole RTC port range; each worker gets a disjoint slice of it. */
  readonly rtcMinPort: number;
  readonly rtcMaxPort: number;
  /** The C++ worker's own log level (default 'warn'). */
  readonly logLevel?: types.WorkerLogLevel;
  readonly log: Logger;
  /**
   * Delay before restarting a dead worker, per slot, growing while it keeps
   * dying (default 500 ms .. 30 s, full jitter).
   */
  readonly restartBackoff?: BackoffOptions;
  /**
   * How long `createRouter` waits for a worker to come back when every worker
   * is dead (default 10 s) before it rejects with ERR_SFU_NO_WORKER.
   */
  readonly placementTimeoutMs?: number;
}

/** A snapshot of one worker slot, for placement decisions, metrics and tests. */
export interface WorkerInfo {
  readonly index: number;
  /** The current process, or the last one while the slot waits for a restart. */
  readonly pid: number;
  readonly alive: boolean;
  /** Routers hosted now. */
  readonly routers: number;
  readonly restarts: number;
  /**
   * This worker's RTC ports. Transports should pass it as
   * `listenInfo.portRange` (mediasoup deprecated the worker-wide setting, which
   * the pool still sets as the default for transports that do not).
   */
  readonly portRange: PortRange;
}

/** CPU time one live worker process has used since it started. */
export interface WorkerCpuTime {
  readonly index: number;
  /** Identifies the process: a restarted slot starts counting from zero again. */
  readonly pid: number;
  /** User + system CPU time in milliseconds (getrusage of the worker). */
  readonly cpuMs: number;
}

export interface PlacedRouter<RouterAppData extends types.AppData = types.AppData> {
  readonly router: types.Router<RouterAppData>;
  readonly workerIndex: number;
}

/** A Router closed by its worker's death; enough to re-create its room elsewhere. */
export interface LostRouter {
  /** Already closed; its `id` and `appData` identify the room. */
  readonly router: types.Router;
  readonly mediaCodecs: RouterCodecs;
}

export interface WorkerPoolEvents {
  /** Emitted before the restart is scheduled; `lostRouters` are closed already. */
  'worker-died': [index: number, error: Error, lostRouters: readonly LostRouter[]];
  'worker-restarted': [index: number, pid: number];
}

export type WorkerPoolErrorCode =
  'ERR_SFU_POOL_OPTIONS' | 'ERR_SFU_WORKER_START' | 'ERR_SFU_NO_WORKER' | 'ERR_SFU_POOL_CLOSED';

export class WorkerPoolError extends StreammeshError {
  declare readonly code: WorkerPoolErrorCode;

  // Not useless: it narrows `code` to this class's codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: WorkerPoolErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * The port slice of the worker each live Router was made on, by Router
 * (weak: a closed Router goes with its last reference). Keyed by object so
 * that several pools in one process (tests, the bench) do not mix.
 */
const slicesOfRouters = new WeakMap<types.Router, PortRange>();

/**
 * The RTC port slice of the worker hosting `router`, when a WorkerPool made
 * it; transports that must stay in a share of it (cascade pipes,
 * port-slices.ts `pipePortRange`) narrow it down.
 */
export function portSliceOf(router: types.Router): PortRange | undefined {
  return slicesOfRouters.get(router);
}

const DEFAULT_BACKOFF = { baseMs: 500, maxMs: 30_000 } as const;
const DEFAULT_PLACEMENT_TIMEOUT_MS = 10_000;
/** A worker that ran this long before dying starts its restarts from the base delay again. */
const STABLE_UPTIME_MS = 60_000;
/** How long close() waits for a worker process to exit before SIGKILL. */
const CLOSE_TIMEOUT_MS = 3_000;

interface RouterEntry {
  readonly router: types.Router;
  readonly mediaCodecs: RouterCodecs;
}

interface Slot {
  readonly index: number;
  readonly portRange: PortRange;
  readonly backoff: Backoff;
  readonly routers: Map<string, RouterEntry>;
  /** undefined while dead and waiting for (or in) a restart. */
  worker: types.Worker | undefined;
  pid: number;
  restarts: number;
  startedAt: number;
  /** createRouter calls in flight on this worker, counted as load. */
  pending: number;
  restartTimer: NodeJS.Timeout | undefined;
  restarting: Promise<void> | undefined;
}

export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly #slots: Slot[];
  readonly #log: Logger;
  readonly #logLevel: types.WorkerLogLevel;
  readonly #placementTimeoutMs: number;
  readonly #waiters = new Set<() => void>();
  #closed = false;

  private constructor(options: WorkerPoolOptions, slices: readonly PortRange[]) {
    super();
    this.#log = options.log.child({ component: 'sfu-worker-pool' });
    this.#logLevel = options.logLevel ?? 'warn';
    this.#placementTimeoutMs = options.placementTimeoutMs ?? DEFAULT_PLACEMENT_TIMEOUT_MS;
    const backoff = options.restartBackoff ?? DEFAULT_BACKOFF;
    this.#slots = slices.map((portRange, index) => ({
      index,
      portRange,
      backoff: new Backoff(backoff),
      routers: new Map(),
      worker: undefined,
      pid: 0,
      restarts: 0,
      startedAt: 0,
      pending: 0,
      restartTimer: undefined,
      restarting: undefined,
    }));
  }

  /** Starts every worker; if one fails to start, closes the others and rejects. */
  static async create(options: WorkerPoolOptions): Promise<WorkerPool> {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new WorkerPoolError(
        'ERR_SFU_POOL_OPTIONS',
        `size must be a positive integer, got ${options.size}`,
      );
    }
    let slices: PortRange[];
    try {
      slices = splitPortRange({ min: options.rtcMinPort, max: options.rtcMaxPort }, options.size);
    } catch (error) {
      throw new WorkerPoolError('ERR_SFU_POOL_OPTIONS', errorMessage(error), { cause: error });
    }
    const pool = new WorkerPool(options, slices);
    const started = await Promise.allSettled(pool.#slots.map((slot) => pool.#start(slot)));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure !== undefined) {
      await pool.close();
      throw new WorkerPoolError(
        'ERR_SFU_WORKER_START',
        `a mediasoup worker failed to start: ${errorMessage(failure.reason)}`,
        { cause: failure.reason },
      );
    }
    pool.#log.info(
      {
        workers: pool.#slots.map((slot) => ({
          index: slot.index,
          pid: slot.pid,
          ports: slot.portRange,
        })),
      },
      'sfu worker pool started',
    );
    return pool;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get workers(): readonly WorkerInfo[] {
    return this.#slots.map((slot) => ({
      index: slot.index,
      pid: slot.pid,
      alive: slot.worker !== undefined,
      routers: slot.routers.size,
      restarts: slot.restarts,
      portRange: slot.portRange,
    }));
  }

  /**
   * The CPU time of each live worker, asked of the workers themselves (a
   * worker that dies meanwhile is left out). The Node process's own CPU figure
   * does not include them, and one busy worker is what saturates first: it is
   * one thread, so a room on it cannot use a second core.
   */
  async resourceUsage(): Promise<WorkerCpuTime[]> {
    const asked = this.#slots.flatMap((slot) => {
      const worker = slot.worker;
      if (worker === undefined) return [];
      return [
        worker.getResourceUsage().then((usage): WorkerCpuTime => ({
          index: slot.index,
          pid: worker.pid,
          cpuMs: usage.ru_utime + usage.ru_stime,
        })),
      ];
    });
    const answers = await Promise.allSettled(asked);
    return answers.flatMap((answer) => (answer.status === 'fulfilled' ? [answer.value] : []));
  }

  /**
   * Creates a Router on the live worker with the fewest Routers (in-flight
   * creations count; ties go to the lowest index). With no live worker it waits
   * up to `placementTimeoutMs` for a restart, then rejects with
   * ERR_SFU_NO_WORKER. A worker that dies during the creation is skipped and the
   * Router placed again.
   */
  async createRouter<RouterAppData extends types.AppData>(
    mediaCodecs: RouterCodecs,
    appData: RouterAppData,
  ): Promise<PlacedRouter<RouterAppData>> {
    const deadline = performance.now() + this.#placementTimeoutMs;
    for (;;) {
      if (this.#closed) throw closedError();
      const slot = this.#leastLoaded();
      if (slot?.worker === undefined) {
        await this.#waitForWorker(deadline - performance.now());
        continue;
      }
      const worker = slot.worker;
      let router: types.Router<RouterAppData>;
      slot.pending += 1;
      try {
        router = await worker.createRouter<RouterAppData>({
          mediaCodecs: [...mediaCodecs],
          appData,
        });
      } catch (error) {
        if (worker.closed && !this.#isClosed()) continue; // died meanwhile: place again
        throw error;
      } finally {
        slot.pending -= 1;
      }
      if (router.closed) continue; // the worker died right after creating it
      const entry: RouterEntry = { router, mediaCodecs: [...mediaCodecs] };
      slot.routers.set(router.id, entry);
      slicesOfRouters.set(router, slot.portRange);
      router.observer.once('close', () => {
        // A Router closed by its owner leaves the count; one closed because its
        // worker died stays listed until 'worker-died' reports it as lost.
        if (!worker.closed) slot.routers.delete(router.id);
      });
      return { router, workerIndex: slot.index };
    }
  }

  /** Closes every worker (and so every Router) and waits for their processes to exit. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const wake of [...this.#waiters]) wake();
    const closing: Promise<void>[] = [];
    for (const slot of this.#slots) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      const worker = slot.worker;
      slot.worker = undefined;
      slot.routers.clear();
      if (worker !== undefined) closing.push(this.#closeWorker(worker));
      if (slot.restarting !== undefined) closing.push(slot.restarting);
    }
    await Promise.all(closing);
    this.#log.info('sfu worker pool closed');
  }

  /**
   * `#closed` read where TypeScript's narrowing would wrongly assume it
   * unchanged (after an await, or after calling listeners).
   */
  #isClosed(): boolean {
    return this.#closed;
  }

  #leastLoaded(): Slot | undefined {
    let best: Slot | undefined;
    for (const slot of this.#slots) {
      if (slot.worker === undefined) continue;
      if (best === undefined || load(slot) < load(best)) best = slot;
    }
    return best;
  }

  async #waitForWorker(timeoutMs: number): Promise<void> {
    if (timeoutMs <= 0) throw this.#noWorkerError();
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(this.#noWorkerError());
      }, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  #noWorkerError(): WorkerPoolError {
    return new WorkerPoolError(
      'ERR_SFU_NO_WORKER',
      `no live mediasoup worker: all ${this.#slots.length} are dead and none restarted within ${this.#placementTimeoutMs} ms`,
    );
  }

  /** Spawns the slot's worker and makes it the slot's current one. */
  async #start(slot: Slot): Promise<void> {
    const worker = await mediasoup.createWorker({
      logLevel: this.#logLevel,
      rtcMinPort: slot.portRange.min,
      rtcMaxPort: slot.portRange.max,
      appData: { poolIndex: slot.index },
    });
    if (this.#closed) {
      await this.#closeWorker(worker);
      return;
    }
    slot.worker = worker;
    slot.pid = worker.pid;
    slot.startedAt = performance.now();
    worker.on('died', (error) => {
      this.#onDied(slot, worker, error);
    });
  }

  #onDied(slot: Slot, worker: types.Worker, error: Error): void {
    if (this.#closed || slot.worker !== worker) return;
    slot.worker = undefined;
    const lost: LostRouter[] = [...slot.routers.values()];
    slot.routers.clear();
    const uptimeMs = performance.now() - slot.startedAt;
    this.#log.error(
      {
        worker: slot.index,
        pid: worker.pid,
        uptimeMs: Math.round(uptimeMs),
        lostRouters: lost.length,
        err: error,
      },
      'mediasoup worker died',
    );
    this.#safeEmit('worker-died', slot.index, error, lost);
    if (this.#isClosed()) return; // a listener closed the pool
    if (uptimeMs >= STABLE_UPTIME_MS) slot.backoff.reset();
    this.#scheduleRestart(slot);
  }

  #scheduleRestart(slot: Slot): void {
    const delayMs = slot.backoff.next();
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      slot.restarting = this.#restart(slot).finally(() => {
        slot.restarting = undefined;
      });
    }, delayMs);
  }

  async #restart(slot: Slot): Promise<void> {
    try {
      await this.#start(slot);
    } catch (error) {
      if (this.#closed) return;
      this.#log.warn({ worker: slot.index, err: error }, 'mediasoup worker restart failed');
      this.#scheduleRestart(slot);
      return;
    }
    if (this.#closed || slot.worker === undefined) return;
    slot.restarts += 1;
    this.#log.info(
      { worker: slot.index, pid: slot.pid, restarts: slot.restarts },
      'mediasoup worker restarted',
    );
    this.#safeEmit('worker-restarted', slot.index, slot.pid);
    for (const wake of [...this.#waiters]) wake();
  }

  /** Closes a worker and waits (bounded) for its process to exit; SIGKILL if it does not. */
  async #closeWorker(worker: types.Worker): Promise<void> {
    const pid = worker.pid;
    const exited = worker.subprocessClosed
      ? Promise.resolve(true)
      : new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => {
            resolve(false);
          }, CLOSE_TIMEOUT_MS);
          worker.once('subprocessclose', () => {
            clearTimeout(timer);
            resolve(true);
          });
        });
    worker.close();
    if (await exited) return;
    this.#log.warn({ pid }, 'mediasoup worker did not exit on close; killing it');
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }

  #safeEmit<K extends keyof WorkerPoolEvents>(event: K, ...args: WorkerPoolEvents[K]): void {
    try {
      // Node's typed emit cannot relate a generic K to its argument tuple.
      (this.emit as (event: K, ...args: WorkerPoolEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.#log.error({ event, err: error }, 'worker pool listener threw');
    }
  }
}

function load(slot: Slot): number {
  return slot.routers.size + slot.pending;
}

function closedError(): WorkerPoolError {
  return new WorkerPoolError('ERR_SFU_POOL_CLOSED', 'the SFU worker pool is closed');
}
