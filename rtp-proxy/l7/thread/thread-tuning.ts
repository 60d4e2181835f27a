/**
 * What keeps the L7 thread from costing media anything, beyond having its
 * own event loop (measured in test/e2e/l7/flood-isolation.test.ts):
 *
 * - CPU: the thread runs at nice 10. Linux keeps a nice value per thread,
 *   and setpriority(pid 0) sets the calling thread's alone, so when media
 *   and an HTTP flood want the same core the scheduler gives media about
 *   nine tenths of it (CFS weights 1024 vs 110). Without it, the relay's
 *   thread waited 5.5-7.5 s for a core during a 15 s flood on two cores.
 * - Memory: V8 collects garbage only when it allocates, so after a flood the
 *   thread sat on a 300 MB heap of garbage (proxy RSS 1.9x its baseline a
 *   minute later). Once the thread is quiet, a full collection gives that
 *   memory back to the system.
 */
import { setPriority } from 'node:os';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Counter, type Registry } from 'prom-client';
import { errorMessage } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/log.js';

/** The L7 thread's nice value (0 is the relay's). */
export const L7_THREAD_NICE = 10;

/** Lowers the calling thread's CPU priority (Linux: this thread only). */
export function yieldCpuToMedia(log: Logger): void {
  try {
    setPriority(0, L7_THREAD_NICE);
  } catch (error) {
    // Not fatal: some platforms or sandboxes refuse; the thread still has its own event loop.
    log.warn({ err: error }, `l7 thread: cannot lower its CPU priority: ${errorMessage(error)}`);
  }
}

export interface HeapReclaimOptions {
  readonly registry: Registry;
  readonly log: Logger;
  /** How often the thread's load and heap are sampled. */
  readonly intervalMs?: number;
  /** Samples in a row under `quietUtilization` before a collection. */
  readonly quietSamples?: number;
  /** Event-loop utilization under which the thread counts as quiet. */
  readonly quietUtilization?: number;
  /** A heap smaller than this is left alone. */
  readonly minHeapBytes?: number;
}

/**
 * Runs a full garbage collection when the thread has gone quiet with a heap
 * well above what it started with; at most once per quiet spell.
 */
export class IdleHeapReclaimer {
  readonly #collect: () => void;
  readonly #timer: NodeJS.Timeout;
  readonly #reclaims: Counter;
  #last: EventLoopUtilization = performance.eventLoopUtilization();
  #quiet = 0;
  #reclaimed = false;

  constructor(options: HeapReclaimOptions) {
    const quietSamples = options.quietSamples ?? 3;
    const quietUtilization = options.quietUtilization ?? 0.05;
    const startHeap = getHeapStatistics().used_heap_size;
    const threshold = Math.max(options.minHeapBytes ?? 64 * 1024 * 1024, 2 * startHeap);
    this.#collect = exposedGc();
    this.#reclaims = new Counter({
      name: 'streammesh_l7_thread_heap_reclaims_total',
      help: 'Full garbage collections the L7 thread ran once quiet after load, to give memory back.',
      registers: [options.registry],
    });
    this.#timer = setInterval(() => {
      const now = performance.eventLoopUtilization();
      const busy = performance.eventLoopUtilization(now, this.#last).utilization;
      this.#last = now;
      if (busy >= quietUtilization) {
        this.#quiet = 0;
        this.#reclaimed = false;
        return;
      }
      this.#quiet += 1;
      if (this.#reclaimed || this.#quiet < quietSamples) return;
      if (getHeapStatistics().used_heap_size < threshold) return;
      this.#reclaimed = true;
      const before = getHeapStatistics().used_heap_size;
      this.#collect();
      this.#reclaims.inc();
      options.log.info(
        { heapBefore: before, heapAfter: getHeapStatistics().used_heap_size },
        'l7 thread quiet again: heap collected',
      );
    }, options.intervalMs ?? 2000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * V8's gc(), which node offers only with --expose-gc at start (a worker
 * cannot be given V8 flags). The flag set at run time applies to contexts
 * made after it: a new context has gc() on its global.
 */
function exposedGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
