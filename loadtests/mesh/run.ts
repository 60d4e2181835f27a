/**
 * `npm run bench:mesh`: benchmarks of the mesh across nodes (issue 16).
 * First its placement part (placement.ts): the control plane's placement
 * table (consistent hashing with bounded loads, sticky) against plain
 * consistent hashing and weighted rendezvous hashing, side by side in one
 * run, in this process: decision time (median, p99) at 100,000 sessions
 * over 100 simulated nodes, sessions moved when a node leaves and joins,
 * max/mean load. Repeated (3 runs by default, each on its own keys);
 * medians, ratios bounded/baseline and the aims. Output:
 * loadtests/results/mesh-placement.json and a table on stdout; about 15 s.
 * Then its push part (push.ts): a control plane and 500 simulated nodes
 * (gRPC clients) in this process; the time from a change of the control
 * plane's store until every node received it and its ACK is recorded, for
 * a config change, a new camera placed and a camera moved off a failed
 * node. Output: loadtests/results/mesh-push.json and a second table; about
 * 25 s.
 * Then its media part (media.ts): one camera and V viewers over one proxy
 * (A) and the same viewers spread over three proxies (B), as processes;
 * proxy CPU per viewer, B/A, also with no viewer (the mesh's fixed
 * cost), and the camera's sessions (1 in both). Output:
 * loadtests/results/mesh-media.json and a third table; about 4 minutes.
 *
 * Options: --quick (1 run, 20,000 sessions), --runs N, --nodes N,
 * --sessions N, --churn N, --lookups N, --new-after-join N,
 * --load-factor C, --virtual-nodes N, --profiles uniform,mixed,
 * --placers bounded,ring,rendezvous, --out DIR; for the push part
 * --push-nodes N (simulated nodes, default 500; --nodes is the placement
 * part's) and --push-changes N (changes of each kind, default 5); for the
 * media part --media-viewers N (default 30), --media-runs N (default 3),
 * --media-window-ms MS (default 10000), --media-settle-ms MS (default
 * 8000: a new mesh settles before its idle window), --media-warmup-ms MS
 * (default 3000: viewers playing before the window), --media-bitrate
 * KBPS (default 2000), --media-size WxH (default 640x360),
 * --media-pattern NAME (default snow); --only placement,push,media runs
 * only those parts.
 * Environment: BENCH_MESH_QUICK=1 is --quick; BENCH_MESH_ONLY is --only.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_LOAD_FACTOR } from '../../src/control-plane/placement/index.js';
import { int, log, runBench } from '../common/cli.js';
import { formattedJson } from '../rtp/report.js';
import { repoRoot } from '../common/streammesh-up.js';
import {
  runPlacement,
  timerOverheadUs,
  type PlacementParameters,
  type PlacementRunResult,
  type ProfileName,
} from './placement.js';
import { PLACER_NAMES } from './placers.js';
import { benchMedia } from './media.js';
import { removeMeshTempDirs } from './media-mesh.js';
import type { MediaParameters } from './media-results.js';
import { benchPush, type PushParameters } from './push.js';
import { resultTable, summarize } from './report.js';
import { meshResultHeader, type PlacementResults } from './results.js';

const PROFILE_NAMES: readonly ProfileName[] = ['uniform', 'mixed'];
const PART_NAMES = ['placement', 'push', 'media'] as const;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: process.env['BENCH_MESH_QUICK'] === '1' },
    runs: { type: 'string' },
    nodes: { type: 'string' },
    sessions: { type: 'string' },
    churn: { type: 'string' },
    lookups: { type: 'string' },
    'new-after-join': { type: 'string' },
    'load-factor': { type: 'string' },
    'virtual-nodes': { type: 'string' },
    profiles: { type: 'string' },
    placers: { type: 'string' },
    out: { type: 'string' },
    'push-nodes': { type: 'string' },
    'push-changes': { type: 'string' },
    only: { type: 'string', default: process.env['BENCH_MESH_ONLY'] },
    'media-viewers': { type: 'string' },
    'media-runs': { type: 'string' },
    'media-window-ms': { type: 'string' },
    'media-settle-ms': { type: 'string' },
    'media-warmup-ms': { type: 'string' },
    'media-bitrate': { type: 'string' },
    'media-size': { type: 'string' },
    'media-pattern': { type: 'string' },
  },
});

const quick = args.quick;
const parameters: PlacementParameters = {
  runs: int(args.runs, quick ? 1 : 3, 1, 20),
  nodes: int(args.nodes, 100, 2, 2_000),
  sessions: int(args.sessions, quick ? 20_000 : 100_000, 1, 1_000_000),
  churn: int(args.churn, quick ? 10_000 : 50_000, 0, 1_000_000),
  lookups: int(args.lookups, quick ? 10_000 : 50_000, 0, 1_000_000),
  newAfterJoin: int(args['new-after-join'], quick ? 5_000 : 20_000, 0, 1_000_000),
  loadFactor: loadFactorArg(args['load-factor']),
  virtualNodes: int(args['virtual-nodes'], 100, 1, 10_000),
  profiles: listArg(args.profiles, PROFILE_NAMES),
  placers: listArg(args.placers, PLACER_NAMES),
};
const pushParameters: PushParameters = {
  // At least 25: each move takes one node away, up to 20 of them.
  nodes: int(args['push-nodes'], 500, 25, 2_000),
  changes: int(args['push-changes'], 5, 1, 20),
};
const mediaParameters: MediaParameters = {
  runs: int(args['media-runs'], quick ? 1 : 3, 1, 20),
  viewers: int(args['media-viewers'], quick ? 12 : 30, 3, 600),
  settleMs: int(args['media-settle-ms'], quick ? 3_000 : 8_000, 0, 60_000),
  warmupMs: int(args['media-warmup-ms'], quick ? 1_000 : 3_000, 0, 60_000),
  windowMs: int(args['media-window-ms'], quick ? 4_000 : 10_000, 1_000, 120_000),
  camera: {
    size: sizeArg(args['media-size'] ?? '640x360'),
    bitrateKbps: int(args['media-bitrate'], 2_000, 100, 20_000),
    pattern: patternArg(args['media-pattern'] ?? 'snow'),
  },
};
const parts = listArg(args.only, PART_NAMES);
const outDir = args.out ?? join(repoRoot, 'loadtests', 'results');

function sizeArg(text: string): string {
  if (!/^\d{2,4}x\d{2,4}$/.test(text)) throw new Error(`--media-size: expected WxH, got "${text}"`);
  return text;
}

/** A videotestsrc pattern name: it goes into the camera's pipeline text. */
function patternArg(text: string): string {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(text)) {
    throw new Error(`--media-pattern: expected a videotestsrc pattern name, got "${text}"`);
  }
  return text;
}

function loadFactorArg(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LOAD_FACTOR;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 1 || value > 10) {
    throw new Error(`--load-factor: expected a number in (1, 10], got "${text}"`);
  }
  return value;
}

function listArg<T extends string>(text: string | undefined, all: readonly T[]): readonly T[] {
  if (text === undefined) return all;
  const chosen = text.split(',').map((name) => name.trim());
  const unknown = chosen.filter((name) => !(all as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new Error(`unknown: ${unknown.join(', ')}; known: ${all.join(', ')}`);
  return all.filter((name) => chosen.includes(name));
}

async function main(): Promise<void> {
  if (parts.includes('placement')) await benchPlacement();
  if (parts.includes('push')) await benchPush(pushParameters, outDir);
  if (parts.includes('media')) await benchMedia(mediaParameters, outDir);
}

async function benchPlacement(): Promise<void> {
  const started = Date.now();
  const overhead = timerOverheadUs();
  const runs: PlacementRunResult[] = [];
  for (let run = 0; run < parameters.runs; run++) {
    log(
      `run ${run + 1}/${parameters.runs}: ${parameters.profiles.join(', ')} x ${parameters.placers.join(', ')}`,
    );
    runs.push(runPlacement(parameters, run));
  }
  const results: PlacementResults = {
    ...meshResultHeader('mesh-placement', started),
    parameters,
    method: [
      'In one process, no sockets: each algorithm is driven through the same sequence on the same simulated nodes and keys.',
      'bounded: the control plane PlacementTable (src/control-plane/placement), consistent hashing with bounded loads (load factor c), weights = declared sessions, ring points in proportion to weight, sticky assignments. ring: plain consistent hashing on the same ring, no bound, stateless. rendezvous: weighted rendezvous hashing (score w / -ln(u)), stateless.',
      'Profiles: uniform = every node declares 2000 sessions; mixed = 1000, 2000, 4000 in turn.',
      'fill: sessions new keys placed, each assign() timed with performance.now(). churn: at full size, release a random live key and place a new one, the placement timed (the figure quoted as the decision time). lookup: assign() of a random live key.',
      'maxMeanLoad: max over nodes of load/weight, over (sessions / sum of weights), after churn.',
      'leave: node-1 removed, then settle (rebalance() for bounded, timed with the removal); moved = live keys whose assign() answer changed; ideal = node-1 share of the weight (1/N when weights are equal); ratioToLeaverSessions = moved / sessions node-1 held (1 = only its sessions moved).',
      'join: a node of mean weight added after the leave, then settle; moved counted the same way (a stateless scheme ideally moves the joiner share, a sticky one 0); then newAfterJoin churn steps and the share of their new keys placed on the joiner.',
      'Each run uses its own keys and churn sequence (seeded); medians over runs; ratios are bounded over baseline of medians.',
      'hash: ns per key of hash32 (FNV-1a + MurmurHash3 fmix32) and of node:crypto SHA-1 (createHash per key), same keys.',
    ],
    timerOverheadUs: overhead,
    runs,
    ...summarize(runs, parameters),
  };
  mkdirSync(outDir, { recursive: true });
  const jsonFile = join(outDir, 'mesh-placement.json');
  writeFileSync(jsonFile, await formattedJson(jsonFile, results));
  process.stdout.write(`${resultTable(results)}\n`);
  log(`wrote ${jsonFile} in ${results.durationSeconds} s`);
}

await runBench('bench:mesh', main, {
  message: "stopping the media part's camera and mesh processes",
  cleanup: removeMeshTempDirs,
});
