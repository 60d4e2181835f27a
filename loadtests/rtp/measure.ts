/**
 * One measurement step (a bounded burst of load at one rate, then a drain
 * and a count), the search for the highest rate without loss, and the
 * latency/CPU phase.
 */
import type { Child } from './children.js';
import { cpuSample } from './cpu.js';
import type { GeneratorRun, ReceiverCollect } from './messages.js';
import { round, type LatencySummary } from './stats.js';

export interface StepResult {
  readonly requestedPps: number;
  readonly achievedPps: number;
  readonly sent: number;
  readonly received: number;
  readonly lost: number;
  readonly lossPercent: number;
  /** The generator fell more than 3% short of the requested rate. */
  readonly generatorLimited: boolean;
  readonly durationMs: number;
  readonly latency: LatencySummary;
  /** Packets older than the highest sequence number seen, summed over flows (C sink only). */
  readonly reordered?: number;
}

export interface LatencyResult extends StepResult {
  /**
   * CPU the relay spent on this step (from the first send to the end of the
   * drain, so a backlog it works off after the generator stopped counts)
   * over the send period: the cores this rate takes; 1.0 = one core.
   */
  readonly relayCpuCores: number | null;
  /** Packets received per second of relay CPU (same span): the packets/s one core would carry. */
  readonly packetsPerCpuSecond: number | null;
}

export interface Stepper {
  step(ratePps: number, durationMs: number, relayPid?: number): Promise<LatencyResult>;
}

const MAX_EXTRA_DRAIN_MS = 3_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function total(counts: readonly number[]): number {
  return counts.reduce((sum, count) => sum + count, 0);
}

function collect(receiver: Child): Promise<ReceiverCollect> {
  return receiver.request<ReceiverCollect>({ type: 'collect' }, 'collect', 5_000);
}

/** `onRun` is told what each run of the generator answered. */
export function stepper(
  generator: Child,
  receiver: Child,
  drainMs: number,
  onRun?: (run: GeneratorRun) => void,
): Stepper {
  return {
    async step(ratePps, durationMs, relayPid) {
      await receiver.request({ type: 'reset' }, 'reset', 5_000);
      const before = relayPid === undefined ? undefined : cpuSample(relayPid);
      const run = await generator.request<GeneratorRun>(
        { type: 'run', ratePps, durationMs },
        'run',
        durationMs + 15_000,
      );
      onRun?.(run);
      // Drain: wait at least drainMs, then until the count holds still for 100 ms
      // (a relay with a backlog keeps delivering after the generator stopped).
      await sleep(drainMs);
      let collected = await collect(receiver);
      for (let waited = 0; waited < MAX_EXTRA_DRAIN_MS; waited += 100) {
        await sleep(100);
        const again = await collect(receiver);
        const settled = total(again.received) === total(collected.received);
        collected = again;
        if (settled) break;
      }
      const received = total(collected.received);
      const lost = run.sent - received;
      const after = relayPid === undefined ? undefined : cpuSample(relayPid);
      const cpuSeconds =
        before === undefined || after === undefined ? null : after.cpuSeconds - before.cpuSeconds;
      const cores = cpuSeconds === null ? null : cpuSeconds / (run.durationMs / 1000);
      return {
        requestedPps: Math.round(ratePps),
        achievedPps: Math.round(run.achievedPps),
        sent: run.sent,
        received,
        lost,
        lossPercent: run.sent === 0 ? 0 : round((lost / run.sent) * 100, 3),
        generatorLimited: run.achievedPps < ratePps * 0.97,
        durationMs: Math.round(run.durationMs),
        latency: collected.latency,
        ...(collected.reordered === undefined ? {} : { reordered: total(collected.reordered) }),
        relayCpuCores: cores === null ? null : round(cores, 3),
        packetsPerCpuSecond:
          cpuSeconds === null || cpuSeconds <= 0 ? null : Math.round(received / cpuSeconds),
      };
    },
  };
}

export interface SearchOptions {
  readonly stepMs: number;
  readonly startPps: number;
  readonly maxPps: number;
  readonly bisections: number;
  /** A previous run's answer: search near it instead of from the start. */
  readonly previousPps?: number;
}

export interface SearchResult {
  /** Highest achieved rate of a step with zero loss (0 when none passed). */
  readonly maxPps: number;
  /**
   * loss: a higher rate lost packets. generator: the generator could not send
   * faster and nothing was lost (the figure is the harness's ceiling, not the
   * target's). ceiling: reached maxPps.
   */
  readonly limitedBy: 'loss' | 'generator' | 'ceiling';
  readonly steps: readonly StepResult[];
}

function passed(step: StepResult): boolean {
  return step.received > 0 && step.lost <= 0;
}

/** What the search has learnt so far (a class, so closures and awaits see one truth). */
class SearchState {
  readonly steps: StepResult[] = [];
  best: StepResult | undefined;
  lowestFailure: number | undefined;
  generatorLimited = false;
}

export async function searchMaxRate(
  stepper: Stepper,
  options: SearchOptions,
  log: (line: string) => void,
): Promise<SearchResult> {
  const state = new SearchState();
  const attempt = async (rate: number): Promise<boolean> => {
    const clamped = Math.round(Math.min(rate, options.maxPps));
    let step = await stepper.step(clamped, options.stepMs);
    if (step.generatorLimited && step.lost <= 0 && step.received > 0) {
      // A generator descheduled once (a busy machine) is not its ceiling: the
      // step is run again, and the generator is the limit only if it falls
      // short twice.
      const first = step;
      log(`    ${String(clamped).padStart(7)} pps: generator reached ${first.achievedPps}, again`);
      step = await stepper.step(clamped, options.stepMs);
      state.steps.push(first);
    }
    state.steps.push(step);
    const ok = passed(step);
    const note = step.generatorLimited ? ` (generator reached ${step.achievedPps} pps)` : '';
    log(
      `    ${String(clamped).padStart(7)} pps -> sent ${step.sent}, lost ${step.lost}${note}` +
        (ok ? '' : '  LOSS'),
    );
    if (ok) {
      if (state.best === undefined || step.achievedPps > state.best.achievedPps) state.best = step;
      if (step.generatorLimited) state.generatorLimited = true;
    } else {
      state.lowestFailure = Math.min(state.lowestFailure ?? Infinity, clamped);
    }
    return ok;
  };

  if (options.previousPps === undefined || options.previousPps <= 0) {
    let rate = options.startPps;
    for (;;) {
      const ok = await attempt(rate);
      if (!ok || state.generatorLimited || rate >= options.maxPps) break;
      rate *= 2;
    }
    // Even the start rate lost packets: look below it.
    for (let k = 0; k < 3 && state.best === undefined; k++) {
      rate = (state.lowestFailure ?? options.startPps) / 2;
      await attempt(rate);
    }
  } else {
    let rate = options.previousPps;
    if (await attempt(rate)) {
      for (let k = 0; k < 3 && !state.generatorLimited && rate < options.maxPps; k++) {
        rate *= 1.2;
        if (!(await attempt(rate))) break;
      }
    } else {
      for (let k = 0; k < 4; k++) {
        rate *= 0.8;
        if (await attempt(rate)) break;
      }
    }
  }

  for (let k = 0; k < options.bisections; k++) {
    const { best, lowestFailure } = state;
    if (best === undefined || lowestFailure === undefined || state.generatorLimited) break;
    const low = best.requestedPps;
    if ((lowestFailure - low) / lowestFailure < 0.04) break;
    await attempt((low + lowestFailure) / 2);
  }

  return {
    maxPps: state.best?.achievedPps ?? 0,
    limitedBy: state.generatorLimited
      ? 'generator'
      : state.lowestFailure === undefined
        ? 'ceiling'
        : 'loss',
    steps: state.steps,
  };
}
