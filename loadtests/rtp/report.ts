/** The benchmark's chart (hand-written SVG) and its table on stdout. */
import type { BenchResults, TargetSummary } from './results.js';
import { text } from '../common/svg.js';

const COLORS: Record<string, string> = {
  direct: '#9e9e9e',
  mmsg: '#6b6b6b',
  minimal: '#4c78a8',
  rtpengine: '#f58518',
  streammesh: '#54a24b',
  'streammesh-dgram': '#88d27a',
  'streammesh-w2': '#2e7d32',
  'rtpengine-srtp': '#ffbf79',
  'streammesh-srtp': '#9be28f',
  'streammesh-srtp-node': '#c5ecbd',
};

const ROW = 26;
const LABEL_W = 130;

/** Columns: max rate, p50 and p99 latency, each on its own linear scale. */
const COLUMNS = [
  { x: LABEL_W, bar: 250, title: 'max packets/s at zero loss' },
  { x: LABEL_W + 440, bar: 150, title: 'latency p50, µs' },
  { x: LABEL_W + 670, bar: 150, title: 'latency p99, µs' },
] as const;

export function chartSvg(results: BenchResults): string {
  const parts: string[] = [];
  let y = 78;
  for (const [size, medians] of Object.entries(results.medians)) {
    const names = Object.keys(medians);
    const common = results.runs.map((run) => run[size]?.commonRatePps).filter(Boolean);
    parts.push(
      text(16, y, `${size}-byte RTP packets, ${results.parameters.streams} streams`, 15, 'bold'),
    );
    const own = results.parameters.latencyAt === 'own';
    parts.push(
      text(
        LABEL_W + 440,
        y,
        own
          ? 'latency at half each target’s own max (direct: half the lowest max)'
          : `latency at ${common.map((pps) => formatPps(pps ?? 0)).join(' / ')} packets/s (one per run)`,
        11,
        'normal',
        '#555',
      ),
    );
    y += 22;
    const values = names.map((name) => medians[name] as TargetSummary);
    const columns = [
      values.map((v) => v.maxPps),
      values.map((v) => v.latencyP50Us),
      values.map((v) => v.latencyP99Us),
    ];
    for (const column of COLUMNS) {
      parts.push(text(column.x, y, column.title, 12, 'normal', '#444'));
    }
    y += 8;
    names.forEach((name, row) => {
      const summary = values[row] as TargetSummary;
      const color = COLORS[name] ?? '#777';
      parts.push(text(16, y + 17, name, 12));
      COLUMNS.forEach((column, i) => {
        const series = columns[i] ?? [];
        const scale = Math.max(1, ...series.map(finite));
        const value = series[row];
        const width = (finite(value) / scale) * column.bar;
        parts.push(rect(column.x, y + 4, width, ROW - 8, color));
        let label = i === 0 ? formatPps(value ?? Number.NaN) : fmt(value);
        if (i === 0 && summary.limitedBy.split(',').every((reason) => reason === 'generator')) {
          label += ' (generator ceiling)';
        }
        parts.push(text(column.x + width + 6, y + 17, label, 11));
      });
      y += ROW;
    });
    y += 30;
  }
  const width = LABEL_W + 670 + 150 + 90;
  const machine = results.machine;
  const title = `streammesh RTP relay benchmark — ${results.date.slice(0, 10)}, ${String(machine['cores'])} cores, ${String(machine['cpuModel'])}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(16, 26, title, 16, 'bold'),
    text(
      16,
      46,
      `${results.command}; medians of ${results.parameters.runs} run(s); generator, relay and receiver share the machine; *-srtp: RTP in, SRTP out`,
      11,
      'normal',
      '#555',
    ),
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** JSON as the repository's prettier writes it (so `npm run check` passes), when prettier is installed. */
export async function formattedJson(file: string, value: unknown): Promise<string> {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(text, { ...options, filepath: file });
  } catch {
    return text;
  }
}

export function resultTable(results: BenchResults): string {
  const header = [
    'size',
    'target',
    'max pps',
    'limit',
    'latency at pps',
    'p50 µs',
    'p99 µs',
    '+p50 µs',
    '+p99 µs',
    'relay CPU',
    'pps/core',
  ];
  const rows: string[][] = [header];
  for (const [size, medians] of Object.entries(results.medians)) {
    for (const [name, s] of Object.entries(medians)) {
      rows.push([
        size,
        name,
        fmt(s.maxPps),
        s.limitedBy,
        fmt(s.latencyRatePps),
        fmt(s.latencyP50Us),
        fmt(s.latencyP99Us),
        name === 'direct' ? '' : fmt(s.addedP50Us),
        name === 'direct' ? '' : fmt(s.addedP99Us),
        Number.isFinite(s.relayCpuCores) ? s.relayCpuCores.toFixed(2) : '-',
        fmt(s.packetsPerCpuSecond),
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
  const ratioLines: string[] = [];
  for (const [size, ratios] of Object.entries(results.ratios)) {
    for (const [name, values] of Object.entries(ratios)) {
      if (!Number.isFinite(values['maxPps'])) continue;
      ratioLines.push(
        `${size} B  ${name.padEnd(32)} max pps x${fmt(values['maxPps'], 2)}` +
          `  p50 x${fmt(values['latencyP50'], 2)}  p99 x${fmt(values['latencyP99'], 2)}` +
          `  pps/core x${fmt(values['packetsPerCpuSecond'], 2)}`,
      );
    }
  }
  const errors = Object.entries(results.setupErrors).map(
    ([name, error]) => `${name}: not measured: ${error.split('\n')[0] ?? ''}`,
  );
  return [...lines, '', 'ratios (of medians):', ...ratioLines, ...errors].join('\n');
}

function finite(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) ? value : 0;
}

function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return digits === 0 ? Math.round(value).toLocaleString('en-US') : value.toFixed(digits);
}

function formatPps(value: number): string {
  return Number.isFinite(value) ? `${(value / 1000).toFixed(1)}k` : '-';
}

function rect(x: number, y: number, w: number, h: number, fill: string, opacity = 1): string {
  return `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0, w).toFixed(1)}" height="${h}" fill="${fill}" fill-opacity="${opacity}"/>`;
}
