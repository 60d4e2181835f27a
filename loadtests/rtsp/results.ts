/** The shape of loadtests/results/rtsp.json. */
import type { ViewerTransport } from './messages.js';

export type TargetName = 'proxy' | 'direct';

export interface BenchParameters {
  readonly steps: readonly number[];
  /** Bisections between the last N at zero loss and the first with loss. */
  readonly refine: number;
  /** Re-runs of each target's largest N served. */
  readonly confirm: number;
  /** Runs of the key step (both targets at half the smaller of their largest N served). */
  readonly repeats: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Bound on the wait for every viewer's first packet. */
  readonly startTimeoutMs: number;
  readonly openConcurrency: number;
  readonly keepaliveMs: number;
  readonly camera: {
    readonly size: string;
    readonly bitrateKbps: number;
    readonly pattern: string;
  };
  readonly maxMinutes: number;
  readonly targets: readonly TargetName[];
}

export interface CpuWindow {
  /** Cores used over the window (1 = one core busy), utime+stime from /proc/<pid>/stat. */
  readonly proxy: number;
  readonly camera: number;
  readonly udpViewers: number;
  readonly tcpViewers: number;
  /** All processes on the machine (/proc/stat), and the hypervisor's steal. */
  readonly machineBusy: number;
  /** Of machineBusy: interrupt and softirq time, billed to no process. */
  readonly softirq: number;
  readonly steal: number;
}

export interface StepResult {
  readonly target: TargetName;
  readonly viewers: number;
  readonly udpViewers: number;
  readonly tcpViewers: number;
  /** Series step, bisection, or repeat of the key step. */
  readonly kind: 'series' | 'refine' | 'confirm' | 'repeat';
  readonly openMs: number;
  /** One viewer's DESCRIBE + SETUP + PLAY, ms: median and slowest, per viewer process. */
  readonly handshakeMs: Record<ViewerTransport, { readonly p50: number; readonly max: number }>;
  readonly openFailures: number;
  readonly openErrors: readonly string[];
  /** Viewers with no packet by the end of the warm-up (the start wait is bounded). */
  readonly notStarted: number;
  /** Playing viewers that received nothing in the window, or whose connection closed. */
  readonly stalled: number;
  readonly windowMs: number;
  readonly received: number;
  readonly expected: number;
  /** Sum over viewers of max(0, expected - received) in the window. */
  readonly lost: number;
  readonly lostUdp: number;
  readonly lostTcp: number;
  readonly viewersWithLoss: number;
  readonly lossPercent: number;
  /** RTP packets/s delivered to all viewers, and per viewer (median). */
  readonly deliveredPps: number;
  readonly perViewerPps: number;
  readonly deliveredMbps: number;
  /**
   * How far behind real time viewers receive at the window's end, ms over
   * viewers (sequence.ts), and the median growth over the window: a relay
   * that cannot keep up queues (a growing delay) before it drops.
   */
  readonly lagMs: {
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
    readonly growthP50: number;
  };
  /** RTSP OPTIONS answer time of the target during the window, from an idle client. */
  readonly optionsMs: { readonly p50: number; readonly max: number; readonly unanswered: number };
  /**
   * Zero loss and every viewer served: all opened, all started, none
   * stalled, none more than 1 s behind real time. The series stops at the
   * first N that is not.
   */
  readonly served: boolean;
  readonly failedBy: readonly ('loss' | 'open' | 'start' | 'stall' | 'delay')[];
  readonly cpu: CpuWindow;
  /**
   * Millicores per viewer (CPU-ms per second per viewer) of the process that
   * fans out: the proxy for `proxy`, the camera for `direct`. `all-in`
   * divides its whole CPU by N; `marginal` first subtracts its cost with no
   * viewer of its own (proxy: idle, measured during the direct steps;
   * camera: one session, measured during the proxy steps).
   */
  readonly fanoutMillicoresPerViewer: { readonly allIn: number; readonly marginal?: number };
  /** The same CPU per RTP packet delivered to viewers, µs. */
  readonly fanoutMicrosPerPacket: { readonly allIn: number; readonly marginal?: number };
  /** Camera sessions opened from the viewers' first SETUP to the window's end (proxy: 0, it keeps its one; direct: N). */
  readonly cameraSessionsOpened: number;
  /** Proxy-side counters over the window (GET /streams). */
  readonly proxyCounters?: {
    readonly packetsIn: number;
    readonly drops: Record<string, number>;
    readonly upstreamLost: number;
    readonly sessionPacketsDropped: number;
    readonly upstreamTransport: string | null;
  };
  /** Kernel UDP drops at full receive buffers (any socket), and send-buffer errors. */
  readonly udpRcvbufErrors: number;
  readonly udpSndbufErrors: number;
}

export interface TargetSummary {
  /** Largest N served (zero loss, see StepResult.served); null when even the first step failed. */
  readonly largestServedN: number | null;
  /** All runs at that N (series or bisection, and confirm), and how many were served. */
  readonly largestServedRuns: { readonly served: number; readonly runs: number };
  /** Smallest N not served; null when none failed (the bound was reached first). */
  readonly firstFailedN: number | null;
  readonly firstFailedBy: readonly string[];
  /** Median over its served steps of millicores per viewer. */
  readonly medianMillicoresPerViewer: number;
  readonly medianMarginalMillicoresPerViewer: number;
}

export interface KeyStep {
  readonly viewers: number;
  /** Half the smaller largest N served; medians over its runs (series step if any, and repeats). */
  readonly proxy: KeyFigures;
  readonly direct: KeyFigures;
  /** proxy / direct. */
  readonly ratios: Record<string, number>;
}

export interface KeyFigures {
  readonly samples: number;
  readonly servedSamples: number;
  readonly fanoutCores: number;
  readonly allInMillicoresPerViewer: number;
  readonly marginalMillicoresPerViewer: number;
  readonly marginalMicrosPerPacket: number;
  readonly cameraCores: number;
  /** Proxy + camera (proxy target), camera (direct): what serving N viewers costs the machine. */
  readonly systemMillicoresPerViewer: number;
  readonly deliveredPps: number;
  readonly machineBusyCores: number;
}

export interface BenchResults {
  readonly benchmark: 'rtsp-fanout';
  readonly date: string;
  readonly command: string;
  readonly durationSeconds: number;
  readonly machine: Record<string, unknown>;
  readonly parameters: BenchParameters;
  readonly method: readonly string[];
  readonly stream: {
    readonly packetsPerSecond: number;
    readonly bytesPerPacket: number;
    readonly kbps: number;
  } | null;
  readonly baselines: {
    /** Proxy cores with no viewers (median over the direct steps). */
    readonly proxyIdleCores: number;
    /** Camera cores serving one session, the proxy's (median over the proxy steps). */
    readonly cameraOneSessionCores: number;
  };
  readonly steps: readonly StepResult[];
  readonly summary: Record<TargetName, TargetSummary>;
  readonly keyStep: KeyStep | null;
  readonly stoppedBy: string | null;
  readonly errors: readonly string[];
}
