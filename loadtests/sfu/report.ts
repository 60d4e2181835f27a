/** The SFU benchmark's table on stdout and its chart (hand-written SVG). */
import type { SideName } from './messages.js';
import type { BenchResults, StepResult } from './results.js';
import { text } from '../common/svg.js';

const COLORS: Record<SideName, string> = { streammesh: '#54a24b', bare: '#f58518' };
const LABELS: Record<SideName, string> = {
  streammesh: 'streammesh signaling node (WebSocket protocol, 1 worker)',
  bare: 'bare mediasoup (direct API, 1 worker)',
};

export function resultTable(results: BenchResults): string {
  const header = [
    'side',
    'consumers',
    'rooms',
    'served',
    'loss %',
    'start/stall',
    'pkt/s in',
    'expected',
    'worker',
    'node',
    'generators',
    'gen max',
    'machine',
    'others',
    'rcvbuf drops',
    'mCPU/consumer',
    'saturated',
  ];
  const rows: string[][] = [header];
  for (const step of results.steps) {
    rows.push([
      step.side,
      String(step.consumers),
      step.attempt > 1 ? `${step.rooms} (#${step.attempt})` : String(step.rooms),
      step.served ? 'yes' : `no: ${step.failedBy.join(',')}`,
      step.lossPercent.toFixed(3),
      `${step.notStarted}/${step.stalled}`,
      String(step.deliveredPps),
      String(step.expectedPps),
      step.cpu.worker.toFixed(3),
      step.cpu.node.toFixed(3),
      step.cpu.generators.toFixed(2),
      step.cpu.generatorMax.toFixed(2),
      step.cpu.machineBusy.toFixed(2),
      step.cpu.others.toFixed(2),
      String(step.udpRcvbufErrors),
      step.workerMillicoresPerConsumer.toFixed(2),
      step.saturated.join(',') || '-',
    ]);
  }
  const widths = header.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const lines = rows.map((row) =>
    row
      .map((cell, i) =>
        i === 0 || i === 3 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0),
      )
      .join('  '),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  lines.push(
    'CPU in cores (1 = one core busy); saturated: worker or a generator above 90% of a core (or its event loop 250 ms late), machine above 95% busy',
  );
  lines.push('');
  for (const side of results.parameters.sides) {
    const s = results.summary[side];
    if (s === undefined) continue;
    const failed = s.firstFailed;
    lines.push(
      `${side.padEnd(10)}  max consumers per worker at <= ${results.parameters.maxLossPercent}% loss: ` +
        `${s.maxConsumers ?? 'none'}; ` +
        (failed === null
          ? `ended by ${s.endedBy}`
          : `not served at ${failed.consumers} (${failed.failedBy.join(', ')}, loss ${failed.lossPercent}%` +
            `${failed.saturated.length > 0 ? `; saturated: ${failed.saturated.join(', ')}` : ''})`) +
        `; worker ${Number.isFinite(s.workerMillicoresPerConsumer) ? s.workerMillicoresPerConsumer : '-'} millicores per consumer` +
        ` (one core at that rate: ~${s.consumersPerWorkerCore ?? '-'} consumers, extrapolated)`,
    );
  }
  const c = results.comparison;
  lines.push(
    `streammesh / bare: max consumers x${c.maxConsumersRatio ?? '-'}; at ${c.commonStep ?? '-'} consumers ` +
      `worker CPU x${c.workerCpuRatio ?? '-'}, node CPU x${c.nodeCpuRatio ?? '-'}`,
  );
  lines.push(`machine busy before the run: ${results.idleMachineBusy} cores`);
  lines.push(`reference: ${results.reference}`);
  return lines.join('\n');
}

const WIDTH = 900;
const PANEL_H = 220;
const LEFT = 70;
const PLOT_W = 760;

/** Two panels over consumers: loss (%) and the worker's CPU (cores), one line per side. */
export function chartSvg(results: BenchResults): string {
  const sides = results.parameters.sides;
  const maxX = Math.max(1, ...results.steps.map((s) => s.consumers));
  const parts: string[] = [
    text(
      16,
      28,
      'mediasoup consumers per worker: streammesh signaling vs bare mediasoup',
      16,
      'bold',
    ),
    text(
      16,
      48,
      `${results.parameters.publishersPerRoom} werift publishers x ${results.parameters.subscribersPerRoom} werift subscribers per room, VP8 ${results.parameters.source.bitrateKbps} kbit/s; ${String(results.machine['cores'])} cores; ${results.date.slice(0, 10)}`,
      11,
      'normal',
      '#555',
    ),
  ];
  const panels = [
    {
      title: 'loss at the subscribers, % (limit dashed)',
      value: (s: StepResult) => s.lossPercent,
      limit: results.parameters.maxLossPercent,
    },
    { title: 'mediasoup worker CPU, cores', value: (s: StepResult) => s.cpu.worker, limit: 1 },
  ];
  panels.forEach((panel, p) => {
    const top = 80 + p * (PANEL_H + 50);
    const values = results.steps.map(panel.value).filter(Number.isFinite);
    const maxY = Math.max(panel.limit * 1.2, ...values, 0.001);
    const x = (v: number): number => LEFT + (v / maxX) * PLOT_W;
    const y = (v: number): number => top + PANEL_H - (Math.min(v, maxY) / maxY) * PANEL_H;
    parts.push(text(LEFT, top - 8, panel.title, 12, 'bold', '#333'));
    parts.push(
      `<rect x="${LEFT}" y="${top}" width="${PLOT_W}" height="${PANEL_H}" fill="none" stroke="#ccc"/>`,
      `<line x1="${LEFT}" y1="${y(panel.limit).toFixed(1)}" x2="${LEFT + PLOT_W}" y2="${y(panel.limit).toFixed(1)}" stroke="#999" stroke-dasharray="4 4"/>`,
      text(LEFT - 6, top + 10, maxY.toPrecision(2), 10, 'normal', '#555', 'end'),
      text(LEFT - 6, top + PANEL_H, '0', 10, 'normal', '#555', 'end'),
      text(LEFT + PLOT_W, top + PANEL_H + 16, `${maxX} consumers`, 10, 'normal', '#555', 'end'),
    );
    for (const side of sides) {
      const points = results.steps
        .filter((s) => s.side === side && Number.isFinite(panel.value(s)))
        .map((s) => `${x(s.consumers).toFixed(1)},${y(panel.value(s)).toFixed(1)}`);
      if (points.length === 0) continue;
      parts.push(
        `<polyline points="${points.join(' ')}" fill="none" stroke="${COLORS[side]}" stroke-width="2"/>`,
        ...points.map((point) => {
          const [cx, cy] = point.split(',');
          return `<circle cx="${cx ?? 0}" cy="${cy ?? 0}" r="3" fill="${COLORS[side]}"/>`;
        }),
      );
    }
  });
  const legendTop = 80 + panels.length * (PANEL_H + 50) - 10;
  sides.forEach((side, i) => {
    const s = results.summary[side];
    const yy = legendTop + i * 20;
    parts.push(
      `<rect x="${LEFT}" y="${yy - 10}" width="12" height="12" fill="${COLORS[side]}"/>`,
      text(
        LEFT + 18,
        yy,
        `${LABELS[side]}: max ${s?.maxConsumers ?? 'none'} consumers at <= ${results.parameters.maxLossPercent}% loss` +
          ((s?.firstFailed?.saturated.length ?? 0) > 0
            ? ` (then saturated: ${s?.firstFailed?.saturated.join(', ') ?? ''})`
            : ''),
        12,
      ),
    );
  });
  const height = legendTop + sides.length * 20 + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
