/**
 * The CPU the mediasoup workers use, as cores over the interval between two
 * samples (CPU time grown / wall time passed), and the busiest worker's
 * figure, which is what the node reports: a worker is one thread, so a worker
 * near 1 core is saturated however idle the others are, and the Node
 * process's own CPU figure does not include the workers at all.
 *
 * Samples are keyed by process id: a restarted worker starts its CPU time from
 * zero, so it has no figure until its second sample rather than a negative one.
 * Asking the workers is asynchronous while a load report is built
 * synchronously, so `poll` starts a sample and the report reads the last one.
 */
import { performance } from 'node:perf_hooks';
import type { Clock } from '../../src/shared/clock.js';
import type { WorkerCpuTime } from './worker-pool.js';

/** What the sampler asks: WorkerPool.resourceUsage. */
export interface WorkerCpuSource {
  resourceUsage(): Promise<readonly WorkerCpuTime[]>;
}

interface Sample {
  readonly cpuMs: number;
  readonly atMs: number;
}

const monotonicClock: Clock = { now: () => performance.now() };

export class WorkerCpuSampler {
  readonly #clock: Clock;
  #previous = new Map<number, Sample>();
  #cores = new Map<number, number>();
  #polling = false;

  constructor(clock: Clock = monotonicClock) {
    this.#clock = clock;
  }

  /**
   * Takes one sample of every live worker: each worker seen in the previous
   * sample too gets its cores over the interval; workers no longer listed
   * leave. Returns the busiest worker's cores.
   */
  update(times: readonly WorkerCpuTime[]): number {
    const atMs = this.#clock.now();
    const next = new Map<number, Sample>();
    const cores = new Map<number, number>();
    for (const time of times) {
      next.set(time.pid, { cpuMs: time.cpuMs, atMs });
      const before = this.#previous.get(time.pid);
      if (before === undefined) continue;
      const wallMs = atMs - before.atMs;
      if (!(wallMs > 0)) continue;
      cores.set(time.pid, Math.max(0, time.cpuMs - before.cpuMs) / wallMs);
    }
    this.#previous = next;
    this.#cores = cores;
    return this.busiestCores;
  }

  /** Cores of the busiest worker over the last interval; 0 before two samples. */
  get busiestCores(): number {
    let busiest = 0;
    for (const cores of this.#cores.values()) busiest = Math.max(busiest, cores);
    return busiest;
  }

  /** Cores of each worker (by pid) over the last interval. */
  get cores(): ReadonlyMap<number, number> {
    return this.#cores;
  }

  /**
   * Starts a sample from `source` unless one is in flight; a failed sample
   * (the pool closing) leaves the last figures in place.
   */
  poll(source: WorkerCpuSource): void {
    if (this.#polling) return;
    this.#polling = true;
    source.resourceUsage().then(
      (times) => {
        this.#polling = false;
        this.update(times);
      },
      () => {
        this.#polling = false;
      },
    );
  }
}
