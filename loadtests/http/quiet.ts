/**
 * The machine is shared with other work (builds, tests). Before each window
 * the driver waits, up to a bound, until the whole machine is nearly idle:
 * between windows every process of the benchmark is idle too, so whatever
 * keeps the cores busy then is someone else's, and would be measured as the
 * proxies' latency.
 */
import { systemSample, systemWindow } from '../rtsp/system.js';
import { cpus } from 'node:os';
import { sleep } from './processes.js';

/** Busy cores (all processes) below which the machine counts as quiet. */
export const QUIET_CORES = 0.25;
const PROBE_MS = 1_000;

/** Milliseconds waited; stops waiting after `boundMs` (0: no wait). */
export async function waitForQuiet(boundMs: number): Promise<number> {
  const started = performance.now();
  const cores = cpus().length;
  while (boundMs > 0) {
    const before = systemSample();
    await sleep(PROBE_MS);
    const window = systemWindow(before, systemSample(), cores);
    const waited = performance.now() - started;
    if (window.busyCores < QUIET_CORES || waited >= boundMs) return Math.round(waited);
  }
  return 0;
}
