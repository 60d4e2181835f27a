/** Medians over the runs, added latency against direct, and streammesh/haproxy ratios. */
import { median, round } from '../rtp/stats.js';
import type { Protocol, TargetName } from './endpoints.js';
import type {
  BenchResults,
  LatencyStep,
  MaxStep,
  ProtocolComparison,
  TargetSummary,
} from './results.js';

/** The aims for the HTTP proxy. */
export const AIMS = { rpsRatio: 0.6, addedP99Ms: 2 } as const;

export function summarize(
  protocols: readonly Protocol[],
  targets: readonly TargetName[],
  maxSteps: readonly MaxStep[],
  latencySteps: readonly LatencyStep[],
): Pick<BenchResults, 'summary' | 'comparison'> {
  const summary: BenchResults['summary'] = {};
  const comparison: BenchResults['comparison'] = {};
  for (const protocol of protocols) {
    const byTarget: Partial<Record<TargetName, TargetSummary>> = {};
    for (const target of targets) {
      const maxima = maxSteps.filter((s) => s.protocol === protocol && s.target === target);
      const latencies = latencySteps.filter((s) => s.protocol === protocol && s.target === target);
      if (maxima.length === 0 && latencies.length === 0) continue;
      const added = (pick: (step: LatencyStep) => number): number =>
        round(
          median(
            latencies.map((step) => {
              const direct = latencySteps.find(
                (d) => d.protocol === protocol && d.target === 'direct' && d.run === step.run,
              );
              return direct === undefined ? Number.NaN : pick(step) - pick(direct);
            }),
          ),
          3,
        );
      const maxRps = round(median(maxima.map((s) => s.requestsPerSecond)), 0);
      const proxyCores = round(median(maxima.map((s) => s.cpu.proxy)), 3);
      byTarget[target] = {
        runs: Math.max(maxima.length, latencies.length),
        maxRequestsPerSecond: maxRps,
        proxyCoresAtMax: proxyCores,
        requestsPerProxyCpuSecond: round(
          median(maxima.map((s) => s.requestsPerSecond / s.cpu.proxy)),
          0,
        ),
        backendCoresAtMax: round(median(maxima.map((s) => s.cpu.backend)), 3),
        machineBusyCoresAtMax: round(median(maxima.map((s) => s.cpu.machineBusy)), 2),
        halfLoadPerSecond: round(median(latencies.map((s) => s.offeredPerSecond)), 0),
        p50Ms: round(median(latencies.map((s) => s.latency.p50Ms)), 3),
        p99Ms: round(median(latencies.map((s) => s.latency.p99Ms)), 3),
        addedP50Ms: target === 'direct' ? 0 : added((s) => s.latency.p50Ms),
        addedP99Ms: target === 'direct' ? 0 : added((s) => s.latency.p99Ms),
        proxyCoresAtHalfLoad: round(median(latencies.map((s) => s.cpu.proxy)), 3),
        failedRequests: [...maxima, ...latencies].reduce((sum, s) => sum + s.failed, 0),
      };
    }
    summary[protocol] = byTarget;
    comparison[protocol] = compare(byTarget['haproxy'], byTarget['streammesh']);
  }
  return { summary, comparison };
}

function compare(
  haproxy: TargetSummary | undefined,
  streammesh: TargetSummary | undefined,
): ProtocolComparison {
  const ratio = (x: number | undefined, y: number | undefined): number =>
    x === undefined || y === undefined || !(y > 0) ? Number.NaN : round(x / y, 3);
  const rpsRatio = ratio(streammesh?.maxRequestsPerSecond, haproxy?.maxRequestsPerSecond);
  const addedP99 = streammesh?.addedP99Ms;
  const known = (value: number | undefined): value is number =>
    value !== undefined && Number.isFinite(value);
  return {
    rpsRatio,
    rpsPerCpuRatio: ratio(
      streammesh?.requestsPerProxyCpuSecond,
      haproxy?.requestsPerProxyCpuSecond,
    ),
    addedP50Ms: {
      ...(known(haproxy?.addedP50Ms) ? { haproxy: haproxy.addedP50Ms } : {}),
      ...(known(streammesh?.addedP50Ms) ? { streammesh: streammesh.addedP50Ms } : {}),
    },
    addedP99Ms: {
      ...(known(haproxy?.addedP99Ms) ? { haproxy: haproxy.addedP99Ms } : {}),
      ...(known(addedP99) ? { streammesh: addedP99 } : {}),
    },
    aims: {
      rpsAtLeast06xHaproxy: Number.isFinite(rpsRatio) ? rpsRatio >= AIMS.rpsRatio : null,
      addedP99AtMost2Ms: known(addedP99) ? addedP99 <= AIMS.addedP99Ms : null,
    },
  };
}
