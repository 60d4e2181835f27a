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
}

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
  readonly failedRequests: number;
}

export interface ProtocolComparison {
  /** streammesh / haproxy, of the median maxima. */
  readonly rpsRatio: number;
  /** streammesh / haproxy, of requests per proxy CPU-second. */
  readonly rpsPerCpuRatio: number;
  readonly addedP50Ms: Partial<Record<'haproxy' | 'streammesh', number>>;
  readonly addedP99Ms: Partial<Record<'haproxy' | 'streammesh', number>>;
  /** The aims; null when not measured. */
  readonly aims: {
    readonly rpsAtLeast06xHaproxy: boolean | null;
    readonly addedP99AtMost2Ms: boolean | null;
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
  readonly stoppedBy: string | null;
  readonly errors: readonly string[];
}
