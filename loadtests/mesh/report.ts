/** The placement bench's summary: medians, ratios, aims, and the table printed on stdout. */
import { median, round } from '../rtp/stats.js';
import type { PlacementParameters, PlacementRunResult } from './placement.js';
import type { FlatFigures, PlacementAims, PlacementResults } from './results.js';

type Summary = Pick<PlacementResults, 'medians' | 'ratios' | 'aims' | 'hash'>;

export function summarize(
  runs: readonly PlacementRunResult[],
  parameters: PlacementParameters,
): Summary {
  const medians: Record<string, Record<string, FlatFigures>> = {};
  const ratios: Record<string, Record<string, FlatFigures>> = {};
  const aims: Record<string, PlacementAims> = {};
  for (const profile of parameters.profiles) {
    const perPlacer: Record<string, FlatFigures> = {};
    for (const placer of parameters.placers) {
      const flats = runs
        .map((run) => run.profiles[profile]?.[placer])
        .filter((figures) => figures !== undefined)
        .map((figures) => flatten(figures));
      perPlacer[placer] = medianOf(flats);
    }
    medians[profile] = perPlacer;
    const bounded = perPlacer['bounded'];
    if (bounded === undefined) continue;
    ratios[profile] = {};
    for (const [name, baseline] of Object.entries(perPlacer)) {
      if (name === 'bounded') continue;
      ratios[profile][`bounded/${name}`] = ratioOf(bounded, baseline, [
        'churn.p50Us',
        'churn.p99Us',
        'lookup.p50Us',
        'maxMeanLoad',
        'leave.movedShare',
        'join.movedShare',
      ]);
    }
    aims[profile] = {
      decisionP99Under10us: (bounded['churn.p99Us'] ?? Infinity) < 10,
      leaveWithin1_2xIdeal: (bounded['leave.ratioToIdeal'] ?? Infinity) <= 1.2,
      maxMeanWithinLoadFactor: (bounded['maxMeanLoad'] ?? Infinity) <= parameters.loadFactor,
      joinMovesNoLiveSession: runs.every(
        (run) => run.profiles[profile]?.['bounded']?.join.moved === 0,
      ),
    };
  }
  const hash = {
    fnvMixNs: round(median(runs.map((run) => run.hash.fnvMixNs)), 1),
    sha1Ns: round(median(runs.map((run) => run.hash.sha1Ns)), 1),
  };
  return { medians, ratios, aims, hash };
}

export function resultTable(results: PlacementResults): string {
  const header = [
    'profile',
    'algorithm',
    'new p50 µs',
    'new p99 µs',
    'lookup p50 µs',
    'max/mean',
    'leave moved',
    'x ideal',
    'join moved',
    'new to joiner',
    'fair share',
  ];
  const rows: string[][] = [header];
  for (const [profile, perPlacer] of Object.entries(results.medians)) {
    for (const [name, f] of Object.entries(perPlacer)) {
      rows.push([
        profile,
        name,
        fixed(f['churn.p50Us'], 2),
        fixed(f['churn.p99Us'], 2),
        fixed(f['lookup.p50Us'], 2),
        fixed(f['maxMeanLoad'], 3),
        percent(f['leave.movedShare']),
        fixed(f['leave.ratioToIdeal'], 2),
        percent(f['join.movedShare']),
        percent(f['join.newToJoinerShare']),
        percent(f['join.fairShare']),
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
  const aimLines = Object.entries(results.aims).map(
    ([profile, aims]) =>
      `${profile}: ${Object.entries(aims)
        .map(([aim, met]) => `${aim} ${met ? 'yes' : 'NO'}`)
        .join(', ')}`,
  );
  return [
    ...lines,
    '',
    `decision = one assign() at ${results.parameters.sessions.toLocaleString('en-US')} sessions over ${results.parameters.nodes} nodes (new key under churn; lookup = a live key); medians of ${results.parameters.runs} run(s); timer overhead ${results.timerOverheadUs} µs included`,
    `hash per key: FNV-1a+fmix32 ${results.hash.fnvMixNs} ns, node:crypto SHA-1 ${results.hash.sha1Ns} ns`,
    'aims (bounded):',
    ...aimLines,
  ].join('\n');
}

function flatten(value: object, prefix = ''): FlatFigures {
  const flat: FlatFigures = {};
  for (const [key, inner] of Object.entries(value) as [string, unknown][]) {
    const name = prefix === '' ? key : `${prefix}.${key}`;
    if (typeof inner === 'number') flat[name] = inner;
    else if (typeof inner === 'object' && inner !== null) {
      Object.assign(flat, flatten(inner, name));
    }
  }
  return flat;
}

function medianOf(flats: readonly FlatFigures[]): FlatFigures {
  const result: FlatFigures = {};
  for (const key of Object.keys(flats[0] ?? {})) {
    result[key] = round(median(flats.map((flat) => flat[key] ?? Number.NaN)), 5);
  }
  return result;
}

function ratioOf(a: FlatFigures, b: FlatFigures, keys: readonly string[]): FlatFigures {
  const result: FlatFigures = {};
  for (const key of keys) {
    const x = a[key];
    const y = b[key];
    if (x !== undefined && y !== undefined && y !== 0) result[key] = round(x / y, 3);
  }
  return result;
}

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

function percent(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '-' : `${(value * 100).toFixed(2)}%`;
}
