/** The media part's summary (medians per setup, ratios B/A, aims) and the table printed on stdout. */
import { median, round } from '../rtp/stats.js';
import {
  MEDIA_SETUPS,
  type MediaParameters,
  type MediaResults,
  type MediaSetupName,
  type MediaSetupRun,
  type MediaSetupSummary,
} from './media-results.js';

/** The bound on what the mesh may cost per viewer, B over A. */
export const MAX_PER_VIEWER_RATIO = 1.3;

type Summary = Pick<MediaResults, 'medians' | 'ratios' | 'aims'>;

export function summarizeMedia(
  runs: readonly MediaSetupRun[],
  parameters: MediaParameters,
): Summary {
  const of = (setup: MediaSetupName): MediaSetupSummary => {
    const mine = runs.filter((run) => run.setup === setup);
    const med = (pick: (run: MediaSetupRun) => number, digits: number): number =>
      round(median(mine.map(pick)), digits);
    const cores = (pick: (run: MediaSetupRun) => number): number =>
      med((run) => pick(run) / run.windowSeconds, 3);
    return {
      runs: mine.length,
      proxyCpuSeconds: med((run) => run.proxyCpuSeconds, 2),
      proxyCores: cores((run) => run.proxyCpuSeconds),
      proxyMillicoresPerViewer: med((run) => run.proxyMillicoresPerViewer, 3),
      proxyUsPerPacket: med((run) => run.proxyUsPerPacket, 2),
      idleProxyCores: med((run) => run.idleProxyCores, 3),
      marginalMillicoresPerViewer: med((run) => run.marginalMillicoresPerViewer, 3),
      controlPlaneCores: cores((run) => run.controlPlaneCpuSeconds),
      cameraCores: cores((run) => run.cameraCpuSeconds),
      viewersCores: cores((run) => run.viewersCpuSeconds),
      machineBusyCores: med((run) => run.machineBusyCores, 3),
      packetsDelivered: med((run) => run.packetsDelivered, 0),
      packetsLost: med((run) => run.packetsLost, 0),
      streamPacketsPerSecond: med((run) => run.streamPacketsPerSecond, 1),
      cameraSessions: mine.map((run) => run.cameraSessions),
    };
  };
  const medians = { oneProxy: of('oneProxy'), threeProxies: of('threeProxies') };
  const ratio = (pick: (summary: MediaSetupSummary) => number): number => {
    const a = pick(medians.oneProxy);
    return a === 0 ? Number.NaN : round(pick(medians.threeProxies) / a, 3);
  };
  const ratios = {
    proxyMillicoresPerViewer: ratio((s) => s.proxyMillicoresPerViewer),
    proxyUsPerPacket: ratio((s) => s.proxyUsPerPacket),
    idleProxyCores: ratio((s) => s.idleProxyCores),
    marginalMillicoresPerViewer: ratio((s) => s.marginalMillicoresPerViewer),
    controlPlaneCores: ratio((s) => s.controlPlaneCores),
    packetsDelivered: ratio((s) => s.packetsDelivered),
  };
  return {
    medians,
    ratios,
    aims: {
      perViewerWithin1_3x: ratios.proxyMillicoresPerViewer <= MAX_PER_VIEWER_RATIO,
      oneCameraSession:
        runs.length === parameters.runs * 2 && runs.every((run) => run.cameraSessions === 1),
    },
  };
}

export function mediaTable(results: MediaResults): string {
  const header = [
    'setup',
    'viewers',
    'proxy CPU (cores)',
    'mCPU/viewer',
    'µs/pkt',
    'idle proxy CPU',
    'marginal mCPU/viewer',
    'control plane',
    'camera',
    'viewers CPU',
    'machine',
    'pkt/s per viewer',
    'lost',
    'camera sessions',
  ];
  const rows = (Object.keys(MEDIA_SETUPS) as MediaSetupName[]).map((setup) => {
    const m = results.medians[setup];
    return [
      MEDIA_SETUPS[setup].label,
      String(results.parameters.viewers),
      m.proxyCores.toFixed(3),
      m.proxyMillicoresPerViewer.toFixed(2),
      m.proxyUsPerPacket.toFixed(1),
      m.idleProxyCores.toFixed(3),
      m.marginalMillicoresPerViewer.toFixed(2),
      m.controlPlaneCores.toFixed(3),
      m.cameraCores.toFixed(3),
      m.viewersCores.toFixed(3),
      m.machineBusyCores.toFixed(2),
      m.streamPacketsPerSecond.toFixed(1),
      String(m.packetsLost),
      m.cameraSessions.join(','),
    ];
  });
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  const { ratios, aims, parameters } = results;
  const yes = (met: boolean): string => (met ? 'yes' : 'NO');
  return [
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
    `media: one camera (${parameters.camera.size}, ${parameters.camera.bitrateKbps} kbit/s ${parameters.camera.pattern}), ${parameters.viewers} TCP viewers; CPU from /proc/<pid>/stat over ${parameters.windowMs / 1000} s windows (cores), proxy CPU summed over the proxies; medians of ${parameters.runs} run(s) per setup`,
    `idle = the proxies with no viewer (camera pulled, hops flowing), same window before the viewers; marginal = (proxy CPU - idle) / viewers`,
    `B/A: CPU per viewer ${ratios.proxyMillicoresPerViewer}, per packet ${ratios.proxyUsPerPacket}, idle ${ratios.idleProxyCores}, marginal per viewer ${ratios.marginalMillicoresPerViewer}, control plane ${ratios.controlPlaneCores}, packets delivered ${ratios.packetsDelivered}`,
    `aims: mesh per viewer <= ${MAX_PER_VIEWER_RATIO}x ${yes(aims.perViewerWithin1_3x)}, one camera session per setup ${yes(aims.oneCameraSession)}`,
  ].join('\n');
}
