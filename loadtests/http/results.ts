/** The shape of loadtests/results/http.json. */
import type { LatencyPercentiles } from './load.js';
import type { Protocol, TargetName } from './endpoints.js';

export interface BenchParameters {
  readonly protocols: readonly Protocol[];
  readonly targets: readonly TargetName[];
  /** Measured window of each step, s. */
  readonly durationSeconds: number;
  /** Before each window (h2load --warm-up-time; for wrk a separate short run), s. */
  readonly warmupSeconds: number;
  readonly connections: number;
  /** HTTP/2 and gRPC streams in flight per connection (h2load -m). */
  readonly streams: number;
  readonly repeats: number;
  /** What answers gRPC (backends.ts). */
  readonly grpcBackend: 'nginx' | 'grpc-js';
  /** Before each window, the longest wait for a quiet machine (quiet.ts). */
  readonly quietWaitSeconds: number;
  readonly maxMinutes: number;
  /** Share of the lowest proxy maximum the latency phase runs at. */
  readonly latencyLoad: number;
  /**
   * none: one proxy between client and backend; plain / mtls (--two-hop /
   * --mtls): two proxies (in one process per target), talking in clear or
   * over mutual TLS (mesh-hop.ts).
   */
  readonly hop: 'none' | 'plain' | 'mtls';
  /** The fixed rate of the "fixed" latency phase (over `connections`). */
  readonly fixedRatePerSecond: number;
  /** Which latency phases ran: fixed (fixedRatePerSecond), half (half streammesh's max). */
  readonly latencyPhases: readonly LatencyPhase[];
}

/**
 * fixed: every target at fixedRatePerSecond (1,000/s over 16 connections by
 * default: the point of Istio's published sidecar benchmark); half: every
 * target at half of streammesh's own maximum in the run (half the lowest
 * proxy maximum when streammesh was not measured).
 */
export type LatencyPhase = 'fixed' | 'half';

/** CPU over a step's window, in cores (1 = one core busy). */
export interface StepCpu {
  /** The proxy process (haproxy; the rtp-proxy child of `streammesh up`); NaN for direct. */
  readonly proxy: number;
  /** The backend process of the protocol (nginx's worker, the gRPC server). */
  readonly backend: number;
  /** All processes on all cores (/proc/stat). */
  readonly machineBusy: number;
}

export interface MaxStep {
  readonly run: number;
  readonly protocol: Protocol;
  readonly target: TargetName;
  readonly tool: 'wrk' | 'h2load';
  readonly requestsPerSecond: number;
  readonly requests: number;
  readonly failed: number;
  readonly cpu: StepCpu;
  /** How long the driver waited for a quiet machine before the window. */
  readonly quietWaitMs: number;
  readonly notes: readonly string[];
}

export interface LatencyStep {
  readonly run: number;
  readonly phase: LatencyPhase;
  readonly protocol: Protocol;
  readonly target: TargetName;
  /** The rate offered (h2load --rps x connections). */
  readonly offeredPerSecond: number;
  /** Connections it was offered over (load.ts pacing()). */
  readonly connections: number;
  readonly requestsPerSecond: number;
  readonly requests: number;
  readonly failed: number;
  readonly latency: LatencyPercentiles;
  readonly cpu: StepCpu;
  /** How long the driver waited for a quiet machine before the window. */
  readonly quietWaitMs: number;
  readonly notes: readonly string[];
}

export interface TargetSummary {
  readonly runs: number;
  readonly maxRequestsPerSecond: number;
  readonly proxyCoresAtMax: number;
  /** maxRequestsPerSecond / proxyCoresAtMax: requests per CPU-second of the proxy. */
  readonly requestsPerProxyCpuSecond: number;
  readonly backendCoresAtMax: number;
  readonly machineBusyCoresAtMax: number;
  readonly halfLoadPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Median over runs of (this target's - direct's) at the same rate in the same run. */
  readonly addedP50Ms: number;
  readonly addedP99Ms: number;
  readonly proxyCoresAtHalfLoad: number;
  /** The same figures at the fixed rate. */
  readonly atFixedRate: PhaseSummary;
  readonly failedRequests: number;
}

export interface PhaseSummary {
  readonly offeredPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly addedP50Ms: number;
  readonly addedP99Ms: number;
  readonly proxyCores: number;
}

export interface ProtocolComparison {
  /** streammesh / haproxy, of the median maxima. */
  readonly rpsRatio: number;
  /** streammesh / haproxy, of requests per proxy CPU-second. */
  readonly rpsPerCpuRatio: number;
  /**
   * streammesh / bare-node, of requests per proxy CPU-second: the median of
   * the ratios of each run, both measured side by side in it (aim >= 0.9).
   */
  readonly perCoreVsBareNode: number;
  /** That ratio in each run (run order), where both were measured. */
  readonly perCoreVsBareNodeByRun: readonly number[];
  /** streammesh's median over the runs / bare-node's (how it was given until 2026-12-07). */
  readonly perCoreVsBareNodeOfMedians: number;
  /** streammesh / bare-node, of the median maxima. */
  readonly maxVsBareNode: number;
  /** streammesh-w2 / streammesh, of the median maxima. */
  readonly workers2OverWorkers1: number;
  readonly haproxyThreads2OverThreads1: number;
  readonly streammeshW2OverHaproxyW2: number;
  /** Per proxy target: added latency at half load (half phase). */
  readonly addedP50Ms: Partial<Record<TargetName, number>>;
  readonly addedP99Ms: Partial<Record<TargetName, number>>;
  readonly addedP99MsAtFixedRate: Partial<Record<TargetName, number>>;
  /** The aims; null when not measured. */
  readonly aims: {
    readonly rpsAtLeast06xHaproxy: boolean | null;
    readonly addedP99AtMost2Ms: boolean | null;
    readonly addedP99AtMost2MsAtFixedRate: boolean | null;
    readonly perCoreAtLeast09xBareNode: boolean | null;
    readonly growsWithWorkers: boolean | null;
  };
}

export interface BenchResults {
  readonly benchmark: 'http-proxy';
  readonly date: string;
  readonly command: string;
  readonly durationSeconds: number;
  readonly machine: Record<string, unknown>;
  readonly parameters: BenchParameters;
  readonly method: readonly string[];
  readonly backends: Record<Protocol, string>;
  /** Targets (or target/protocol pairs) that could not be measured, and why. */
  readonly setupErrors: Record<string, string>;
  readonly maxSteps: readonly MaxStep[];
  readonly latencySteps: readonly LatencyStep[];
  readonly summary: Partial<Record<Protocol, Partial<Record<TargetName, TargetSummary>>>>;
  readonly comparison: Partial<Record<Protocol, ProtocolComparison>>;
  /** streammesh's added p99 of HTTP/2 and gRPC over HTTP/1.1's, per latency phase. */
  readonly addedP99VsHttp1: Record<string, { readonly half: number; readonly fixed: number }>;
  readonly stoppedBy: string | null;
  readonly errors: readonly string[];
}
