/**
 * The relay sharded over worker threads (issue 20, point 3): N media
 * workers, each with its own MediaRouteTable and sockets, carrying the routes
 * whose names hash to it (shard.ts). To the node it is the one relay
 * participant of the config transaction, as the in-thread table was:
 *
 *   - prepare: every worker prepares its share of the candidate (its routes,
 *     its slice of proxy.rtpPorts) at once. If any refuses, the others abort
 *     and the relay refuses with the refusal as the worker gave it (a route
 *     it cannot build still NACKs naming that MEDIA_ROUTE; several workers'
 *     refusals are joined). commit: every worker commits. All or none.
 *   - supervision: a worker that crashes, runs out of memory, or whose event
 *     loop answers no ping for `unresponsiveMs` is ended and replaced after
 *     a short jittered backoff, and its successor is given the share of the
 *     config last committed (a commit that finds its worker dead, its
 *     prepare made on the predecessor, is re-applied on the successor: what
 *     a worker has in force is tracked, not assumed), with the keys its
 *     predecessor generated for `srtp.key: generate` legs whose route is
 *     unchanged (peers hold those keys). The successor is a spare worker started ahead
 *     of need: a new thread takes about a second to load the relay's
 *     modules on a busy machine, a loaded spare a few ms to build the
 *     routes (the spare is replaced in the background). Its routes come back: routes with a fixed listen address on
 *     the same port, routes on port 0 on whatever pair its allocator gives
 *     them now (usually another one: senders must learn it again, from
 *     /streams or the control plane). Packets that reach a route while its
 *     worker is down are lost; the other workers' routes never notice.
 *   - readers: snapshots, keys and per-worker figures are asked of the
 *     workers on demand (a worker that does not answer in 2 s is left out
 *     and named: snapshotReport/keysReport, the missingWorkers of /streams
 *     and /keys) (GET /streams is always fresh; concurrent askers
 *     share one round), and once a second for the synchronous readers (the
 *     load and stats reports) through latestRoutes().
 *
 * RTSP UDP viewer tracks (rtp-proxy/media/rtsp/viewer-spread.ts) use the
 * workers too, over a channel per thread (followViewerChannels): the RTSP
 * service is told each worker's channel, that a worker ended, and its
 * successor's channel, and opens the worker's viewer tracks again on it.
 *
 * A route keeps its worker while it runs; it cannot change worker, since
 * its sockets belong to its worker's thread. One consequence: a config that
 * gives a fixed listen address to a route of another name (a rename, or a
 * port moved between routes) in one step is refused when the two names land
 * on different workers (the old route holds the port until commit, and a
 * socket cannot be handed across threads); two pushes (remove, then add) do it.
 */
import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import type { MeshConfig, RefusedResource, ResourceType } from '../../../src/config/index.js';
import { Backoff, type BackoffOptions } from '../../../src/shared/backoff.js';
import { StreammeshError, errorMessage } from '../../../src/shared/errors.js';
import type { LevelWithSilent, Logger } from '../../../src/shared/log.js';
import type { ConfigParticipant, PreparedChange } from '../../../src/node-agent/index.js';
import { generatedKeyId } from '../relay/index.js';
import type { ViewerThreads } from '../rtsp/index.js';
import type { MediaWorkerData, WorkerSnapshot } from './messages.js';
import type {
  KeysReport,
  MediaRouteKeys,
  MediaRouteSnapshot,
  RelayView,
  RoutesReport,
} from './relay-view.js';
import { type PortRange, workerOfRoute, workerShare } from './shard.js';
import {
  MediaWorkerEndedError,
  MediaWorkerHandle,
  MediaWorkerRefusal,
  type WorkerEnd,
} from './worker-handle.js';

export interface MediaWorkersOptions {
  /** How many workers (proxy.workers, read at start); fixed for the life of the process. */
  readonly workers: number;
  readonly log: Logger;
  readonly udpIo: MeshConfig['proxy']['udpIo'];
  readonly srtpEngine: MeshConfig['proxy']['srtpEngine'];
  /** A worker that answers no ping for this long is restarted (default 5 s). */
  readonly unresponsiveMs?: number;
  /** How often each worker is pinged (default 1 s). */
  readonly pingIntervalMs?: number;
  /** Delay before a restart (default: full jitter, 50 ms doubling to 10 s). */
  readonly restartBackoff?: BackoffOptions;
  /** How often latestRoutes() is refreshed (default 1 s). */
  readonly refreshIntervalMs?: number;
  /** Keep a loaded spare worker to replace a dead one at once (default true). */
  readonly spare?: boolean;
}

/** prepare() after close(): the proxy is stopping (the code the in-thread relay used). */
export class RelayClosedError extends StreammeshError {
  constructor() {
    super('ERR_RELAY_CLOSED', 'relay: closed, it takes no config');
  }
}

/** One worker's state, for metrics and tests. */
export interface MediaWorkerState {
  readonly index: number;
  readonly up: boolean;
  /** Restarts by reason since the process started. */
  readonly restarts: ReadonlyMap<WorkerEnd, number>;
  /**
   * The last restart's gap, ms: from the worker's end to its routes in
   * force again on its successor (null before any restart, or while one is
   * under way).
   */
  readonly lastGapMs: number | null;
}

/** A worker's answer to a snapshot or keys request may take this long, then it is left out. */
const ASK_TIMEOUT_MS = 2000;
/** close() waits this long for a worker to close its routes, then terminates it. */
const CLOSE_TIMEOUT_MS = 5000;
/** A new worker must answer its first ping within this (or unresponsiveMs if longer). */
const START_TIMEOUT_MS = 30_000;
/** A worker that ran this long was healthy: its restart backoff starts over. */
const HEALTHY_RUN_MS = 60_000;

/** A worker's share of a config, and proxy.rtpPorts as configured (the share holds its slice). */
interface Share {
  readonly config: MeshConfig;
  readonly wholePorts: PortRange;
}

/**
 * One at a time per worker thread: a node transaction (from its prepare to
 * its commit or abort) or a re-apply of the committed share (a restart, a
 * retry, a commit that missed its worker). A worker holds one prepared
 * change at a time and refuses a second prepare.
 */
class ThreadLock {
  #tail: Promise<void> = Promise.resolve();

  /** Resolves once the lock is held, with its release (idempotent). */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const before = this.#tail;
    this.#tail = before.then(() => held);
    return before.then(() => release);
  }
}

interface Slot {
  readonly index: number;
  readonly backoff: Backoff;
  thread: MediaWorkerHandle;
  /** The worker once its share of the config last committed is in force; replaced on restart. */
  ready: Promise<MediaWorkerHandle>;
  /** The share last committed: what a restarted worker is given. */
  committed: Share | undefined;
  /** The share a worker thread has actually put in force (the commit answered). */
  applied: { readonly thread: MediaWorkerHandle; readonly share: Share } | undefined;
  /**
   * The keys of `srtp.key: generate` legs as the worker generated them, and
   * the share they were generated for: a successor is given them back for
   * the routes whose config is unchanged (peers hold those keys).
   */
  generated: { readonly share: Share; readonly keys: readonly MediaRouteKeys[] } | undefined;
  /** When its thread was installed in the slot (a spare may have been started before). */
  startedAt: number;
  endedAt: number | undefined;
  lastGapMs: number | null;
  readonly restarts: Map<WorkerEnd, number>;
}

export class MediaWorkers implements ConfigParticipant, RelayView, ViewerThreads {
  readonly name = 'relay';
  readonly resourceTypes: readonly ResourceType[] = ['MEDIA_ROUTE', 'MESH_SETTINGS'];
  readonly #options: MediaWorkersOptions;
  readonly #log: Logger;
  readonly #slots: Slot[] = [];
  readonly #timers: NodeJS.Timeout[] = [];
  /** Route name -> its place in the config last committed: snapshots keep config order. */
  #order = new Map<string, number>();
  #latest: readonly WorkerSnapshot[] = [];
  /** The round of snapshot requests under way, and the commit count when it was sent. */
  #asking:
    { readonly commits: number; readonly answers: Promise<readonly WorkerSnapshot[]> } | undefined;
  /** Commits so far: a round sent before the last commit is not shared (it may predate it). */
  #commits = 0;
  /** A worker with its modules loaded and no routes, ready to replace one that died. */
  #spare: MediaWorkerHandle | undefined;
  #closed = false;
  readonly #locks = new WeakMap<MediaWorkerHandle, ThreadLock>();
  /** Told each worker thread's viewer channel (the RTSP service's ViewerSpread). */
  readonly #viewerListeners: ((worker: number, port: MessagePort | undefined) => void)[] = [];

  constructor(options: MediaWorkersOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new RangeError(`media workers: ${options.workers} is not a worker count`);
    }
    this.#options = options;
    this.#log = options.log.child({ component: 'media-workers' });
    for (let index = 0; index < options.workers; index += 1) {
      const slot: Slot = {
        index,
        backoff: new Backoff(options.restartBackoff ?? { baseMs: 50, maxMs: 10_000 }),
        thread: undefined as unknown as MediaWorkerHandle,
        ready: undefined as unknown as Promise<MediaWorkerHandle>,
        committed: undefined,
        applied: undefined,
        generated: undefined,
        startedAt: 0,
        endedAt: undefined,
        lastGapMs: null,
        restarts: new Map(),
      };
      this.#start(slot);
      slot.ready = Promise.resolve(slot.thread);
      this.#slots.push(slot);
    }
    // The spare loads once the workers have (three threads loading the relay's
    // modules at once would delay the first config on a small machine).
    void Promise.all(this.#slots.map((slot) => slot.thread.call({ kind: 'ping' }))).then(
      () => {
        this.#startSpare();
      },
      () => undefined,
    );
    const watchdog = setInterval(() => {
      for (const slot of this.#slots) this.#checkResponsive(slot);
    }, options.pingIntervalMs ?? 1000);
    const refresh = setInterval(() => {
      this.workerSnapshots().catch(() => undefined);
    }, options.refreshIntervalMs ?? 1000);
    for (const timer of [watchdog, refresh]) {
      timer.unref();
      this.#timers.push(timer);
    }
  }

  get workers(): number {
    return this.#slots.length;
  }

  /**
   * RTSP viewer tracks (ViewerThreads): `listener` gets each worker's
   * viewer channel now, undefined as soon as a worker's end is seen, and
   * the channel of the thread that takes its place once it is installed.
   */
  followViewerChannels(listener: (worker: number, port: MessagePort | undefined) => void): void {
    this.#viewerListeners.push(listener);
    for (const slot of this.#slots) {
      if (!slot.thread.ended) listener(slot.index, slot.thread.viewers);
    }
  }

  /** The worker that carries (or would carry) the route named `name`. */
  workerOf(route: string): number {
    return workerOfRoute(route, this.#slots.length);
  }

  prepare(candidate: MeshConfig): Promise<PreparedChange> {
    if (this.#closed) return Promise.reject(new RelayClosedError());
    return this.#prepare(candidate);
  }

  /** Prepares and commits at once, for callers outside a node's transaction (tests, tools). */
  async apply(config: MeshConfig): Promise<void> {
    (await this.prepare(config)).commit();
  }

  async #prepare(candidate: MeshConfig): Promise<PreparedChange> {
    const workers = this.#slots.length;
    const wholePorts = candidate.proxy.rtpPorts;
    const results = await Promise.allSettled(
      this.#slots.map((slot) =>
        this.#prepareOnReady(slot, {
          config: workerShare(candidate, slot.index, workers),
          wholePorts: { start: wholePorts.start, end: wholePorts.end },
        }),
      ),
    );
    const prepared = results.flatMap((result) =>
      result.status === 'fulfilled' ? [result.value] : [],
    );
    const refusals = results.flatMap((result) =>
      result.status === 'rejected' ? [result.reason as unknown] : [],
    );
    if (refusals.length > 0) {
      // None of it goes in force: the workers that could take their share let it go.
      await Promise.all(prepared.map((change) => abortOn(change)));
      throw joinRefusals(refusals);
    }
    const order = new Map(candidate.proxy.routes.map((route, index) => [route.name, index]));
    return {
      commit: () => {
        this.#commits += 1;
        this.#order = order;
        for (const { slot, thread, change, share, release } of prepared) {
          // In force from here: a worker restarted from now on starts with it.
          slot.committed = share;
          if (thread.ended || thread !== slot.thread) {
            // Prepared on a worker that died since: its successor may have
            // put the share before in force already; it is given this one.
            release();
            this.#ensureCommitted(slot);
            continue;
          }
          thread
            .call({ kind: 'commit', change })
            .then(
              (keys) => {
                this.#applied(slot, thread, share, keys);
              },
              (error: unknown) => {
                // Ended: its successor is given slot.committed (by the restart, or here).
                if (error instanceof MediaWorkerEndedError) {
                  this.#ensureCommitted(slot);
                  return;
                }
                this.#log.error({ err: error, worker: slot.index }, 'media worker: commit failed');
              },
            )
            .finally(release);
        }
      },
      abort: async () => {
        await Promise.all(prepared.map((change) => abortOn(change)));
      },
    };
  }

  /**
   * Prepares `share` on the worker in force; a worker that ends meanwhile is
   * no refusal of the config, so the prepare is made once more on its
   * successor (which has the committed config in force by then).
   */
  async #prepareOnReady(slot: Slot, share: Share): Promise<PreparedOnWorker> {
    for (let attempt = 1; ; attempt += 1) {
      const thread = await slot.ready;
      // Held until this transaction commits or aborts (released here if it fails).
      const release = await this.#lockOf(thread).acquire();
      try {
        if (thread.ended) throw new MediaWorkerEndedError(slot.index, 'crashed');
        const change = (await thread.call({
          kind: 'prepare',
          config: share.config,
          wholePorts: share.wholePorts,
        })) as number;
        return { slot, thread, change, share, release };
      } catch (error) {
        release();
        if (!(error instanceof MediaWorkerEndedError) || attempt >= 3 || this.#closed) throw error;
      }
    }
  }

  #lockOf(thread: MediaWorkerHandle): ThreadLock {
    let lock = this.#locks.get(thread);
    if (lock === undefined) {
      lock = new ThreadLock();
      this.#locks.set(thread, lock);
    }
    return lock;
  }

  /**
   * Puts slot.committed in force on the slot's worker once it is ready,
   * unless it is already: a commit that found its worker dead must not
   * leave the successor with the share before (which its restart applied).
   */
  #ensureCommitted(slot: Slot): void {
    if (this.#closed) return;
    const chained = slot.ready.then(async (thread) => {
      if (thread.ended || this.#closed) return thread;
      const release = await this.#lockOf(thread).acquire();
      let done: boolean;
      try {
        done = await this.#reapplyCommitted(slot, thread);
      } finally {
        release();
      }
      // Refused (a fixed port taken meanwhile): tried again later (moot if the worker ended).
      if (!done) this.#retryReapply(slot, thread, new Backoff({ baseMs: 500, maxMs: 30_000 }));
      return thread;
    });
    slot.ready = chained;
    // A prepare waiting on it sees its failure; nobody else must.
    chained.catch(() => undefined);
  }

  /** `share` is in force on `thread`: what a restart compares with, and its generated keys. */
  #applied(slot: Slot, thread: MediaWorkerHandle, share: Share, keys: unknown): void {
    slot.applied = { thread, share };
    if (Array.isArray(keys)) slot.generated = { share, keys: keys as MediaRouteKeys[] };
    if (slot.thread === thread && slot.endedAt !== undefined) this.#back(slot);
  }

  /** The keys generated for `share`'s legs before, for the routes whose config has not changed. */
  #presetKeys(slot: Slot, share: Share): Record<string, string> {
    const presets: Record<string, string> = {};
    const generated = slot.generated;
    if (generated === undefined) return presets;
    const configOf = (config: MeshConfig, route: string): string | undefined => {
      const found = config.proxy.routes.find((candidate) => candidate.name === route);
      return found === undefined ? undefined : JSON.stringify(found);
    };
    for (const key of generated.keys) {
      const now = configOf(share.config, key.route);
      if (now === undefined || now !== configOf(generated.share.config, key.route)) continue;
      presets[generatedKeyId(key.route, key.leg)] = key.inline;
    }
    return presets;
  }

  /** Every route, fresh from the workers, in config order. */
  async snapshot(): Promise<readonly MediaRouteSnapshot[]> {
    return this.#routesOf(await this.workerSnapshots());
  }

  /** The routes as last fetched (at most about refreshIntervalMs old), in config order. */
  latestRoutes(): readonly MediaRouteSnapshot[] {
    return this.#routesOf(this.#latest);
  }

  /** Each live worker's routes and totals; a worker restarting or too busy to answer is left out. */
  workerSnapshots(): Promise<readonly WorkerSnapshot[]> {
    if (this.#asking?.commits === this.#commits) return this.#asking.answers;
    const round = {
      commits: this.#commits,
      answers: this.#askAll().finally(() => {
        if (this.#asking === round) this.#asking = undefined;
      }),
    };
    this.#asking = round;
    return round.answers;
  }

  /** The latest per-worker snapshots (for metrics that must not wait). */
  latestWorkerSnapshots(): readonly WorkerSnapshot[] {
    return this.#latest;
  }

  /** Every route, and the workers that did not answer (restarting, or too busy): their routes are missing. */
  async snapshotReport(): Promise<RoutesReport> {
    const snapshots = await this.workerSnapshots();
    const answered = new Set(snapshots.map((snapshot) => snapshot.worker));
    return {
      routes: this.#routesOf(snapshots),
      missingWorkers: this.#slots.flatMap((slot) => (answered.has(slot.index) ? [] : [slot.index])),
    };
  }

  async keys(): Promise<readonly MediaRouteKeys[]> {
    return (await this.keysReport()).keys;
  }

  /** Every leg's key, and the workers that did not answer (their legs are missing). */
  async keysReport(): Promise<KeysReport> {
    const answers = await Promise.all(
      this.#slots.map(
        async (slot) => (await ask(slot.thread, 'keys')) as readonly MediaRouteKeys[] | undefined,
      ),
    );
    return {
      keys: answers
        .flatMap((answer) => answer ?? [])
        .sort((a, b) => this.#rank(a.route) - this.#rank(b.route)),
      missingWorkers: answers.flatMap((answer, index) => (answer === undefined ? [index] : [])),
    };
  }

  /** Each worker's state (metrics, tests). */
  states(): readonly MediaWorkerState[] {
    return this.#slots.map((slot) => ({
      index: slot.index,
      up: !slot.thread.ended && slot.endedAt === undefined,
      restarts: new Map(slot.restarts),
      lastGapMs: slot.lastGapMs,
    }));
  }

  /** Share of time each worker's event loop was busy since the previous call (0-1); null when down. */
  utilization(): readonly (number | null)[] {
    return this.#slots.map((slot) => (slot.thread.ended ? null : slot.thread.utilization()));
  }

  /** Resolves once every worker has its share of the config last committed in force. */
  async settled(): Promise<void> {
    await Promise.all(this.#slots.map((slot) => slot.ready));
  }

  /**
   * Test hooks, not reachable from the network: make worker `index` crash
   * (an uncaught exception on its next turn, as a bug would) or block its
   * event loop for `ms` (as a runaway loop would; the watchdog ends it once
   * it is silent for unresponsiveMs).
   */
  readonly testHooks = {
    crash: async (index: number): Promise<void> => {
      await this.#slotAt(index)
        .thread.call({ kind: 'crash' })
        .catch(() => undefined);
    },
    hang: (index: number, ms: number): void => {
      this.#slotAt(index)
        .thread.call({ kind: 'hang', ms })
        .catch(() => undefined);
    },
  };

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    const spare = this.#spare;
    this.#spare = undefined;
    await spare?.terminate('closed');
    await Promise.all(this.#slots.map(({ thread }) => thread.close(CLOSE_TIMEOUT_MS)));
  }

  #slotAt(index: number): Slot {
    const slot = this.#slots[index];
    if (slot === undefined) throw new RangeError(`no media worker ${index}`);
    return slot;
  }

  #rank(route: string): number {
    return this.#order.get(route) ?? Number.MAX_SAFE_INTEGER;
  }

  #routesOf(snapshots: readonly WorkerSnapshot[]): readonly MediaRouteSnapshot[] {
    return snapshots
      .flatMap((snapshot) => snapshot.routes)
      .sort((a, b) => this.#rank(a.name) - this.#rank(b.name));
  }

  async #askAll(): Promise<readonly WorkerSnapshot[]> {
    const answers = await Promise.all(
      this.#slots.map(async (slot): Promise<WorkerSnapshot | undefined> => {
        const value = (await ask(slot.thread, 'snapshot')) as
          Omit<WorkerSnapshot, 'worker'> | undefined;
        return value === undefined ? undefined : { worker: slot.index, ...value };
      }),
    );
    const snapshots = answers.flatMap((answer) => (answer === undefined ? [] : [answer]));
    this.#latest = snapshots;
    return snapshots;
  }

  #workerData(index: number | null): Omit<MediaWorkerData, 'viewers'> {
    return {
      index,
      workers: this.#options.workers,
      logLevel: this.#options.log.level as LevelWithSilent,
      tty: process.stdout.isTTY,
      udpIo: this.#options.udpIo,
      srtpEngine: this.#options.srtpEngine,
    };
  }

  #start(slot: Slot): MediaWorkerHandle {
    const thread = new MediaWorkerHandle(this.#workerData(slot.index), (end) => {
      this.#ended(slot, thread, end);
    });
    this.#installed(slot, thread);
    return thread;
  }

  #installed(slot: Slot, thread: MediaWorkerHandle): void {
    slot.thread = thread;
    slot.startedAt = performance.now();
    for (const listener of this.#viewerListeners) listener(slot.index, thread.viewers);
  }

  /** Starts a spare unless there is one (or spares are off, or the relay is closing). */
  #startSpare(): void {
    if (this.#closed || this.#spare !== undefined || this.#options.spare === false) return;
    const spare = new MediaWorkerHandle(this.#workerData(null), (end) => {
      if (this.#spare !== spare) return;
      this.#spare = undefined;
      if (this.#closed || end === 'closed') return;
      this.#log.error(
        { reason: end, err: spare.endError },
        'spare media worker ended; starting another',
      );
      setTimeout(() => this.#startSpare(), 1000).unref();
    });
    this.#spare = spare;
  }

  /** The spare, made worker `slot.index`; undefined when there is none that can be. */
  async #takeSpare(slot: Slot): Promise<MediaWorkerHandle | undefined> {
    const spare = this.#spare;
    if (spare === undefined || spare.ended) return undefined;
    this.#spare = undefined;
    try {
      // Installed once adopted: a spare that dies adopting is no restart of the slot.
      await spare.adopt(slot.index, (end) => {
        this.#ended(slot, spare, end);
      });
    } catch {
      // Not this worker, and no spare any more either: it must not linger.
      await spare.terminate('closed');
      return undefined;
    }
    this.#installed(slot, spare);
    return spare;
  }

  #ended(slot: Slot, thread: MediaWorkerHandle, end: WorkerEnd): void {
    if (this.#closed || end === 'closed' || thread !== slot.thread) return;
    const now = performance.now();
    slot.restarts.set(end, (slot.restarts.get(end) ?? 0) + 1);
    // Its RTSP viewer tracks are gone with it until the successor opens them again.
    for (const listener of this.#viewerListeners) listener(slot.index, undefined);
    if (now - slot.startedAt >= HEALTHY_RUN_MS) slot.backoff.reset();
    slot.endedAt = now;
    slot.lastGapMs = null;
    const delayMs = slot.backoff.next();
    this.#log.error(
      { worker: slot.index, reason: end, err: thread.endError, restartInMs: delayMs },
      'media worker ended; restarting it with its routes (the other workers are not affected)',
    );
    slot.ready = this.#restart(slot, delayMs);
    // A prepare waiting on the restart sees its failure; nobody else must.
    slot.ready.catch(() => undefined);
  }

  /**
   * Starts a new worker after `delayMs` and puts the committed share in force
   * on it. A share it cannot put in force (a fixed port taken while the
   * worker was down) leaves the worker running without it, so a new config
   * can still be prepared; the share is tried again with backoff until it
   * binds or a newer one is committed.
   */
  async #restart(slot: Slot, delayMs: number): Promise<MediaWorkerHandle> {
    await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    if (this.#closed) throw new RelayClosedError();
    const thread = (await this.#takeSpare(slot)) ?? this.#start(slot);
    const release = await this.#lockOf(thread).acquire();
    let reapplied: boolean;
    try {
      reapplied = await this.#reapplyCommitted(slot, thread);
    } finally {
      release();
    }
    // Loaded while nothing else waits on it: the next restart is as quick as this one.
    this.#startSpare();
    if (!reapplied) {
      if (thread.ended) throw new MediaWorkerEndedError(slot.index, 'crashed');
      this.#retryReapply(slot, thread, new Backoff({ baseMs: 500, maxMs: 30_000 }));
      return thread;
    }
    if (slot.endedAt !== undefined) this.#back(slot);
    return thread;
  }

  /**
   * Puts slot.committed in force on `thread` unless it is already (call with
   * the slot's lock held); false when the worker refused it or ended.
   */
  async #reapplyCommitted(slot: Slot, thread: MediaWorkerHandle): Promise<boolean> {
    // A commit made meanwhile (its prepare on the dead worker) changes
    // slot.committed: applied again until they agree (bounded: a commit
    // also chains its own re-apply).
    for (let pass = 0; pass < 3; pass += 1) {
      const share = slot.committed;
      if (share === undefined) return true;
      if (slot.applied?.thread === thread && slot.applied.share === share) return true;
      if (!(await this.#reapply(slot, thread, share))) return false;
    }
    return slot.applied?.thread === thread && slot.applied.share === slot.committed;
  }

  /** The worker's routes are in force again: the gap closes. */
  #back(slot: Slot): void {
    if (slot.endedAt !== undefined) slot.lastGapMs = performance.now() - slot.endedAt;
    slot.endedAt = undefined;
    this.#log.info(
      { worker: slot.index, gapMs: slot.lastGapMs === null ? null : Math.round(slot.lastGapMs) },
      'media worker restarted with its routes',
    );
  }

  async #reapply(slot: Slot, thread: MediaWorkerHandle, share: Share): Promise<boolean> {
    try {
      const change = (await thread.call({
        kind: 'prepare',
        config: share.config,
        wholePorts: share.wholePorts,
        generatedKeys: this.#presetKeys(slot, share),
      })) as number;
      this.#applied(slot, thread, share, await thread.call({ kind: 'commit', change }));
      return true;
    } catch (error) {
      this.#log.error(
        { err: error, worker: slot.index },
        `media worker restarted without its routes (retrying): ${errorMessage(error)}`,
      );
      return false;
    }
  }

  #retryReapply(slot: Slot, thread: MediaWorkerHandle, backoff: Backoff): void {
    const timer = setTimeout(() => {
      void (async () => {
        // Moot once the worker is replaced or the relay closes.
        const moot = (): boolean => this.#closed || thread.ended || slot.thread !== thread;
        if (moot()) return;
        // After any transaction under way (its prepare would be refused next to this one).
        const release = await this.#lockOf(thread).acquire();
        let done: boolean;
        try {
          if (moot()) return;
          done = await this.#reapplyCommitted(slot, thread);
        } finally {
          release();
        }
        if (!done) this.#retryReapply(slot, thread, backoff);
        else if (slot.endedAt !== undefined) this.#back(slot);
      })();
    }, backoff.next());
    timer.unref();
  }

  #checkResponsive(slot: Slot): void {
    const thread = slot.thread;
    if (thread.ended) return;
    // Any answer (a prepare's as well as a ping's) shows the loop ran.
    const silentMs = thread.silentMs(slot.startedAt);
    // A new thread loads the relay's modules before it can answer (about a
    // second on a busy machine): it is given longer for its first answer.
    const unresponsiveMs = this.#options.unresponsiveMs ?? 5000;
    const booted = thread.lastAnswerAt !== undefined;
    if (silentMs > (booted ? unresponsiveMs : Math.max(unresponsiveMs, START_TIMEOUT_MS))) {
      this.#log.error(
        { worker: slot.index, silentMs: Math.round(silentMs) },
        'media worker does not answer; ending it',
      );
      void thread.terminate('unresponsive');
      return;
    }
    // Its answer is all the watchdog needs (thread.lastAnswerAt).
    thread.call({ kind: 'ping' }).catch(() => undefined);
  }
}

/** `kind` asked of `thread`, or undefined when it is down or does not answer in ASK_TIMEOUT_MS. */
async function ask(thread: MediaWorkerHandle, kind: 'snapshot' | 'keys'): Promise<unknown> {
  if (thread.ended) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ASK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([thread.call({ kind }).catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A worker's share prepared for a node transaction, holding the worker's lock. */
interface PreparedOnWorker {
  readonly slot: Slot;
  readonly thread: MediaWorkerHandle;
  readonly change: number;
  readonly share: Share;
  readonly release: () => void;
}

async function abortOn(prepared: PreparedOnWorker): Promise<void> {
  // A worker that ended holds nothing of the change any more; an abort only frees.
  try {
    await prepared.thread.call({ kind: 'abort', change: prepared.change }).catch(() => undefined);
  } finally {
    prepared.release();
  }
}

/**
 * The relay's refusal from its workers' refusals: one is thrown as it is;
 * several become one naming every resource refused, so the NACK names every
 * route that cannot be built, whichever worker found it.
 */
function joinRefusals(refusals: readonly unknown[]): unknown {
  // A worker's refusal names what it refused; another's end (no refusal of
  // the config) must not hide that, whichever came first.
  const named = refusals.filter((refusal) => refusal instanceof MediaWorkerRefusal);
  const [first] = named;
  if (refusals.length === 1 || first === undefined) return refusals[0];
  const resources: RefusedResource[] = [];
  for (const refusal of named) resources.push(...(refusal.resources ?? []));
  return new MediaWorkerRefusal(first.worker, {
    code: first.code,
    // Workers refusing for one reason (a setting every share carries) say it once.
    message: [...new Set(refusals.map(errorMessage))].join('; '),
    ...(resources.length === 0 ? {} : { resources }),
  });
}
