/**
 * The garbage-collection pauses of the calling thread's isolate, as a
 * histogram in that thread's registry.
 *
 * prom-client's nodejs_gc_duration_seconds observes only the thread that
 * registered it: in the proxy that is the main thread, whose heap is nearly
 * idle. A worker thread has an isolate and pauses of its own, and they are
 * what delays its work: at 1,000 HTTP/2 requests/s the L7 thread's
 * scavenges come every 250-500 ms and hold every request in flight for
 * 3-15 ms (README, "Where HTTP/2's tail comes from"). Measured where they
 * happen, they can be set beside a thread's latency.
 */
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { Histogram, type Registry } from 'prom-client';

/** prom-client's names for V8's kinds, so the two series read alike. */
const KIND_NAMES: ReadonlyMap<number, string> = new Map([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

/** From half a millisecond (a small scavenge) to half a second (a full collection of a large heap). */
const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5];

export interface GcPauses {
  /** Stops observing (the thread is closing). */
  stop(): void;
}

/** Observes this thread's pauses into `name` in `registry`, by `kind`. */
export function observeGcPauses(registry: Registry, name: string, help: string): GcPauses {
  const pauses = new Histogram({
    name,
    help,
    labelNames: ['kind'],
    buckets: BUCKETS,
    registers: [registry],
  });
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      pauses.observe({ kind: kindOf(entry) }, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop: () => {
      observer.disconnect();
    },
  };
}

/** A 'gc' entry's kind is in its `detail` (node 16+), which @types/node does not declare here. */
function kindOf(entry: PerformanceEntry): string {
  const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
  return KIND_NAMES.get(detail?.kind ?? -1) ?? 'other';
}
