/**
 * One of the L7 threads, supervised (IsolatedHttpService owns one per
 * proxy.workers): a thread that runs out of its heap, crashes, or whose
 * event loop answers no ping for `unresponsiveMs` (a pathological route
 * regex, a bug) is ended and started again alone, after a jittered backoff,
 * with the config last committed; the other threads keep serving meanwhile
 * (their sockets of each port take every new connection).
 *
 * What the worker needs of its owner (the config in force, how a restarted
 * thread's listeners bind, the workload certificate) it asks through
 * L7WorkerHost, so that a restart always takes the latest.
 */
import type { HttpConfig } from '../../../src/config/index.js';
import { Backoff, type BackoffOptions } from '../../../src/shared/backoff.js';
import { StreammeshError, errorMessage } from '../../../src/shared/errors.js';
import type { Logger, LevelWithSilent } from '../../../src/shared/log.js';
import type { MetricsJson } from '../../../src/shared/metrics.js';
import type { WorkloadCertificates } from '../../../src/shared/identity/index.js';
import type { PortSharing } from '../l7-service.js';
import type { SharedClusterState } from './cluster-state-channel.js';
import type { ListenerAddress, PreparedReply } from './messages.js';
import { L7ThreadEndedError, L7ThreadHandle, type ThreadEnd } from './thread-handle.js';

export interface L7WorkerOptions {
  /** 0..workers-1. */
  readonly index: number;
  /** How many L7 threads the service has. */
  readonly workers: number;
  readonly role: string;
  readonly log: Logger;
  readonly heapMb: number;
  readonly unresponsiveMs: number;
  readonly pingIntervalMs: number;
  readonly restartBackoff: BackoffOptions;
  /** How the service's threads share their cluster state (messages.ts L7ThreadData). */
  readonly clusterState: SharedClusterState | undefined;
}

/** What a worker asks of the service that owns it. */
export interface L7WorkerHost {
  /** The config last committed: a restarted thread is given it. */
  committed(): HttpConfig | undefined;
  /**
   * How a restarted thread's listeners bind (undefined: alone, node's own
   * listen). Asked at each attempt, since the other threads may come and go.
   */
  restartSharing(worker: number): PortSharing | undefined;
  /** A restarted thread put the committed config in force, its listeners bound as `ports`. */
  reapplied(worker: number, sharing: PortSharing | undefined, reply: PreparedReply): void;
  /** The node's workload certificate last given; a restarted thread starts with it. */
  certificates(): WorkloadCertificates | undefined;
  /** Whether a config transaction is prepared and not yet settled: a retry waits for it. */
  transactionOpen(): boolean;
  /** The service is closing: no more restarts. */
  closed(): boolean;
  /**
   * Runs `task` alone among the workers' re-applications: a restarted thread
   * that binds first must have bound before another decides how to bind.
   */
  serialize<T>(task: () => Promise<T>): Promise<T>;
}

/** prepare() after close(): the proxy is stopping. */
export class L7ClosedError extends StreammeshError {
  constructor() {
    super('ERR_HTTP_SERVICE_CLOSED', 'l7: closed, it takes no config');
  }
}

/** A change prepared on one thread. */
export interface WorkerPrepared {
  /** The worker's index. */
  readonly worker: number;
  readonly thread: L7ThreadHandle;
  /** The config prepared (what the thread has in force once it commits). */
  readonly http: HttpConfig;
  readonly reply: PreparedReply;
}

/** A scrape waits this long for the thread's metrics, then answers without them. */
const METRICS_TIMEOUT_MS = 2000;
/** close() waits this long for the thread to close its listeners, then terminates it. */
const CLOSE_TIMEOUT_MS = 5000;
/**
 * A restart puts the committed config in force at most this many times in a
 * row when a newer one is committed under it (one can be, at most: a prepare
 * waits for the restart, so only a transaction prepared before it commits).
 */
const MAX_REAPPLY_ROUNDS = 3;
/** A thread that ran this long was healthy: the restart backoff starts over. */
const HEALTHY_RUN_MS = 60_000;
/** More time a new thread has to answer its first ping (it loads the proxy's modules first). */
const BOOT_GRACE_MS = 10_000;

export class L7Worker {
  readonly index: number;
  /** Restarts so far, by reason. */
  readonly restarts = new Map<ThreadEnd, number>();
  readonly #options: L7WorkerOptions;
  readonly #host: L7WorkerHost;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  /** The thread, once it has the config last committed in force; replaced on restart. */
  #ready: Promise<L7ThreadHandle>;
  #thread: L7ThreadHandle;
  /** Whether the thread has the config last committed in force (false while restarting). */
  #inForce = true;
  /**
   * The config the thread in force has (had put to it) in force: undefined
   * for a new thread. What the committed config is compared with, so that a
   * thread that missed a commit (it ended between prepare and commit, and its
   * successor took the config committed before) is given it after all.
   */
  #applied: HttpConfig | undefined;
  readonly #watchdog: NodeJS.Timeout;

  constructor(options: L7WorkerOptions, host: L7WorkerHost) {
    this.index = options.index;
    this.#options = options;
    this.#host = host;
    this.#log = options.log;
    this.#backoff = new Backoff(options.restartBackoff);
    this.#thread = this.#start();
    this.#ready = Promise.resolve(this.#thread);
    this.#watchdog = setInterval(() => {
      this.#checkResponsive();
    }, options.pingIntervalMs);
    this.#watchdog.unref();
  }

  /** Whether the thread runs (not being restarted). */
  get up(): boolean {
    return !this.#thread.ended;
  }

  /** Whether the thread runs with the config last committed in force. */
  get inForce(): boolean {
    return this.#inForce && !this.#thread.ended;
  }

  /** Share of time the thread's event loop was busy since the last call; undefined while down. */
  utilization(): number | undefined {
    return this.#thread.ended ? undefined : this.#thread.utilization();
  }

  /**
   * Prepares on the thread in force; a thread that ends meanwhile is no
   * refusal of the config, so the prepare is made once more on its
   * successor. Only the thread's own refusal (a port it cannot bind) is one.
   */
  async prepare(http: HttpConfig, sharing: PortSharing | undefined): Promise<WorkerPrepared> {
    for (let attempt = 1; ; attempt += 1) {
      const thread = await this.#ready;
      try {
        const reply = await prepareOn(thread, http, sharing);
        return { worker: this.index, thread, http, reply };
      } catch (error) {
        if (!(error instanceof L7ThreadEndedError) || attempt >= 2 || this.#host.closed()) {
          throw error;
        }
      }
    }
  }

  /**
   * Puts a prepared change in force (the transaction's commit): it cannot
   * fail. Resolves once the thread has done it (or ended), never rejects.
   *
   * The thread prepared may be gone: ended before the commit, its successor
   * may already run with the config committed before (a restart takes the
   * config committed when it starts). Then, or when the commit finds the
   * thread ended, the committed config is put in force on the thread now in
   * place, once its restart is done; the next prepare waits for that (the
   * service's commit waits for every worker's).
   */
  async commit(prepared: WorkerPrepared): Promise<void> {
    // Messages keep their order: whatever the thread is asked after this sees the change in force.
    if (prepared.thread === this.#thread) {
      this.#inForce = true;
      this.#applied = prepared.http;
    }
    try {
      await prepared.thread.call({ kind: 'commit', change: prepared.reply.change });
    } catch (error) {
      // Anything but the thread's end is a bug: its config is as before, caught up below.
      if (!(error instanceof L7ThreadEndedError)) {
        this.#log.error({ err: error }, 'l7 thread: commit failed');
      }
    }
    await this.#catchUp();
  }

  /** Releases a prepared change; a thread that ended holds nothing of it any more. */
  async abort(prepared: WorkerPrepared): Promise<void> {
    await prepared.thread
      .call({ kind: 'abort', change: prepared.reply.change })
      .catch((error: unknown) => {
        if (!(error instanceof L7ThreadEndedError)) throw error;
      });
  }

  /** The bound address of every listener in force on this thread (its successor's if it ends meanwhile). */
  async listeners(): Promise<readonly ListenerAddress[]> {
    for (let attempt = 1; ; attempt += 1) {
      const thread = await this.#ready;
      try {
        return (await thread.call({ kind: 'listeners' })) as readonly ListenerAddress[];
      } catch (error) {
        if (!(error instanceof L7ThreadEndedError) || attempt >= 2 || this.#host.closed()) {
          throw error;
        }
      }
    }
  }

  /** The thread's metrics; [] while it restarts or is too busy to answer. */
  async metrics(): Promise<MetricsJson> {
    const thread = this.#thread;
    if (thread.ended) return [];
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<MetricsJson>((resolve) => {
      timer = setTimeout(() => resolve([]), METRICS_TIMEOUT_MS);
    });
    const answer = thread
      .call({ kind: 'metrics' })
      .then((value) => value as MetricsJson)
      .catch(() => [] as MetricsJson);
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Puts `certificates` in force on the thread (a thread started later gets them from the host). */
  setCertificates(certificates: WorkloadCertificates): void {
    const thread = this.#thread;
    if (thread.ended) return;
    thread.call({ kind: 'certificates', certificates }).catch((error: unknown) => {
      // Ended: its successor starts with them. Anything else (bad PEM) leaves the last set in force.
      if (error instanceof L7ThreadEndedError) return;
      this.#log.error({ err: error }, 'l7 thread: the workload certificate was not taken');
    });
  }

  /** Makes the thread throw an uncaught exception, as a bug would (tests of the supervision). */
  async crash(): Promise<void> {
    const thread = await this.#ready;
    await thread.call({ kind: 'crash' });
  }

  /**
   * Puts the committed config in force on the thread in place if it does not
   * have it (a commit missed it). A thread that is ended or replaced
   * meanwhile is left to its restart, which takes the committed config.
   */
  async #catchUp(): Promise<void> {
    const thread = await this.#ready.catch(() => undefined);
    if (thread === undefined || thread.ended || thread !== this.#thread || this.#host.closed()) {
      return;
    }
    const http = this.#host.committed();
    if (http === undefined || this.#applied === http) return;
    this.#inForce = false;
    this.#log.warn(
      'l7 thread: a commit missed this thread (it ended between prepare and commit); putting the committed config in force',
    );
    // A retry is moot if the thread ends meanwhile (its restart takes over): #retryReapply checks.
    if (!(await this.#reapply(thread, http))) {
      this.#retryReapply(thread, http, new Backoff({ baseMs: 500, maxMs: 30_000 }));
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#watchdog);
    await this.#thread.close(CLOSE_TIMEOUT_MS);
  }

  #start(): L7ThreadHandle {
    const thread = new L7ThreadHandle(
      {
        role: this.#options.role,
        logLevel: this.#log.level as LevelWithSilent,
        tty: process.stdout.isTTY,
        certificates: this.#host.certificates(),
        worker: this.index,
        workers: this.#options.workers,
        clusterState: this.#options.clusterState,
      },
      { heapMb: this.#options.heapMb },
      (end) => {
        this.#ended(thread, end, performance.now() - thread.startedAt);
      },
    );
    this.#thread = thread;
    this.#applied = undefined;
    return thread;
  }

  #ended(thread: L7ThreadHandle, end: ThreadEnd, ranMs: number): void {
    if (this.#host.closed() || end === 'closed' || thread !== this.#thread) return;
    this.#inForce = false;
    this.restarts.set(end, (this.restarts.get(end) ?? 0) + 1);
    if (ranMs >= HEALTHY_RUN_MS) this.#backoff.reset();
    const delayMs = this.#backoff.next();
    this.#log.error(
      { reason: end, err: thread.endError, ranMs: Math.round(ranMs), restartInMs: delayMs },
      'l7 thread ended; restarting it with the config in force (media and the other L7 threads are not affected)',
    );
    this.#ready = this.#restart(delayMs);
    // A prepare waiting on the restart sees its failure; nobody else must.
    this.#ready.catch(() => undefined);
  }

  /**
   * Starts a new thread after `delayMs` and puts the committed config in
   * force on it. A config it cannot put in force (a port of it taken while
   * the thread was down) leaves the thread running without it, so a new
   * config can still be prepared; the committed one is tried again with
   * backoff until it binds or a newer one is committed. A config committed
   * while the restart put the one before in force (a transaction prepared
   * before this thread's end) is put in force next, so that the restart ends
   * with the config last committed.
   */
  async #restart(delayMs: number): Promise<L7ThreadHandle> {
    await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    if (this.#host.closed()) throw new L7ClosedError();
    const thread = this.#start();
    for (let round = 1; ; round += 1) {
      const http = this.#host.committed();
      if (http === undefined) {
        this.#inForce = true;
        return thread;
      }
      if (this.#applied === http) return thread;
      if (!(await this.#reapply(thread, http))) {
        if (thread.ended) throw new L7ThreadEndedError('crashed');
        this.#retryReapply(thread, http, new Backoff({ baseMs: 500, maxMs: 30_000 }));
        return thread;
      }
      // Ended meanwhile: its own restart takes over.
      if (thread !== this.#thread) return thread;
      if (round >= MAX_REAPPLY_ROUNDS) {
        // Not expected (see MAX_REAPPLY_ROUNDS); a commit still catches the thread up.
        if (this.#host.committed() !== http) {
          this.#log.warn(
            'l7 thread: the config changed under each re-application; leaving the last one applied',
          );
        }
        return thread;
      }
    }
  }

  /** Puts `http` in force on `thread`; false (logged) when it cannot. */
  #reapply(thread: L7ThreadHandle, http: HttpConfig): Promise<boolean> {
    return this.#host.serialize(async () => {
      const sharing = this.#host.restartSharing(this.index);
      try {
        const reply = await prepareOn(thread, http, sharing);
        await thread.call({ kind: 'commit', change: reply.change });
        if (thread === this.#thread) {
          this.#applied = http;
          // In force only if nothing newer was committed meanwhile (then a re-application follows).
          this.#inForce = this.#host.committed() === http;
        }
        this.#host.reapplied(this.index, sharing, reply);
        this.#log.info('l7 thread restarted with the config in force');
        return true;
      } catch (error) {
        // Closing ends the thread under its re-application: nothing to report.
        if (this.#host.closed()) return false;
        this.#log.error(
          { err: error },
          `l7 thread restarted without the config in force (retrying): ${errorMessage(error)}`,
        );
        return false;
      }
    });
  }

  #retryReapply(thread: L7ThreadHandle, http: HttpConfig, backoff: Backoff): void {
    const timer = setTimeout(() => {
      // Moot once the thread is replaced, a newer config is committed, or the service closes.
      if (
        this.#host.closed() ||
        thread.ended ||
        this.#thread !== thread ||
        this.#host.committed() !== http
      ) {
        return;
      }
      if (this.#host.transactionOpen()) {
        this.#retryReapply(thread, http, backoff);
        return;
      }
      void this.#reapply(thread, http).then((done) => {
        if (!done) this.#retryReapply(thread, http, backoff);
      });
    }, backoff.next());
    timer.unref();
  }

  #checkResponsive(): void {
    const thread = this.#thread;
    if (thread.ended) return;
    // Any answer (a prepare's as well as a ping's) shows the loop ran: a thread
    // stuck by the first request after its prepare gets no boot grace.
    const silentMs = thread.silentMs();
    // A thread loads its modules before it can answer: on a busy machine that
    // alone took 2-4 s, which is no reason to end it (and start another).
    const allowedMs =
      this.#options.unresponsiveMs + (thread.lastAnswerAt === undefined ? BOOT_GRACE_MS : 0);
    if (silentMs > allowedMs) {
      this.#log.error({ silentMs: Math.round(silentMs) }, 'l7 thread does not answer; ending it');
      void thread.terminate('unresponsive');
      return;
    }
    // Its answer is all the watchdog needs (thread.lastAnswerAt).
    thread.call({ kind: 'ping' }).catch(() => undefined);
  }
}

async function prepareOn(
  thread: L7ThreadHandle,
  http: HttpConfig,
  sharing: PortSharing | undefined,
): Promise<PreparedReply> {
  return (await thread.call({ kind: 'prepare', http, sharing })) as PreparedReply;
}
