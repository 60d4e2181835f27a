/** The benchmark's table on stdout. */
import { AIMS } from './summary.js';
import type { BenchResults } from './results.js';

export function resultTable(results: BenchResults): string {
  const header = [
    'protocol',
    'target',
    'max req/s',
    'proxy CPU',
    'req/s per core',
    'backend CPU',
    'half load',
    'p50 ms',
    'p99 ms',
    '+p50 ms',
    '+p99 ms',
    'fixed',
    'p99 ms',
    '+p99 ms',
    'failed',
  ];
  const rows: string[][] = [header];
  for (const [protocol, targets] of Object.entries(results.summary)) {
    for (const [target, s] of Object.entries(targets)) {
      rows.push([
        protocol,
        target,
        fmt(s.maxRequestsPerSecond),
        fmt(s.proxyCoresAtMax, 2),
        fmt(s.requestsPerProxyCpuSecond),
        fmt(s.backendCoresAtMax, 2),
        fmt(s.halfLoadPerSecond),
        fmt(s.p50Ms, 3),
        fmt(s.p99Ms, 3),
        target === 'direct' ? '' : fmt(s.addedP50Ms, 3),
        target === 'direct' ? '' : fmt(s.addedP99Ms, 3),
        fmt(s.atFixedRate.offeredPerSecond),
        fmt(s.atFixedRate.p99Ms, 3),
        target === 'direct' ? '' : fmt(s.atFixedRate.addedP99Ms, 3),
        String(s.failedRequests),
      ]);
    }
  }
  const widths = header.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const lines = rows.map((row) =>
    row
      .map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  '),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const comparisons = Object.entries(results.comparison).flatMap(([protocol, c]) => [
    `${protocol.padEnd(6)} streammesh/bare-node req/s per core x${fmt(c.perCoreVsBareNode, 2)} ` +
      `(runs ${c.perCoreVsBareNodeByRun.map((r) => fmt(r, 2)).join(', ')}) ` +
      `(aim >= ${AIMS.perCoreVsBareNode}: ${verdict(c.aims.perCoreAtLeast09xBareNode)}), ` +
      `max x${fmt(c.maxVsBareNode, 2)}; workers 2/1 x${fmt(c.workers2OverWorkers1, 2)} ` +
      `(growing: ${verdict(c.aims.growsWithWorkers)}), haproxy nbthread 2/1 ` +
      `x${fmt(c.haproxyThreads2OverThreads1, 2)}`,
    `${' '.repeat(6)} streammesh/haproxy max x${fmt(c.rpsRatio, 2)}, per core ` +
      `x${fmt(c.rpsPerCpuRatio, 2)}, w2/haproxy-w2 x${fmt(c.streammeshW2OverHaproxyW2, 2)}; ` +
      `streammesh added p99 ${fmt(c.addedP99MsAtFixedRate.streammesh, 3)} ms at the fixed rate ` +
      `(aim <= ${AIMS.addedP99Ms} ms: ${verdict(c.aims.addedP99AtMost2MsAtFixedRate)}), ` +
      `${fmt(c.addedP99Ms.streammesh, 3)} ms at half load ` +
      `(${verdict(c.aims.addedP99AtMost2Ms)})`,
  ]);
  const versus = Object.entries(results.addedP99VsHttp1).map(
    ([name, r]) =>
      `${name} added p99: x${fmt(r.fixed, 2)} at the fixed rate, x${fmt(r.half, 2)} at half load`,
  );
  const problems = [
    ...Object.entries(results.setupErrors).map(
      ([name, error]) => `${name}: not measured: ${error.split('\n')[0] ?? ''}`,
    ),
    ...results.errors.map((error) => `error: ${error.split('\n')[0] ?? ''}`),
    ...(results.stoppedBy === null ? [] : [`stopped by ${results.stoppedBy}: partial results`]),
  ];
  return [
    ...lines,
    '',
    `medians of ${results.parameters.repeats} run(s); half load = half of streammesh's maximum per run; fixed = ${results.parameters.fixedRatePerSecond}/s over ${results.parameters.connections} connections; +p50/+p99 = target - direct at that rate`,
    ...comparisons,
    ...versus,
    ...problems,
  ].join('\n');
}

function verdict(met: boolean | null): string {
  return met === null ? 'not measured' : met ? 'met' : 'NOT met';
}

function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return digits === 0 ? Math.round(value).toLocaleString('en-US') : value.toFixed(digits);
}
