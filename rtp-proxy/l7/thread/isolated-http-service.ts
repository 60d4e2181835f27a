/**
 * The rtp-proxy's L7 proxy on threads of its own (issue 14: an HTTP/2 flood
 * delayed relayed RTP by seconds when both shared one event loop), as many
 * as `workers` (proxy.workers; issue 20: every core used). To the node it is
 * one participant of the config transaction like the in-thread HttpService
 * each thread runs; here it
 *
 *   - serves every listener from every thread: each thread listens on its
 *     own SO_REUSEPORT socket of each port (listener/shared-listen.ts, the
 *     tcp-listen addon) and the kernel spreads new connections over them.
 *     Without the addon, or with one worker, one thread as before (node's own
 *     listen), said once in the log;
 *   - makes a config push all or none over the threads: the first thread
 *     prepares (binding each new port only if nobody holds it, so a taken
 *     port still NACKs naming its HTTP_LISTENER, and picking the port of a
 *     listener of port 0), then the others (joining those ports); all commit
 *     only when all prepared, else those prepared abort and the first
 *     refusal is the answer;
 *   - supervises each thread alone (l7-worker.ts): one that crashes, runs out
 *     of its heap, or stops answering pings is ended and started again with
 *     the config in force, joining the ports the others still serve;
 *   - exposes the threads' metrics with the node's (/metrics), each series
 *     with a `worker` label (0..N-1) when there are several, and its own:
 *     restarts by reason, whether each thread is up, its event-loop load;
 *   - hands the threads the node's workload certificate and each renewal
 *     (useIdentity), for mesh mutual TLS; a restarted thread starts with the
 *     latest;
 *   - gives the threads a channel to share their clusters' state on
 *     (cluster-state-channel.ts): an endpoint one thread ejects is out for
 *     all, and each endpoint is health-checked by one thread, whose verdict
 *     all adopt; a thread that starts asks for the ejections and verdicts
 *     in force.
 */
import { readFileSync } from 'node:fs';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HttpConfig, MeshConfig, ResourceType } from '../../../src/config/index.js';
import type { BackoffOptions } from '../../../src/shared/backoff.js';
import { errorMessage } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/log.js';
import type { MetricsJson } from '../../../src/shared/metrics.js';
import type {
  WorkloadCertificates,
  WorkloadIdentitySource,
} from '../../../src/shared/identity/index.js';
import type { ConfigParticipant, PreparedChange } from '../../../src/node-agent/transaction.js';
import { HTTP_RESOURCE_TYPES } from '../http-resources.js';
import type { PortSharing } from '../l7-service.js';
import { loadTcpListenAddon } from '../listener/shared-listen.js';
import { newSharedClusterState } from './cluster-state-channel.js';
import type { ListenerAddress } from './messages.js';
import { L7ClosedError, L7Worker, type L7WorkerHost, type WorkerPrepared } from './l7-worker.js';

export { L7ClosedError } from './l7-worker.js';

export interface IsolatedHttpServiceOptions {
  readonly role: string;
  readonly log: Logger;
  /** The node's registry: the supervision metrics go here, the threads' are merged at scrape. */
  readonly metrics: Registry;
  /**
   * L7 threads serving every listener (default 1; the proxy passes
   * proxy.workers, one per core by default). More than one needs the
   * tcp-listen addon; without it one thread serves, said in the log.
   */
  readonly workers?: number;
  /** Old-generation heap of each thread, MB (default 1024). */
  readonly heapMb?: number;
  /** A thread that answers no ping for this long is restarted (default 10 s). */
  readonly unresponsiveMs?: number;
  /** How often each thread is pinged (default 1 s). */
  readonly pingIntervalMs?: number;
  /** Delay before a restart (default: full jitter, 250 ms doubling to 30 s). */
  readonly restartBackoff?: BackoffOptions;
}

export class IsolatedHttpService implements ConfigParticipant {
  readonly name = 'l7';
  /** Static: the node declares them before the service is made. */
  static readonly resourceTypes: readonly ResourceType[] = HTTP_RESOURCE_TYPES;
  readonly resourceTypes = IsolatedHttpService.resourceTypes;
  readonly #log: Logger;
  readonly #workers: readonly L7Worker[];
  #committed: HttpConfig | undefined;
  /** The port each listener of port 0 in force is bound to (what a restarted thread joins). */
  #committedPorts: Readonly<Record<string, number>> = {};
  #closed = false;
  /** Config transactions prepared and not yet committed or aborted. */
  #transactions = 0;
  /**
   * The last commit, until every thread has done it (a thread that missed it
   * by ending before it: until its successor has the config): the next
   * prepare waits for it, so that a port a thread closes in that commit (a
   * listener removed) is closed on every thread before the first binds it
   * again.
   */
  #committing: Promise<unknown> = Promise.resolve();
  /** The workers' re-applications after a restart, one at a time (L7WorkerHost.serialize). */
  #reapplying: Promise<unknown> = Promise.resolve();
  /** The node's workload certificate last given; a restarted thread starts with it. */
  #certificates: WorkloadCertificates | undefined;
  /** The node's workload identity, once useIdentity() was called. */
  #identity: WorkloadIdentitySource | undefined;

  constructor(options: IsolatedHttpServiceOptions) {
    this.#log = options.log.child({ component: 'l7-thread' });
    const count = this.#threadCount(options.workers ?? 1);
    const host: L7WorkerHost = {
      committed: () => this.#committed,
      restartSharing: (worker) => this.#restartSharing(worker),
      reapplied: (_worker, sharing, reply) => {
        // A thread that bound first after all were down: the others join its ports.
        if (sharing?.exclusive === true) this.#committedPorts = reply.ports;
      },
      certificates: () => this.#certificates,
      transactionOpen: () => this.#transactions > 0,
      closed: () => this.#closed,
      serialize: (task) => {
        const run = this.#reapplying.then(task, task);
        this.#reapplying = run.catch(() => undefined);
        return run;
      },
    };
    // Outlier ejections and endpoint health are the proxy's, not a thread's:
    // its threads share them on a channel of their own (cluster-state-channel.ts).
    const clusterState = count === 1 ? undefined : newSharedClusterState();
    const workers: L7Worker[] = [];
    for (let index = 0; index < count; index += 1) {
      const log = count === 1 ? this.#log : this.#log.child({ worker: index });
      workers.push(
        new L7Worker(
          {
            index,
            workers: count,
            role: options.role,
            log,
            heapMb: options.heapMb ?? 1024,
            unresponsiveMs: options.unresponsiveMs ?? 10_000,
            pingIntervalMs: options.pingIntervalMs ?? 1000,
            restartBackoff: options.restartBackoff ?? { baseMs: 250, maxMs: 30_000 },
            clusterState,
          },
          host,
        ),
      );
    }
    this.#workers = workers;
    this.#registerMetrics(options.metrics);
  }

  /** How many L7 threads serve the listeners. */
  get workers(): number {
    return this.#workers.length;
  }

  /** The node's config transaction: prepares the candidate's proxy.http on every thread. */
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
      await this.#committing;
      const prepared = await this.#prepareAll(http);
      return {
        commit: () => {
          settle();
          // In force from here: a thread restarted from now on starts with it.
          this.#committed = http;
          this.#committedPorts = prepared[0]?.reply.ports ?? {};
          // A worker whose prepared thread ended before this commit (its
          // successor took the config committed before) is given this one
          // after its restart: its commit resolves once it has it (or tried).
          const commits: Promise<void>[] = [];
          for (const change of prepared) {
            const worker = this.#workers[change.worker];
            if (worker !== undefined) commits.push(worker.commit(change));
          }
          this.#committing = Promise.all(commits);
        },
        abort: async () => {
          settle();
          await this.#abortAll(prepared);
        },
      };
    } catch (error) {
      settle();
      throw error;
    }
  }

  /**
   * Prepares `http` on every thread, the first one first (it binds each new
   * port exclusively and picks the ports of port-0 listeners), then the
   * others together, joining those ports. Any refusal aborts what the others
   * prepared and is thrown (the first thread's, else the lowest-numbered).
   */
  async #prepareAll(http: HttpConfig): Promise<WorkerPrepared[]> {
    const [first, ...others] = this.#workers;
    if (first === undefined) return [];
    if (others.length === 0) return [await first.prepare(http, undefined)];
    const leader = await first.prepare(http, { exclusive: true, ports: {} });
    const joined = { exclusive: false, ports: leader.reply.ports };
    const results = await Promise.allSettled(others.map((worker) => worker.prepare(http, joined)));
    const prepared = [leader];
    let refusal: { worker: number; reason: unknown } | undefined;
    results.forEach((result, index) => {
      if (result.status === 'fulfilled') prepared.push(result.value);
      else refusal ??= { worker: index + 1, reason: result.reason };
    });
    if (refusal === undefined) return prepared;
    this.#log.warn(
      { worker: refusal.worker, reason: errorMessage(refusal.reason) },
      'l7: a thread refused the config the first one prepared; it goes in on none',
    );
    await this.#abortAll(prepared).catch((error: unknown) => {
      this.#log.error({ err: error }, 'l7: releasing a refused config on the other threads failed');
    });
    throw refusal.reason;
  }

  async #abortAll(prepared: readonly WorkerPrepared[]): Promise<void> {
    const results = await Promise.allSettled(
      prepared.map(async (change) => this.#workers[change.worker]?.abort(change)),
    );
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  /**
   * How a restarted thread binds its listeners: joining the ports the
   * threads with the config in force serve; alone, with none of them, it
   * binds first (and the others will join it).
   */
  #restartSharing(worker: number): PortSharing | undefined {
    if (this.#workers.length === 1) return undefined;
    const othersServe = this.#workers.some((other) => other.index !== worker && other.inForce);
    return othersServe
      ? { exclusive: false, ports: this.#committedPorts }
      : { exclusive: true, ports: {} };
  }

  /**
   * Follows the node's workload identity: its certificate now (if issued)
   * and every renewal go to the threads, where mesh TLS listeners and
   * clusters use it for their next handshakes. The first certificate may be
   * issued after this call without a 'renewed' event (the source announces
   * only later issues), so every prepare first sends the source's current
   * one if the threads do not have it yet. Returns the function that stops
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

  /** Sends the identity's current certificate if the threads have not had it. */
  #catchUpIdentity(): void {
    const current = this.#identity?.current();
    if (current !== undefined && current !== this.#certificates) this.setCertificates(current);
  }

  /** Puts `certificates` in force on every thread (and on any thread started later). */
  setCertificates(certificates: WorkloadCertificates): void {
    this.#certificates = certificates;
    for (const worker of this.#workers) worker.setCertificates(certificates);
  }

  /**
   * The bound address of every listener in force (tests, and `up`'s banner):
   * the first thread's, or thread `worker`'s (all serve the same ports).
   */
  async listeners(worker = 0): Promise<readonly ListenerAddress[]> {
    const found = this.#workers[worker];
    if (found === undefined) throw new RangeError(`l7: no worker ${worker}`);
    return found.listeners();
  }

  /**
   * The threads' metrics, for the node's /metrics: each series with the
   * label worker="<index>" when there are several threads (as they are, with
   * one). A thread that restarts or is too busy to answer is left out.
   */
  async threadMetrics(): Promise<MetricsJson> {
    const all = await Promise.all(this.#workers.map((worker) => worker.metrics()));
    if (all.length === 1) return all[0] ?? [];
    return mergeByWorker(all);
  }

  /** Makes thread `worker` throw an uncaught exception, as a bug would (tests of the supervision). */
  async crashWorker(worker: number): Promise<void> {
    const found = this.#workers[worker];
    if (found === undefined) throw new RangeError(`l7: no worker ${worker}`);
    await found.crash();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((worker) => worker.close()));
  }

  /** `requested`, or 1 (said once) when the threads could not share a port. */
  #threadCount(requested: number): number {
    if (!Number.isInteger(requested) || requested < 1) {
      throw new RangeError(`l7: ${requested} is not a number of workers`);
    }
    if (requested === 1) return 1;
    const addon = loadTcpListenAddon();
    if ('error' in addon) {
      this.#log.warn(
        { requested, reason: addon.error },
        'l7: the tcp-listen addon is not built (npm install builds it), so one thread serves the HTTP listeners instead of proxy.workers',
      );
      return 1;
    }
    this.#log.info({ workers: requested }, 'l7: HTTP listeners served by several threads');
    if (readSysctl('net/ipv4/tcp_migrate_req') === '0') {
      this.#log.info(
        'l7: net.ipv4.tcp_migrate_req is 0: connections waiting on a thread that is ended (stuck, crashed) are reset; with 1 the kernel hands them to the other threads',
      );
    }
    return requested;
  }

  #registerMetrics(metrics: Registry): void {
    const registers = [metrics];
    const workers = this.#workers;
    // One thread: the series as they always were; several: one per thread.
    const labelled = workers.length > 1;
    const label = (worker: L7Worker): { worker?: string } =>
      labelled ? { worker: String(worker.index) } : {};
    new Gauge({
      name: 'streammesh_l7_threads',
      help: 'L7 threads serving the HTTP listeners (proxy.workers, or 1 without the tcp-listen addon).',
      registers,
      collect() {
        this.set(workers.length);
      },
    });
    new Counter({
      name: 'streammesh_l7_thread_restarts_total',
      help: 'L7 threads ended and started again, by reason (out_of_memory, crashed, exited, unresponsive) and, with several, by worker.',
      labelNames: ['reason', 'worker'],
      registers,
      collect() {
        this.reset();
        for (const worker of workers) {
          for (const [reason, count] of worker.restarts) {
            this.inc({ reason, ...label(worker) }, count);
          }
        }
      },
    });
    new Gauge({
      name: 'streammesh_l7_thread_up',
      help: 'Whether the L7 thread is running (1) or being restarted (0); with several, by worker.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const worker of workers) this.set(label(worker), worker.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'streammesh_l7_thread_event_loop_utilization',
      help: "Share of time the L7 thread's event loop was busy since the previous scrape (0-1); with several, by worker.",
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const worker of workers) {
          const busy = worker.utilization();
          if (busy !== undefined) this.set(label(worker), busy);
        }
      },
    });
  }
}

/** A sysctl of this network namespace, or undefined where there is none (not Linux, older kernel). */
function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${name}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * One exposition of several threads' metrics: each value labelled with its
 * thread's index, series of the same name joined under one metric (so that
 * the aggregation at scrape keeps them apart instead of summing them).
 */
function mergeByWorker(all: readonly MetricsJson[]): MetricsJson {
  const byName = new Map<string, MetricsJson[number]>();
  all.forEach((metrics, index) => {
    const worker = String(index);
    for (const metric of metrics) {
      const values = metric.values.map((value) => ({
        ...value,
        labels: { ...value.labels, worker },
      }));
      const known = byName.get(metric.name);
      if (known === undefined) byName.set(metric.name, { ...metric, values });
      else known.values.push(...(values as typeof known.values));
    }
  });
  return [...byName.values()];
}
