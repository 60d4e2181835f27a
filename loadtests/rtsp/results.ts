/** The shape of loadtests/results/rtsp.json. */
import type { ViewerTransport } from './messages.js';

/**
 * The targets: `proxy` is `streammesh up` with proxy.workers 1 (every viewer
 * on the main thread, as before the spread), `proxy-w2` with proxy.workers 2
 * (UDP viewer tracks spread over the two media workers), `direct` the camera.
 */
export type ProxyTargetName = 'proxy' | 'proxy-w2';
export type TargetName = ProxyTargetName | 'direct';

export const TARGET_NAMES: readonly TargetName[] = ['proxy', 'proxy-w2', 'direct'];
export const PROXY_TARGETS: readonly ProxyTargetName[] = ['proxy', 'proxy-w2'];
/** proxy.workers of each proxy target (STREAMMESH_PROXY_WORKERS of its `streammesh up`). */
export const PROXY_WORKERS: Readonly<Record<ProxyTargetName, number>> = {
  proxy: 1,
  'proxy-w2': 2,
};

export function isProxyTarget(target: TargetName): target is ProxyTargetName {
  return target !== 'direct';
}

export interface BenchParameters {
  readonly steps: readonly number[];
  /** Bisections between the last N at zero loss and the first with loss. */
  readonly refine: number;
  /** Re-runs of each target's largest N served. */
  readonly confirm: number;
  /** Runs of the key step (every target at half the smallest of their largest N served). */
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
  /**
   * Cores used over the window (1 = one core busy), utime+stime from
   * /proc/<pid>/stat (all threads: a proxy's media workers count): the
   * proxy the step goes through (proxy, proxy-w2); for direct steps the
   * idle `proxy` (workers 1), or the idle `proxy-w2` when it is the only one.
   */
  readonly proxy: number;
  /** Every proxy running during the window (the target's own and the idle one), by target. */
  readonly proxies: Partial<Record<ProxyTargetName, number>>;
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
   * fans out: the target's proxy for `proxy` and `proxy-w2`, the camera for
   * `direct`. `all-in` divides its whole CPU by N; `marginal` first
   * subtracts its cost with no viewer of its own (a proxy: idle, measured
   * during the other targets' steps; camera: serving only the proxies' own
   * sessions, measured during the proxy steps).
   */
  readonly fanoutMillicoresPerViewer: { readonly allIn: number; readonly marginal?: number };
  /** The same CPU per RTP packet delivered to viewers, µs. */
  readonly fanoutMicrosPerPacket: { readonly allIn: number; readonly marginal?: number };
  /**
   * Proxy targets: the proxy's media workers and where its UDP viewer tracks
   * were once every viewer had started (one track per UDP viewer), from its
   * admin /metrics. A proxy-w2 step with any UDP viewer track not on a
   * worker, or a proxy step with any on one, is an error, not a step.
   */
  readonly workers?: {
    /** proxy.workers: media worker threads (streammesh_proxy_worker_up series). */
    readonly workers: number;
    /** streammesh_proxy_worker_rtsp_viewer_tracks{worker}: each worker's own count, by worker index. */
    readonly viewerTracks: readonly number[];
    /** UDP viewers that opened (one track each). */
    readonly udpViewersOpened: number;
    /** Of their tracks, those on the main thread: opened - the workers' sum. */
    readonly onMain: number;
  };
  /** Camera sessions opened from the viewers' first SETUP to the window's end (proxy: 0, it keeps its one; direct: N). */
  readonly cameraSessionsOpened: number;
  /** Proxy-side counters over the window (GET /streams): the target's proxy; for direct, the idle one of `cpu.proxy`. */
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
  /** Half the smallest of the targets' largest N served (rounded to 5). */
  readonly viewers: number;
  /** Medians over its runs (series step if any, and repeats); null: the target did not run. */
  readonly proxy: KeyFigures | null;
  readonly 'proxy-w2': KeyFigures | null;
  readonly direct: KeyFigures | null;
  /** proxy / direct (null when either did not run). */
  readonly ratios: KeyRatios | null;
  /** proxy-w2 / proxy: what spreading the UDP viewers over 2 media workers changes. */
  readonly w2OverProxy: KeyRatios | null;
  /** proxy-w2 / direct. */
  readonly w2OverDirect: KeyRatios | null;
}

/** x / y of the key step's figures, and of the two targets' largest N served. */
export interface KeyRatios {
  readonly fanoutCores: number;
  readonly allInMillicoresPerViewer: number;
  readonly marginalMillicoresPerViewer: number;
  readonly systemMillicoresPerViewer: number;
  readonly marginalMicrosPerPacket: number;
  readonly largestServedN: number;
}

export interface KeyFigures {
  readonly samples: number;
  readonly servedSamples: number;
  readonly fanoutCores: number;
  readonly allInMillicoresPerViewer: number;
  readonly marginalMillicoresPerViewer: number;
  readonly marginalMicrosPerPacket: number;
  readonly cameraCores: number;
  /** Proxy + camera (proxy targets), camera (direct): what serving N viewers costs the machine. */
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
  /**
   * Each proxy target's `streammesh up`: its proxy.workers (checked at start
   * against the workers its /metrics report) and its media port range.
   */
  readonly proxies: Partial<
    Record<
      ProxyTargetName,
      {
        readonly workers: number;
        readonly rtpPorts: { readonly start: number; readonly end: number };
      }
    >
  >;
  readonly baselines: {
    /** Each proxy's cores with no viewers of its own (median over the other targets' steps). */
    readonly proxyIdleCores: Partial<Record<ProxyTargetName, number>>;
    /** Camera sessions the proxies hold (one per proxy running, always on). */
    readonly cameraProxySessions: number;
    /** Camera cores serving only those sessions (median over the proxy targets' steps). */
    readonly cameraProxySessionsCores: number;
  };
  readonly steps: readonly StepResult[];
  /** Every target; one not run has largestServedN null and no runs. */
  readonly summary: Record<TargetName, TargetSummary>;
  readonly keyStep: KeyStep | null;
  readonly stoppedBy: string | null;
  readonly errors: readonly string[];
}
