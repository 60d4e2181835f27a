/**
 * The rtp-proxy's L7 proxy on a thread of its own (issue 14: an HTTP/2
 * flood delayed relayed RTP by seconds when both shared one event loop).
 * To the node it is one participant of the config transaction like the
 * in-thread HttpService it runs; here it
 *
 *   - forwards prepare/commit/abort of the candidate's proxy.http to the
 *     thread (the thread binds the listeners, so a taken port still NACKs
 *     naming its HTTP_LISTENER);
 *   - supervises the thread: one that runs out of its heap, crashes, or
 *     whose event loop answers no ping for `unresponsiveMs` (a pathological
 *     route regex, a bug) is ended and started again with the config last
 *     committed, after a jittered backoff; the relay and RTSP proxy on the
 *     main thread never notice;
 *   - exposes the thread's metrics with the node's (/metrics), and its own:
 *     restarts by reason, whether the thread is up, its event-loop load;
 *   - hands the thread the node's workload certificate and each renewal
 *     (useIdentity), for mesh mutual TLS; a restarted thread starts with
 *     the latest.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HttpConfig, MeshConfig, ResourceType } from '../../../src/config/index.js';
import { Backoff, type BackoffOptions } from '../../../src/shared/backoff.js';
import { StreammeshError, errorMessage } from '../../../src/shared/errors.js';
import type { Logger, LevelWithSilent } from '../../../src/shared/log.js';
import type { MetricsJson } from '../../../src/shared/metrics.js';
import type {
  WorkloadCertificates,
  WorkloadIdentitySource,
} from '../../../src/shared/identity/index.js';
import type { ConfigParticipant, PreparedChange } from '../../../src/node-agent/index.js';
import { HTTP_RESOURCE_TYPES } from '../http-resources.js';
import type { ListenerAddress } from './messages.js';
import { L7ThreadEndedError, L7ThreadHandle, type ThreadEnd } from './thread-handle.js';

export interface IsolatedHttpServiceOptions {
  readonly role: string;
  readonly log: Logger;
  /** The node's registry: the supervision metrics go here, the thread's are merged at scrape. */
  readonly metrics: Registry;
  /** Old-generation heap of the thread, MB (default 1024). */
  readonly heapMb?: number;
  /** A thread that answers no ping for this long is restarted (default 10 s). */
  readonly unresponsiveMs?: number;
  /** How often the thread is pinged (default 1 s). */
  readonly pingIntervalMs?: number;
  /** Delay before a restart (default: full jitter, 250 ms doubling to 30 s). */
  readonly restartBackoff?: BackoffOptions;
}

/** prepare() after close(): the proxy is stopping. */
export class L7ClosedError extends StreammeshError {
  constructor() {
    super('ERR_HTTP_SERVICE_CLOSED', 'l7: closed, it takes no config');
  }
}

/** A scrape waits this long for the thread's metrics, then answers without them. */
const METRICS_TIMEOUT_MS = 2000;
/** close() waits this long for the thread to close its listeners, then terminates it. */
const CLOSE_TIMEOUT_MS = 5000;
/** A thread that ran this long was healthy: the restart backoff starts over. */
const HEALTHY_RUN_MS = 60_000;

export class IsolatedHttpService implements ConfigParticipant {
  readonly name = 'l7';
  /** Static: the node declares them before the service is made. */
  static readonly resourceTypes: readonly ResourceType[] = HTTP_RESOURCE_TYPES;
  readonly resourceTypes = IsolatedHttpService.resourceTypes;
  readonly #options: IsolatedHttpServiceOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #restarts: Counter<'reason'>;
  /** The thread, once it has the config last committed in force; replaced on restart. */
  #ready: Promise<L7ThreadHandle>;
  #thread: L7ThreadHandle | undefined;
  #committed: HttpConfig | undefined;
  #closed = false;
  /** Config transactions prepared and not yet committed or aborted. */
  #transactions = 0;
  #lastPong = performance.now();
  readonly #watchdog: NodeJS.Timeout;
  /** The node's workload certificate last given; a restarted thread starts with it. */
  #certificates: WorkloadCertificates | undefined;
  /** The node's workload identity, once useIdentity() was called. */
  #identity: WorkloadIdentitySource | undefined;

  constructor(options: IsolatedHttpServiceOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'l7-thread' });
    this.#backoff = new Backoff(options.restartBackoff ?? { baseMs: 250, maxMs: 30_000 });
    const registers = [options.metrics];
    this.#restarts = new Counter({
      name: 'streammesh_l7_thread_restarts_total',
      help: 'L7 threads ended and started again, by reason (out_of_memory, crashed, exited, unresponsive).',
      labelNames: ['reason'],
      registers,
    });
    const current = (): L7ThreadHandle | undefined => this.#thread;
    new Gauge({
      name: 'streammesh_l7_thread_up',
      help: 'Whether the L7 thread is running (1) or being restarted (0).',
      registers,
      collect() {
        const thread = current();
        this.set(thread !== undefined && !thread.ended ? 1 : 0);
      },
    });
    new Gauge({
      name: 'streammesh_l7_thread_event_loop_utilization',
      help: "Share of time the L7 thread's event loop was busy since the previous scrape (0-1).",
      registers,
      collect() {
        const thread = current();
        if (thread !== undefined && !thread.ended) this.set(thread.utilization());
      },
    });
    this.#ready = Promise.resolve(this.#start());
    this.#watchdog = setInterval(() => {
      this.#checkResponsive();
    }, options.pingIntervalMs ?? 1000);
    this.#watchdog.unref();
  }

  /** The node's config transaction: prepares the candidate's proxy.http on the thread. */
  prepare(candidate: MeshConfig): Promise<PreparedChange> {
    return this.prepareHttp(candidate.proxy.http);
  }

  async prepareHttp(http: HttpConfig): Promise<PreparedChange> {
    if (this.#closed) throw new L7ClosedError();
    // Sent before the prepare (messages keep their order): a mesh listener of it needs it.
    this.#catchUpIdentity();
    this.#transactions += 1;
    let settled = false;
    const settle = (): void => {
      if (!settled) this.#transactions -= 1;
      settled = true;
    };
    try {
      const { thread, change } = await this.#prepareOnReadyThread(http);
      return {
        commit: () => {
          settle();
          // In force from here: a thread restarted from now on starts with it.
          this.#committed = http;
          thread.call({ kind: 'commit', change }).catch((error: unknown) => {
            // Ended: the restart puts `http` in force. Anything else is a bug.
            if (error instanceof L7ThreadEndedError) return;
            this.#log.error({ err: error }, 'l7 thread: commit failed');
          });
        },
        abort: async () => {
          settle();
          // A thread that ended holds nothing of the change any more.
          await thread.call({ kind: 'abort', change }).catch((error: unknown) => {
            if (!(error instanceof L7ThreadEndedError)) throw error;
          });
        },
      };
    } catch (error) {
      settle();
      throw error;
    }
  }

  /**
   * Prepares on the thread in force; a thread that ends meanwhile is no
   * refusal of the config, so the prepare is made once more on its
   * successor. Only the thread's own refusal (a port it cannot bind) is one.
   */
  async #prepareOnReadyThread(
    http: HttpConfig,
  ): Promise<{ thread: L7ThreadHandle; change: number }> {
    for (let attempt = 1; ; attempt += 1) {
      const thread = await this.#ready;
      try {
        return { thread, change: await this.#prepareOn(thread, http) };
      } catch (error) {
        if (!(error instanceof L7ThreadEndedError) || attempt >= 2 || this.#closed) throw error;
      }
    }
  }

  /**
   * Follows the node's workload identity: its certificate now (if issued)
   * and every renewal go to the thread, where mesh TLS listeners and
   * clusters use it for their next handshakes. The first certificate may be
   * issued after this call without a 'renewed' event (the source announces
   * only later issues), so every prepare first sends the source's current
   * one if the thread does not have it yet. Returns the function that stops
   * following.
   */
  useIdentity(source: WorkloadIdentitySource): () => void {
    this.#identity = source;
    this.#catchUpIdentity();
    const renewed = (certificates: WorkloadCertificates): void => {
      this.setCertificates(certificates);
    };
    source.on('renewed', renewed);
    return () => {
      source.off('renewed', renewed);
      if (this.#identity === source) this.#identity = undefined;
    };
  }

  /** Sends the identity's current certificate if the thread has not had it. */
  #catchUpIdentity(): void {
    const current = this.#identity?.current();
    if (current !== undefined && current !== this.#certificates) this.setCertificates(current);
  }

  /** Puts `certificates` in force on the thread (and on any thread started later). */
  setCertificates(certificates: WorkloadCertificates): void {
    this.#certificates = certificates;
    const thread = this.#thread;
    if (thread === undefined || thread.ended) return;
    thread.call({ kind: 'certificates', certificates }).catch((error: unknown) => {
      // Ended: its successor starts with them. Anything else (bad PEM) leaves the last set in force.
      if (error instanceof L7ThreadEndedError) return;
      this.#log.error({ err: error }, 'l7 thread: the workload certificate was not taken');
    });
  }

  /** The bound address of every listener in force (tests, and `up`'s banner). */
  async listeners(): Promise<readonly ListenerAddress[]> {
    const thread = await this.#ready;
    return (await thread.call({ kind: 'listeners' })) as readonly ListenerAddress[];
  }

  /** The thread's metrics, for the node's /metrics; [] while it restarts or is too busy to answer. */
  async threadMetrics(): Promise<MetricsJson> {
    const thread = this.#thread;
    if (thread === undefined || thread.ended) return [];
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

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#watchdog);
    const thread = this.#thread;
    if (thread === undefined || thread.ended) return;
    const timer = setTimeout(() => void thread.terminate('closed'), CLOSE_TIMEOUT_MS);
    try {
      await thread.call({ kind: 'close' });
    } catch {
      // Ended already, or terminated by the timer: nothing left to close.
    } finally {
      clearTimeout(timer);
      await thread.terminate('closed');
    }
  }

  async #prepareOn(thread: L7ThreadHandle, http: HttpConfig): Promise<number> {
    const change = await thread.call({ kind: 'prepare', http });
    return change as number;
  }

  #start(): L7ThreadHandle {
    const startedAt = performance.now();
    const thread = new L7ThreadHandle(
      {
        role: this.#options.role,
        logLevel: this.#options.log.level as LevelWithSilent,
        tty: process.stdout.isTTY,
        certificates: this.#certificates,
      },
      { heapMb: this.#options.heapMb ?? 1024 },
      (end) => {
        this.#ended(thread, end, performance.now() - startedAt);
      },
    );
    this.#thread = thread;
    this.#lastPong = performance.now();
    return thread;
  }

  #ended(thread: L7ThreadHandle, end: ThreadEnd, ranMs: number): void {
    if (this.#closed || end === 'closed' || thread !== this.#thread) return;
    this.#restarts.inc({ reason: end });
    if (ranMs >= HEALTHY_RUN_MS) this.#backoff.reset();
    const delayMs = this.#backoff.next();
    this.#log.error(
      { reason: end, ranMs: Math.round(ranMs), restartInMs: delayMs },
      'l7 thread ended; restarting it with the config in force (media is not affected)',
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
   * backoff until it binds or a newer one is committed.
   */
  async #restart(delayMs: number): Promise<L7ThreadHandle> {
    await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    if (this.#closed) throw new L7ClosedError();
    const thread = this.#start();
    const http = this.#committed;
    if (http !== undefined && !(await this.#reapply(thread, http))) {
      if (thread.ended) throw new L7ThreadEndedError('crashed');
      this.#retryReapply(thread, http, new Backoff({ baseMs: 500, maxMs: 30_000 }));
    }
    return thread;
  }

  /** Puts `http` in force on `thread`; false (logged) when it cannot. */
  async #reapply(thread: L7ThreadHandle, http: HttpConfig): Promise<boolean> {
    try {
      const change = await this.#prepareOn(thread, http);
      await thread.call({ kind: 'commit', change });
      this.#log.info('l7 thread restarted with the config in force');
      return true;
    } catch (error) {
      this.#log.error(
        { err: error },
        `l7 thread restarted without the config in force (retrying): ${errorMessage(error)}`,
      );
      return false;
    }
  }

  #retryReapply(thread: L7ThreadHandle, http: HttpConfig, backoff: Backoff): void {
    const timer = setTimeout(() => {
      // Moot once the thread is replaced, a newer config is committed, or the service closes.
      if (this.#closed || thread.ended || this.#thread !== thread || this.#committed !== http) {
        return;
      }
      if (this.#transactions > 0) {
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
    if (thread === undefined || thread.ended) return;
    const silentMs = performance.now() - this.#lastPong;
    if (silentMs > (this.#options.unresponsiveMs ?? 10_000)) {
      this.#log.error({ silentMs: Math.round(silentMs) }, 'l7 thread does not answer; ending it');
      void thread.terminate('unresponsive');
      return;
    }
    thread.call({ kind: 'ping' }).then(
      () => {
        if (this.#thread === thread) this.#lastPong = performance.now();
      },
      () => undefined,
    );
  }
}
