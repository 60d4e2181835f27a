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
 *     restarts by reason, whether the thread is up, its event-loop load.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HttpConfig, MeshConfig, ResourceType } from '../../../src/config/index.js';
import { Backoff } from '../../../src/shared/backoff.js';
import { StreammeshError, errorMessage } from '../../../src/shared/errors.js';
import type { Logger, LevelWithSilent } from '../../../src/shared/log.js';
import type { MetricsJson } from '../../../src/shared/metrics.js';
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
  readonly #backoff = new Backoff({ baseMs: 250, maxMs: 30_000 });
  readonly #restarts: Counter<'reason'>;
  /** The thread, once it has the config last committed in force; replaced on restart. */
  #ready: Promise<L7ThreadHandle>;
  #thread: L7ThreadHandle | undefined;
  #committed: HttpConfig | undefined;
  #closed = false;
  #lastPong = performance.now();
  readonly #watchdog: NodeJS.Timeout;

  constructor(options: IsolatedHttpServiceOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'l7-thread' });
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
    const thread = await this.#ready;
    const change = await this.#prepareOn(thread, http);
    return {
      commit: () => {
        // In force from here: a thread restarted from now on starts with it.
        this.#committed = http;
        thread.call({ kind: 'commit', change }).catch((error: unknown) => {
          // Ended: the restart puts `http` in force. Anything else is a bug.
          if (error instanceof L7ThreadEndedError) return;
          this.#log.error({ err: error }, 'l7 thread: commit failed');
        });
      },
      abort: async () => {
        // A thread that ended holds nothing of the change any more.
        await thread.call({ kind: 'abort', change }).catch((error: unknown) => {
          if (!(error instanceof L7ThreadEndedError)) throw error;
        });
      },
    };
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

  /** Starts a new thread after `delayMs` and puts the committed config in force on it. */
  async #restart(delayMs: number): Promise<L7ThreadHandle> {
    await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    if (this.#closed) throw new L7ClosedError();
    const thread = this.#start();
    const http = this.#committed;
    if (http === undefined) return thread;
    try {
      const change = await this.#prepareOn(thread, http);
      await thread.call({ kind: 'commit', change });
      this.#log.info('l7 thread restarted with the config in force');
    } catch (error) {
      // It will end (terminated here) and #ended schedules the next try.
      this.#log.error(
        { err: error },
        `l7 thread: restart could not apply the config: ${errorMessage(error)}`,
      );
      await thread.terminate('crashed');
      throw error;
    }
    return thread;
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
