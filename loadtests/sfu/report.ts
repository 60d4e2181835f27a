/** The SFU benchmark's table on stdout and its chart (hand-written SVG). */
import type { SideName } from './messages.js';
import { finalAttempts, type BenchResults, type StepResult } from './results.js';
import { text } from '../common/svg.js';

const COLORS: Record<SideName, string> = {
  streammesh: '#54a24b',
  bare: '#f58518',
  'one-node': '#54a24b',
  'two-nodes': '#4c78a8',
};
const LABELS: Record<SideName, string> = {
  streammesh: 'streammesh signaling (1 worker)',
  bare: 'bare mediasoup (1 worker)',
  'one-node': 'one signaling node (1 worker)',
  'two-nodes': 'two cascaded nodes (1 worker each, same 2 cores)',
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
    'softirq',
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
      step.cpu.softirq.toFixed(2),
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
  const [mine = 'streammesh', theirs = 'bare'] = c.sides;
  lines.push(
    `${mine} / ${theirs}: max consumers x${c.maxConsumersRatio ?? '-'}; at ${c.commonStep ?? '-'} consumers ` +
      `worker CPU ${c.workerCpu[mine] ?? '-'} / ${c.workerCpu[theirs] ?? '-'} cores (x${c.workerCpuRatio ?? '-'}), ` +
      `node CPU ${c.nodeCpu[mine] ?? '-'} / ${c.nodeCpu[theirs] ?? '-'} cores`,
  );
  lines.push(...cascadeLines(results));
  lines.push(`machine busy before the run: ${results.idleMachineBusy} cores`);
  lines.push(`reference: ${results.reference}`);
  return lines.join('\n');
}

/** --nodes 2: the cascade's worker CPU per step and the latency trials. */
function cascadeLines(results: BenchResults): string[] {
  const lines: string[] = [];
  const cascade = results.cascade;
  if (cascade !== undefined) {
    lines.push(
      '',
      'cascade worker CPU (cores): consumers, piped producers, two nodes (A+B), one node, extra, mCPU per piped producer',
    );
    for (const step of cascade.steps) {
      lines.push(
        `  ${step.consumers}  ${step.pipedProducers}  ${step.twoNodesWorkers.join('+')}=${step.twoNodesWorker}  ` +
          `${step.oneNodeWorker}  ${step.extraWorkerCores}  ${step.extraMillicoresPerPipedProducer ?? '-'}`,
      );
    }
    lines.push(
      `cascade: ${cascade.extraMillicoresPerPipedProducer ?? '-'} worker millicores per piped producer ` +
        `(median, steps >= 100 consumers); workers two nodes / one node x${cascade.workerCpuRatio ?? '-'}`,
    );
  }
  const latency = results.latency;
  if (latency !== undefined && latency !== null) {
    const pair = (d: { p50: number | null; p99: number | null }): string =>
      `${d.p50 ?? '-'} / ${d.p99 ?? '-'}`;
    const adds = latency.cascadeAddsMs;
    lines.push(
      `latency, ${latency.trials.length} trials (${latency.incomplete} incomplete), ms after produce, p50 / p99, on A | on B:`,
      `  produce answered on A   ${pair(latency.answeredMs)}`,
      `  newProducer             ${pair(latency.newProducerMs.a)}  |  ${pair(latency.newProducerMs.b)}  (B-A per trial ${pair(adds.newProducer)})`,
      `  consume answered        ${pair(latency.consumeAnsweredMs.a)}  |  ${pair(latency.consumeAnsweredMs.b)}  (B-A of p50 ${adds.consumeAnsweredP50 ?? '-'})`,
      `  consumed (SDP, resume)  ${pair(latency.consumedMs.a)}  |  ${pair(latency.consumedMs.b)}  (B-A of p50 ${adds.consumedP50 ?? '-'})`,
      `  first RTP               ${pair(latency.firstRtpMs.a)}  |  ${pair(latency.firstRtpMs.b)}  (B-A of p50 ${adds.firstRtpP50 ?? '-'})`,
    );
  }
  return lines;
}

const WIDTH = 900;
const PANEL_H = 170;
const LEFT = 70;
const PLOT_W = 760;

interface Panel {
  readonly title: string;
  readonly value: (step: StepResult) => number;
  /** Drawn dashed. */
  readonly limit: number;
  /** The axis ends here; larger values are drawn at the top with their value. */
  readonly max: number;
}

/**
 * Three panels over consumers, one line per side (each step's last
 * attempt): loss (%), the worker's CPU and the whole machine's (cores).
 */
export function chartSvg(results: BenchResults): string {
  const { sides, maxLossPercent } = results.parameters;
  const cores = Number(results.machine['cores']) || 2;
  const lines = new Map(sides.map((side) => [side, finalAttempts(results.steps, side)]));
  const maxX = Math.max(1, ...results.steps.map((s) => s.consumers));
  const parts: string[] = [
    text(
      16,
      28,
      results.parameters.nodes === 2
        ? 'Consumers at <= 1% loss: one signaling node vs two cascaded nodes on the same cores'
        : 'Consumers per mediasoup worker: streammesh signaling vs bare mediasoup',
      16,
      'bold',
    ),
    text(
      16,
      48,
      `rooms of ${results.parameters.publishersPerRoom} werift publishers x ${results.parameters.subscribersPerRoom} werift subscribers, VP8 ${results.parameters.source.bitrateKbps} kbit/s; ${cores} cores shared by the SFU and the load; ${results.date.slice(0, 10)}`,
      11,
      'normal',
      '#555',
    ),
  ];
  const panels: Panel[] = [
    {
      title: `loss at the subscribers, % (limit ${maxLossPercent}%)`,
      value: (s) => s.lossPercent,
      limit: maxLossPercent,
      max: Math.max(5, maxLossPercent * 5),
    },
    {
      title: "mediasoup worker CPU (every node's), cores",
      value: (s) => s.cpu.worker,
      limit: 1,
      max: 1.2,
    },
    {
      title: `whole machine busy, cores of ${cores} (SFU, werift generators, kernel, others)`,
      value: (s) => s.cpu.machineBusy,
      limit: cores,
      max: cores * 1.1,
    },
  ];
  panels.forEach((panel, p) => {
    const top = 80 + p * (PANEL_H + 46);
    const x = (v: number): number => LEFT + (v / maxX) * PLOT_W;
    const y = (v: number): number => top + PANEL_H - (Math.min(v, panel.max) / panel.max) * PANEL_H;
    parts.push(
      text(LEFT, top - 8, panel.title, 12, 'bold', '#333'),
      `<rect x="${LEFT}" y="${top}" width="${PLOT_W}" height="${PANEL_H}" fill="none" stroke="#ccc"/>`,
      `<line x1="${LEFT}" y1="${y(panel.limit).toFixed(1)}" x2="${LEFT + PLOT_W}" y2="${y(panel.limit).toFixed(1)}" stroke="#999" stroke-dasharray="4 4"/>`,
      text(LEFT - 6, top + 10, String(panel.max), 10, 'normal', '#555', 'end'),
      text(LEFT - 6, top + PANEL_H, '0', 10, 'normal', '#555', 'end'),
    );
    const ticks = [...new Set(results.steps.map((s) => s.consumers))];
    for (const tick of ticks) {
      parts.push(text(x(tick), top + PANEL_H + 13, String(tick), 9, 'normal', '#777', 'middle'));
    }
    for (const [sideIndex, side] of sides.entries()) {
      const steps = (lines.get(side) ?? []).filter((s) => Number.isFinite(panel.value(s)));
      if (steps.length === 0) continue;
      const points = steps.map((s) => [x(s.consumers), y(panel.value(s))] as const);
      parts.push(
        `<polyline points="${points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ')}" fill="none" stroke="${COLORS[side]}" stroke-width="2"/>`,
      );
      steps.forEach((step, i) => {
        const [px, py] = points[i] ?? [0, 0];
        const value = panel.value(step);
        parts.push(
          `<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="3" fill="${step.served ? COLORS[side] : '#fff'}" stroke="${COLORS[side]}"/>`,
        );
        if (value > panel.max) {
          const labelY = py + 12 + sideIndex * 11;
          parts.push(text(px - 6, labelY, `${value}`, 9, 'normal', COLORS[side], 'end'));
        }
      });
    }
  });
  const legendTop = 80 + panels.length * (PANEL_H + 46) - 4;
  sides.forEach((side, i) => {
    const s = results.summary[side];
    const yy = legendTop + i * 18;
    parts.push(
      `<rect x="${LEFT}" y="${yy - 10}" width="12" height="12" fill="${COLORS[side]}"/>`,
      text(
        LEFT + 18,
        yy,
        `${LABELS[side]}: ${s?.maxConsumers ?? 'no'} consumers served` +
          ((s?.firstFailed?.saturated.length ?? 0) > 0
            ? `; next step: ${s?.firstFailed?.saturated.join(' and ') ?? ''} saturated`
            : ''),
        11,
      ),
    );
  });
  parts.push(
    text(
      LEFT,
      legendTop + sides.length * 18,
      'hollow point: step not served',
      10,
      'normal',
      '#777',
    ),
  );
  const height = legendTop + sides.length * 18 + 14;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
