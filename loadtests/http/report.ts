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
  const comparisons = Object.entries(results.comparison).map(
    ([protocol, c]) =>
      `${protocol.padEnd(6)} streammesh/haproxy max req/s x${fmt(c.rpsRatio, 2)} ` +
      `(aim >= ${AIMS.rpsRatio}: ${verdict(c.aims.rpsAtLeast06xHaproxy)}), ` +
      `req/s per proxy core x${fmt(c.rpsPerCpuRatio, 2)}; added p99 streammesh ` +
      `${fmt(c.addedP99Ms.streammesh, 3)} ms, haproxy ${fmt(c.addedP99Ms.haproxy, 3)} ms ` +
      `(aim <= ${AIMS.addedP99Ms} ms: ${verdict(c.aims.addedP99AtMost2Ms)})`,
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
    `medians of ${results.parameters.repeats} run(s); latency at half load = half the lowest proxy maximum per run; +p50/+p99 = target - direct at that rate`,
    ...comparisons,
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
