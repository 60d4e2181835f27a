/** The RTSP benchmark's table on stdout and its chart (hand-written SVG). */
import {
  isProxyTarget,
  TARGET_NAMES,
  type BenchResults,
  type KeyFigures,
  type KeyRatios,
  type StepResult,
  type TargetName,
} from './results.js';
import { text } from '../common/svg.js';

const COLORS: Record<TargetName, string> = {
  proxy: '#54a24b',
  'proxy-w2': '#4c78a8',
  direct: '#f58518',
};
const LABELS: Record<TargetName, string> = {
  proxy: 'proxy, workers 1 (all on its main thread)',
  'proxy-w2': 'proxy, workers 2 (UDP viewers on them)',
  direct: 'direct to the camera (N sessions)',
};

export function resultTable(results: BenchResults): string {
  const header = [
    'target',
    'N',
    'step',
    'served',
    'lost',
    'fail/stall',
    'delay p50/max ms',
    'OPTIONS ms',
    'pkt/s out',
    'proxy CPU',
    'camera CPU',
    'viewers CPU',
    'machine',
    'cam sess',
    'UDP tracks main|workers',
    'mCPU/viewer',
    'marginal',
    'µs/pkt',
  ];
  const rows: string[][] = [header];
  for (const step of results.steps) {
    rows.push([
      step.target,
      String(step.viewers),
      step.kind,
      step.served ? 'yes' : `no: ${step.failedBy.join(',')}`,
      fmt(step.lost),
      `${step.openFailures + step.notStarted}/${step.stalled}`,
      `${fmtOptional(step.lagMs.p50, 0)}/${fmtOptional(step.lagMs.max, 0)}`,
      `${fmtOptional(step.optionsMs.p50, 1)}/${fmtOptional(step.optionsMs.max, 0)}`,
      fmt(step.deliveredPps),
      step.cpu.proxy.toFixed(3),
      step.cpu.camera.toFixed(3),
      (step.cpu.udpViewers + step.cpu.tcpViewers).toFixed(2),
      step.cpu.machineBusy.toFixed(2),
      String(step.cameraSessionsOpened),
      step.workers === undefined
        ? '-'
        : `${step.workers.onMain}|${step.workers.viewerTracks.join('+')}`,
      step.fanoutMillicoresPerViewer.allIn.toFixed(2),
      fmtOptional(step.fanoutMillicoresPerViewer.marginal, 2),
      fmtOptional(step.fanoutMicrosPerPacket.marginal, 2),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const lines = rows.map((row) =>
    row
      .map((cell, i) =>
        i === 0 || i === 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0),
      )
      .join('  '),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const summary: string[] = [''];
  const ran = results.parameters.targets;
  for (const name of ran) {
    const s = results.summary[name];
    const runs = s.largestServedRuns;
    const workers = results.proxies[name as keyof BenchResults['proxies']]?.workers;
    summary.push(
      `${name.padEnd(8)}  ${workers === undefined ? '' : `(workers ${workers}) `}largest N at zero loss (served): ${s.largestServedN ?? 'none'}` +
        (runs.runs > 1 ? ` (served in ${runs.served} of ${runs.runs} runs)` : '') +
        (s.firstFailedN === null
          ? ', bound reached'
          : `; not served at N=${s.firstFailedN} (${s.firstFailedBy.join(', ')})`) +
        `; median mCPU/viewer over served steps ${fmtOptional(s.medianMillicoresPerViewer, 2)}` +
        ` (marginal ${fmtOptional(s.medianMarginalMillicoresPerViewer, 2)})`,
    );
  }
  const key = results.keyStep;
  if (key !== null) {
    summary.push(`key step N=${key.viewers}, medians over its runs:`);
    for (const name of TARGET_NAMES) {
      const f: KeyFigures | null = key[name];
      if (f === null) continue;
      summary.push(
        `  ${name.padEnd(8)}  ${f.samples} runs (${f.servedSamples} served): fan-out CPU ` +
          `${f.fanoutCores.toFixed(3)} cores (${isProxyTarget(name) ? 'proxy' : 'camera'}); ` +
          `mCPU/viewer ${f.allInMillicoresPerViewer.toFixed(2)} all-in, ` +
          `${fmtOptional(f.marginalMillicoresPerViewer, 2)} marginal; ` +
          `µs/packet ${fmtOptional(f.marginalMicrosPerPacket, 2)}; ` +
          `${isProxyTarget(name) ? 'camera+proxy' : 'camera'} mCPU/viewer ${f.systemMillicoresPerViewer.toFixed(2)}`,
      );
    }
    const ratioLine = (label: string, r: KeyRatios | null): void => {
      if (r === null) return;
      summary.push(
        `  ${label}: fan-out cores x${fmtOptional(r.fanoutCores, 2)}, ` +
          `mCPU/viewer x${fmtOptional(r.allInMillicoresPerViewer, 2)} all-in, ` +
          `x${fmtOptional(r.marginalMillicoresPerViewer, 2)} marginal, ` +
          `µs/packet x${fmtOptional(r.marginalMicrosPerPacket, 2)}, ` +
          `largest N served x${fmtOptional(r.largestServedN, 2)}`,
      );
    };
    ratioLine('proxy/direct', key.ratios);
    ratioLine('proxy-w2/proxy', key.w2OverProxy);
    ratioLine('proxy-w2/direct', key.w2OverDirect);
  }
  const idle = Object.entries(results.baselines.proxyIdleCores)
    .map(([name, cores]) => `${name} ${fmtOptional(cores, 3)}`)
    .join(', ');
  summary.push(
    `baselines: proxies idle ${idle === '' ? '-' : idle} cores; camera with the proxies' ` +
      `${results.baselines.cameraProxySessions} session(s) ` +
      `${fmtOptional(results.baselines.cameraProxySessionsCores, 3)} cores`,
  );
  if (results.stoppedBy !== null) summary.push(`stopped by: ${results.stoppedBy}`);
  for (const error of results.errors) summary.push(`error: ${error.split('\n')[0] ?? ''}`);
  return [...lines, ...summary].join('\n');
}

/** Two panels over N (log scale): fan-out CPU in cores, and millicores per viewer (marginal). */
export function chartSvg(results: BenchResults): string {
  const panelW = 380;
  const panelH = 220;
  const top = 108;
  const left = 60;
  const gap = 90;
  const steps = results.steps;
  const ns = steps.map((step) => step.viewers);
  const minN = Math.max(1, Math.min(...ns, 10));
  const maxN = Math.max(...ns, 20);
  const x = (n: number): number => (Math.log(n / minN) / Math.log(maxN / minN)) * panelW;
  const fanout = (step: StepResult): number =>
    isProxyTarget(step.target) ? step.cpu.proxy : step.cpu.camera;
  const marginal = (step: StepResult): number =>
    step.fanoutMillicoresPerViewer.marginal ?? step.fanoutMillicoresPerViewer.allIn;
  const panels = [
    {
      title: 'CPU of the fan-out process (cores): proxy, or camera',
      value: fanout,
      baseline: results.baselines.cameraProxySessionsCores,
    },
    { title: 'CPU per viewer, marginal (millicores)', value: marginal, baseline: Number.NaN },
  ];
  const parts: string[] = [];
  panels.forEach((panel, p) => {
    const ox = left + p * (panelW + gap);
    const values = [...steps.map(panel.value), panel.baseline].filter(Number.isFinite);
    const maxY = niceCeil(Math.max(...values, 0.001));
    const y = (value: number): number => top + panelH - (Math.max(0, value) / maxY) * panelH;
    parts.push(text(ox, top - 12, panel.title, 12, 'bold'));
    parts.push(line(ox, top + panelH, ox + panelW, top + panelH, '#999'));
    parts.push(line(ox, top, ox, top + panelH, '#999'));
    for (let i = 0; i <= 4; i++) {
      const value = (maxY * i) / 4;
      parts.push(line(ox - 4, y(value), ox + panelW, y(value), '#eee'));
      parts.push(text(ox - 8, y(value) + 4, formatTick(value), 10, 'normal', '#555', 'end'));
    }
    // Labels for the series' N only: bisections and the key step fall between them.
    for (const n of results.parameters.steps.filter((step) => ns.includes(step))) {
      parts.push(text(ox + x(n), top + panelH + 16, String(n), 10, 'normal', '#555', 'middle'));
    }
    if (Number.isFinite(panel.baseline)) {
      parts.push(
        `<line x1="${ox}" y1="${y(panel.baseline).toFixed(1)}" x2="${ox + panelW}" y2="${y(panel.baseline).toFixed(1)}" stroke="${COLORS.direct}" stroke-dasharray="4 3"/>`,
        text(
          ox + panelW - 4,
          y(panel.baseline) - 4,
          `camera with the proxies' ${results.baselines.cameraProxySessions} session(s) (encoding)`,
          10,
          'normal',
          '#555',
          'end',
        ),
      );
    }
    parts.push(
      text(
        ox + panelW / 2,
        top + panelH + 32,
        'viewers (N, log scale)',
        11,
        'normal',
        '#555',
        'middle',
      ),
    );
    for (const target of TARGET_NAMES) {
      const series = byN(
        steps.filter((step) => step.target === target),
        panel.value,
      );
      const points = series.map((s) => `${(ox + x(s.n)).toFixed(1)},${y(s.value).toFixed(1)}`);
      if (points.length > 1) {
        parts.push(
          `<polyline points="${points.join(' ')}" fill="none" stroke="${COLORS[target]}" stroke-width="2"/>`,
        );
      }
      for (const s of series) {
        const cx = ox + x(s.n);
        const cy = y(s.value);
        parts.push(
          s.zeroLoss
            ? `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="4" fill="${COLORS[target]}"/>`
            : `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="5" fill="#fff" stroke="#d62728" stroke-width="2"/>`,
        );
      }
    }
  });
  const width = left + 2 * panelW + gap + 30;
  const legendY = top + panelH + 56;
  const ran = results.parameters.targets;
  const legend = ran.map((target, i) => {
    const lx = left + i * 290;
    return [
      `<rect x="${lx}" y="${legendY - 9}" width="14" height="10" fill="${COLORS[target]}"/>`,
      text(lx + 20, legendY, LABELS[target], 11),
    ].join('');
  });
  legend.push(
    `<circle cx="${left + 5}" cy="${legendY + 14}" r="5" fill="#fff" stroke="#d62728" stroke-width="2"/>`,
    text(left + 20, legendY + 18, 'not served (loss, delay, failures)', 11),
  );
  const height = legendY + 34;
  const s = results.summary;
  const machine = results.machine;
  const stream = results.stream;
  const title = `streammesh RTSP fan-out — ${results.date.slice(0, 10)}, ${String(machine['cores'])} cores, ${String(machine['cpuModel'])}, commit ${String(machine['commit'])}`;
  const subtitle =
    `largest N at zero loss: ` +
    ran
      .map(
        (name) =>
          `${name} ${s[name].largestServedN ?? 'none'}${s[name].firstFailedN === null ? ' (bound)' : ''}`,
      )
      .join(', ') +
    (stream === null
      ? ''
      : `; camera stream ${Math.round(stream.packetsPerSecond)} pkt/s, ${Math.round(stream.kbps)} kbit/s`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(16, 26, title, 15, 'bold'),
    text(16, 46, subtitle, 12, 'normal', '#333'),
    text(16, 62, results.command, 10, 'normal', '#555'),
    text(
      16,
      76,
      'half UDP, half TCP viewers; camera, proxy and viewers on one machine; marginal: less the process’s CPU with no viewer of its own',
      10,
      'normal',
      '#555',
    ),
    ...parts,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}

/** Median value per N (a key step is run several times); a point is lossy if any run lost. */
function byN(
  steps: readonly StepResult[],
  value: (step: StepResult) => number,
): { n: number; value: number; zeroLoss: boolean }[] {
  const groups = new Map<number, StepResult[]>();
  for (const step of steps) groups.set(step.viewers, [...(groups.get(step.viewers) ?? []), step]);
  return [...groups.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([n, group]) => {
      const values = group.map(value).sort((a, b) => a - b);
      return {
        n,
        value: values[Math.floor((values.length - 1) / 2)] ?? 0,
        zeroLoss: group.every((step) => step.served),
      };
    });
}

function niceCeil(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 1.2, 1.6, 2, 2.4, 3.2, 4, 6, 8, 10]) if (m * power >= value) return m * power;
  return 10 * power;
}

function formatTick(value: number): string {
  return value >= 10 ? value.toFixed(0) : value >= 1 ? value.toFixed(1) : value.toFixed(2);
}

function fmt(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '-';
}

function fmtOptional(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string): string {
  return `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${stroke}"/>`;
}
