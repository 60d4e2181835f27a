/** The shape of loadtests/results/sfu.json (and sfu-cascade.json, --nodes 2). */
import { median, round } from '../rtp/stats.js';
import type { LatencyResult } from './cascade-latency.js';
import type { SideName } from './messages.js';

export interface BenchParameters {
  /** 1: streammesh vs bare; 2: a mesh of one signaling node vs two with the cascade. */
  readonly nodes: number;
  /** Total consumers per step (rounded up to whole rooms). */
  readonly steps: readonly number[];
  readonly publishersPerRoom: number;
  readonly subscribersPerRoom: number;
  readonly generators: number;
  readonly roomConcurrency: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** A step is served at this loss or less (percent of the packets expected). */
  readonly maxLossPercent: number;
  /** Before each window, the longest wait for other processes on the machine to calm down (0: none). */
  readonly quietWaitMs: number;
  readonly source: {
    readonly codec: 'VP8';
    readonly size: string;
    readonly fps: number;
    readonly bitrateKbps: number;
  };
  readonly maxMinutes: number;
  readonly sides: readonly SideName[];
  /** --nodes 2: cascade latency trials before the two-node ramp (0: none). */
  readonly latencyTrials: number;
}

export interface CpuWindow {
  /** Cores used over the window (1 = one core busy), utime+stime from /proc/<pid>/stat: every node's worker. */
  readonly worker: number;
  /** Each node's worker, in the side's order (one entry but with --nodes 2's two-node side). */
  readonly workers: readonly number[];
  /** The Node process around the worker: the signaling node, or the bare RPC (--nodes 2: the control plane and every node). */
  readonly node: number;
  /** All generator processes together, and the busiest one (each is one event loop: ~1 is saturated). */
  readonly generators: number;
  readonly generatorMax: number;
  readonly source: number;
  /** This benchmark's driver process. */
  readonly driver: number;
  /** All processes on the machine (/proc/stat). */
  readonly machineBusy: number;
  /** Of machineBusy: interrupt and softirq time (loopback packet delivery, billed to no process). */
  readonly softirq: number;
  /** machineBusy minus softirq and every process of this benchmark: anything else running on the machine. */
  readonly others: number;
}

export type FailedBy = 'loss' | 'start' | 'stall' | 'setup';

/**
 * What ran out in a window: the worker (above 90% of its core), a generator
 * (above 90% of a core, or its event loop more than 250 ms late at p99), or
 * the machine (above 95% of all cores busy, whoever used them).
 */
export type Saturated = 'worker' | 'generator' | 'machine';

export interface StepResult {
  readonly side: SideName;
  readonly rooms: number;
  /** 1, or a re-measurement of the same rooms after a window contended by other processes. */
  readonly attempt: number;
  /** How long the driver waited for other processes on the machine to calm down before the window. */
  readonly quietWaitMs: number;
  readonly producers: number;
  /** Producers piped from A to B (two-nodes side; 0 elsewhere). */
  readonly pipedProducers: number;
  readonly consumers: number;
  readonly setupMs: number;
  readonly failedRooms: number;
  readonly setupErrors: readonly string[];
  /** Consumers with no packet by the end of the warm-up. */
  readonly notStarted: number;
  /** Started consumers that received nothing in the window. */
  readonly stalled: number;
  /** consumerClosed events the side's subscribers got by the end of the window (no producer of the load closes: the SFU closed them). */
  readonly consumersClosed: number;
  readonly windowMs: number;
  readonly received: number;
  readonly expected: number;
  readonly lost: number;
  readonly lossPercent: number;
  /** Packets/s the subscribers received, and what the consumers should carry (source rate x consumers). */
  readonly deliveredPps: number;
  readonly expectedPps: number;
  readonly sourcePps: number;
  readonly cpu: CpuWindow;
  readonly workerMillicoresPerConsumer: number;
  /** UDP datagrams the kernel dropped at full receive buffers, whole machine (a reader too slow). */
  readonly udpRcvbufErrors: number;
  /** Of those, the datagrams dropped at the SFU worker's sockets and at every other socket (/proc/net/udp). */
  readonly socketDrops: { readonly sfu: number; readonly peers: number };
  /** The generators' event-loop delay over the window, ms (worst of them): a late loop reads its sockets late. */
  readonly generatorLoopDelayMs: { readonly p99: number; readonly max: number };
  readonly saturated: readonly Saturated[];
  readonly served: boolean;
  readonly failedBy: readonly FailedBy[];
}

export interface SideSummary {
  /** The most consumers served at <= maxLossPercent (null: not even the first step). */
  readonly maxConsumers: number | null;
  readonly firstFailed: {
    readonly consumers: number;
    readonly failedBy: readonly FailedBy[];
    readonly lossPercent: number;
    readonly saturated: readonly Saturated[];
  } | null;
  /** Why the ramp ended: a step not served, the time bound, the end of the step list, or an error. */
  readonly endedBy: 'not served' | 'time' | 'steps' | 'error';
  /** Median worker CPU per consumer over the served steps of >= 100 consumers. */
  readonly workerMillicoresPerConsumer: number;
  /**
   * An extrapolation, not a measurement: the consumers one worker core would
   * carry at that cost per consumer, if nothing else ran out first.
   */
  readonly consumersPerWorkerCore: number | null;
}

export interface BenchResults {
  readonly benchmark: 'sfu-consumers-per-worker' | 'sfu-cascade';
  readonly date: string;
  readonly command: string;
  readonly durationSeconds: number;
  readonly machine: Record<string, unknown>;
  readonly parameters: BenchParameters;
  /** Cores busy on the machine over 3 s before the benchmark started anything (other users of the machine). */
  readonly idleMachineBusy: number;
  readonly method: readonly string[];
  readonly steps: readonly StepResult[];
  readonly summary: Partial<Record<SideName, SideSummary>>;
  /** streammesh against bare (two-nodes against one-node): the largest step both served, and CPU there (cores). */
  readonly comparison: {
    /** [the side compared, the side it is compared with]. */
    readonly sides: readonly SideName[];
    readonly maxConsumersRatio: number | null;
    readonly commonStep: number | null;
    readonly workerCpu: Partial<Record<SideName, number>>;
    readonly nodeCpu: Partial<Record<SideName, number>>;
    readonly workerCpuRatio: number | null;
  };
  /** --nodes 2 only. */
  readonly cascade?: CascadeComparison;
  readonly latency?: LatencyResult | null;
  readonly reference: string;
  readonly stoppedBy: string | null;
  readonly errors: readonly string[];
}

/** A side's steps, each by its last attempt, in order. */
export function finalAttempts(steps: readonly StepResult[], side: SideName): StepResult[] {
  const mine = steps.filter((s) => s.side === side);
  return mine.filter((s, i) => mine[i + 1]?.rooms !== s.rooms);
}

/** One step served by both the two-node and the one-node side. */
export interface CascadeStep {
  readonly consumers: number;
  readonly pipedProducers: number;
  /** Both nodes' workers (A, B) and their sum; the one node's worker. */
  readonly twoNodesWorkers: readonly number[];
  readonly twoNodesWorker: number;
  readonly oneNodeWorker: number;
  /** twoNodesWorker - oneNodeWorker, cores, and per piped producer, millicores. */
  readonly extraWorkerCores: number;
  readonly extraMillicoresPerPipedProducer: number | null;
  /** The mesh process (control plane and nodes) on each side. */
  readonly twoNodesNode: number;
  readonly oneNodeNode: number;
}

export interface CascadeComparison {
  readonly steps: readonly CascadeStep[];
  /** Median over the steps of >= 100 consumers (the smaller ones are a few clock ticks). */
  readonly extraMillicoresPerPipedProducer: number | null;
  /** The same, relative: two nodes' workers / one node's. */
  readonly workerCpuRatio: number | null;
}

/** The cascade's worker CPU: `two`'s workers against `one`'s at every step both served. */
export function cascadeComparison(
  steps: readonly StepResult[],
  two: SideName,
  one: SideName,
): CascadeComparison {
  const ones = finalAttempts(steps, one).filter((s) => s.served);
  const both: CascadeStep[] = [];
  for (const step of finalAttempts(steps, two)) {
    const base = ones.find((s) => s.consumers === step.consumers);
    if (!step.served || base === undefined) continue;
    const extra = step.cpu.worker - base.cpu.worker;
    both.push({
      consumers: step.consumers,
      pipedProducers: step.pipedProducers,
      twoNodesWorkers: step.cpu.workers,
      twoNodesWorker: step.cpu.worker,
      oneNodeWorker: base.cpu.worker,
      extraWorkerCores: round(extra, 3),
      extraMillicoresPerPipedProducer:
        step.pipedProducers > 0 ? round((extra / step.pipedProducers) * 1000, 3) : null,
      twoNodesNode: step.cpu.node,
      oneNodeNode: base.cpu.node,
    });
  }
  const big = both.filter((s) => s.consumers >= 100);
  const perProducer = big
    .map((s) => s.extraMillicoresPerPipedProducer)
    .filter((v): v is number => v !== null);
  const ratios = big
    .filter((s) => s.oneNodeWorker > 0)
    .map((s) => s.twoNodesWorker / s.oneNodeWorker);
  return {
    steps: both,
    extraMillicoresPerPipedProducer:
      perProducer.length === 0 ? null : round(median(perProducer), 3),
    workerCpuRatio: ratios.length === 0 ? null : round(median(ratios), 3),
  };
}
