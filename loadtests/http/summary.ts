/**
 * Medians over the runs, added latency against direct, and the ratios the
 * issue asks for: streammesh/bare-node requests/s per core, workers 2/1,
 * added p99 of HTTP/2 and gRPC against HTTP/1.1, streammesh/haproxy.
 */
import { median, round } from '../rtp/stats.js';
import type { Protocol, TargetName } from './endpoints.js';
import type {
  BenchResults,
  LatencyPhase,
  LatencyStep,
  MaxStep,
  PhaseSummary,
  ProtocolComparison,
  TargetSummary,
} from './results.js';

/** The aims for the HTTP proxy. */
export const AIMS = {
  rpsRatio: 0.6,
  addedP99Ms: 2,
  perCoreVsBareNode: 0.9,
} as const;

export function summarize(
  protocols: readonly Protocol[],
  targets: readonly TargetName[],
  maxSteps: readonly MaxStep[],
  latencySteps: readonly LatencyStep[],
): Pick<BenchResults, 'summary' | 'comparison' | 'addedP99VsHttp1'> {
  const summary: BenchResults['summary'] = {};
  const comparison: BenchResults['comparison'] = {};
  for (const protocol of protocols) {
    const byTarget: Partial<Record<TargetName, TargetSummary>> = {};
    for (const target of targets) {
      const maxima = maxSteps.filter((s) => s.protocol === protocol && s.target === target);
      const phase = (name: LatencyPhase): PhaseSummary =>
        phaseSummary(latencySteps, protocol, target, name);
      const half = phase('half');
      const latencies = latencySteps.filter((s) => s.protocol === protocol && s.target === target);
      if (maxima.length === 0 && latencies.length === 0) continue;
      byTarget[target] = {
        runs: Math.max(
          maxima.length,
          ...['half', 'fixed'].map((p) => latencies.filter((s) => s.phase === p).length),
        ),
        maxRequestsPerSecond: round(median(maxima.map((s) => s.requestsPerSecond)), 0),
        proxyCoresAtMax: round(median(maxima.map((s) => s.cpu.proxy)), 3),
        requestsPerProxyCpuSecond: round(median(maxima.map(perProxyCore)), 0),
        backendCoresAtMax: round(median(maxima.map((s) => s.cpu.backend)), 3),
        machineBusyCoresAtMax: round(median(maxima.map((s) => s.cpu.machineBusy)), 2),
        halfLoadPerSecond: half.offeredPerSecond,
        p50Ms: half.p50Ms,
        p99Ms: half.p99Ms,
        addedP50Ms: half.addedP50Ms,
        addedP99Ms: half.addedP99Ms,
        proxyCoresAtHalfLoad: half.proxyCores,
        atFixedRate: phase('fixed'),
        failedRequests: [...maxima, ...latencies].reduce((sum, s) => sum + s.failed, 0),
      };
    }
    summary[protocol] = byTarget;
    comparison[protocol] = compare(byTarget, perCoreByRun(maxSteps, protocol));
  }
  return { summary, comparison, addedP99VsHttp1: versusHttp1(summary) };
}

function phaseSummary(
  steps: readonly LatencyStep[],
  protocol: Protocol,
  target: TargetName,
  phase: LatencyPhase,
): PhaseSummary {
  const mine = steps.filter(
    (s) => s.protocol === protocol && s.target === target && s.phase === phase,
  );
  const added = (pick: (step: LatencyStep) => number): number =>
    target === 'direct'
      ? 0
      : round(
          median(
            mine.map((step) => {
              const direct = steps.find(
                (d) =>
                  d.protocol === protocol &&
                  d.target === 'direct' &&
                  d.run === step.run &&
                  d.phase === phase,
              );
              return direct === undefined ? Number.NaN : pick(step) - pick(direct);
            }),
          ),
          3,
        );
  return {
    offeredPerSecond: round(median(mine.map((s) => s.offeredPerSecond)), 0),
    p50Ms: round(median(mine.map((s) => s.latency.p50Ms)), 3),
    p99Ms: round(median(mine.map((s) => s.latency.p99Ms)), 3),
    addedP50Ms: added((s) => s.latency.p50Ms),
    addedP99Ms: added((s) => s.latency.p99Ms),
    proxyCores: round(median(mine.map((s) => s.cpu.proxy)), 3),
  };
}

function ratio(x: number | undefined, y: number | undefined): number {
  return x === undefined || y === undefined || !(y > 0) || !Number.isFinite(x)
    ? Number.NaN
    : round(x / y, 3);
}

function known(value: number | undefined): value is number {
  return value !== undefined && Number.isFinite(value);
}

/** A maximum's requests per second of the proxy's CPU: the per-core measure. */
function perProxyCore(step: MaxStep): number {
  return step.requestsPerSecond / step.cpu.proxy;
}

/**
 * streammesh / bare-node requests per proxy CPU-second in each run where
 * both maxima were measured: the "side by side in one run".
 */
function perCoreByRun(maxSteps: readonly MaxStep[], protocol: Protocol): number[] {
  const perCore = (target: TargetName, run: number): number | undefined => {
    const step = maxSteps.find(
      (s) => s.protocol === protocol && s.target === target && s.run === run,
    );
    return step === undefined ? undefined : perProxyCore(step);
  };
  const runs = [...new Set(maxSteps.map((s) => s.run))].sort((a, b) => a - b);
  return runs
    .map((run) => ratio(perCore('streammesh', run), perCore('bare-node', run)))
    .filter((value) => Number.isFinite(value));
}

function compare(
  by: Partial<Record<TargetName, TargetSummary>>,
  perCoreVsBareByRun: readonly number[],
): ProtocolComparison {
  const haproxy = by['haproxy'];
  const streammesh = by['streammesh'];
  const rpsRatio = ratio(streammesh?.maxRequestsPerSecond, haproxy?.maxRequestsPerSecond);
  const perCoreVsBare =
    perCoreVsBareByRun.length === 0 ? Number.NaN : round(median(perCoreVsBareByRun), 3);
  const addedP99 = streammesh?.addedP99Ms;
  const addedP99Fixed = streammesh?.atFixedRate.addedP99Ms;
  const workersRatio = ratio(
    by['streammesh-w2']?.maxRequestsPerSecond,
    streammesh?.maxRequestsPerSecond,
  );
  const pick = (field: (s: TargetSummary) => number): Partial<Record<TargetName, number>> => {
    const out: Partial<Record<TargetName, number>> = {};
    for (const [name, s] of Object.entries(by) as [TargetName, TargetSummary][]) {
      if (name !== 'direct' && known(field(s))) out[name] = field(s);
    }
    return out;
  };
  return {
    rpsRatio,
    rpsPerCpuRatio: ratio(
      streammesh?.requestsPerProxyCpuSecond,
      haproxy?.requestsPerProxyCpuSecond,
    ),
    perCoreVsBareNode: perCoreVsBare,
    perCoreVsBareNodeByRun: perCoreVsBareByRun,
    perCoreVsBareNodeOfMedians: ratio(
      streammesh?.requestsPerProxyCpuSecond,
      by['bare-node']?.requestsPerProxyCpuSecond,
    ),
    maxVsBareNode: ratio(streammesh?.maxRequestsPerSecond, by['bare-node']?.maxRequestsPerSecond),
    workers2OverWorkers1: workersRatio,
    haproxyThreads2OverThreads1: ratio(
      by['haproxy-w2']?.maxRequestsPerSecond,
      haproxy?.maxRequestsPerSecond,
    ),
    streammeshW2OverHaproxyW2: ratio(
      by['streammesh-w2']?.maxRequestsPerSecond,
      by['haproxy-w2']?.maxRequestsPerSecond,
    ),
    addedP50Ms: pick((s) => s.addedP50Ms),
    addedP99Ms: pick((s) => s.addedP99Ms),
    addedP99MsAtFixedRate: pick((s) => s.atFixedRate.addedP99Ms),
    aims: {
      rpsAtLeast06xHaproxy: Number.isFinite(rpsRatio) ? rpsRatio >= AIMS.rpsRatio : null,
      addedP99AtMost2Ms: known(addedP99) ? addedP99 <= AIMS.addedP99Ms : null,
      addedP99AtMost2MsAtFixedRate: known(addedP99Fixed) ? addedP99Fixed <= AIMS.addedP99Ms : null,
      perCoreAtLeast09xBareNode: Number.isFinite(perCoreVsBare)
        ? perCoreVsBare >= AIMS.perCoreVsBareNode
        : null,
      growsWithWorkers: Number.isFinite(workersRatio) ? workersRatio > 1 : null,
    },
  };
}

/** streammesh's added p99 of each protocol over HTTP/1.1's, at both latency rates. */
function versusHttp1(summary: BenchResults['summary']): BenchResults['addedP99VsHttp1'] {
  const out: BenchResults['addedP99VsHttp1'] = {};
  for (const target of ['streammesh', 'streammesh-w2'] as const) {
    const http1 = summary.http1?.[target];
    if (http1 === undefined) continue;
    for (const protocol of ['http2', 'grpc'] as const) {
      const other = summary[protocol]?.[target];
      if (other === undefined) continue;
      out[`${target} ${protocol}/http1`] = {
        half: ratio(other.addedP99Ms, http1.addedP99Ms),
        fixed: ratio(other.atFixedRate.addedP99Ms, http1.atFixedRate.addedP99Ms),
      };
    }
  }
  return out;
}
