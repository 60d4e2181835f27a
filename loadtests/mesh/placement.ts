/**
 * The placement benchmark: the control plane's PlacementTable (consistent
 * hashing with bounded loads, sticky) against plain consistent hashing and
 * weighted rendezvous hashing, on the same simulated nodes and keys, all in
 * this process. Per algorithm, weight profile and run:
 *
 * 1. fill: place `sessions` new keys, each decision timed;
 * 2. churn at full size: `churn` times, release a random live key and place
 *    a new one (the new placement timed); then `lookups` decisions for live
 *    keys (a sticky hit for the table, a recomputation for the baselines);
 * 3. load: max over nodes of load/weight against total/sum of weights;
 * 4. leave: node-1 is removed; the algorithm settles (the table's
 *    rebalance(), timed); every live key is asked for its node again and the
 *    changes counted, against the ideal (node-1's share of the weight);
 * 5. join: a node of mean weight is added; the same count (a sticky table
 *    must move none); then `newAfterJoin` churn steps, counting the share of
 *    new sessions the joiner gets.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { hash32 } from '../../src/control-plane/placement/index.js';
import { median, round } from '../rtp/stats.js';
import { createPlacer, type Placer, type PlacerName } from './placers.js';

export interface PlacementParameters {
  readonly runs: number;
  readonly nodes: number;
  readonly sessions: number;
  readonly churn: number;
  readonly lookups: number;
  readonly newAfterJoin: number;
  readonly loadFactor: number;
  readonly virtualNodes: number;
  readonly profiles: readonly ProfileName[];
  readonly placers: readonly PlacerName[];
}

export type ProfileName = 'uniform' | 'mixed';

/** Declared sessions (the weight) of node i. */
const PROFILES: Record<ProfileName, (index: number) => number> = {
  uniform: () => 2_000,
  // Three sizes of machine, in turn: 1000, 2000, 4000 sessions.
  mixed: (index) => 1_000 * 2 ** (index % 3),
};

export interface DecisionTimes {
  readonly samples: number;
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
}

export interface PlacerRun {
  readonly fill: DecisionTimes;
  readonly churn: DecisionTimes;
  readonly lookup: DecisionTimes;
  /** Keys no node could take (all at capacity); 0 in every profile here. */
  readonly unplaced: number;
  /** max(load_i / w_i) / (sessions / W) at full size after churn. */
  readonly maxMeanLoad: number;
  readonly leave: {
    readonly moved: number;
    readonly movedShare: number;
    /** The leaver's share of the weight: what an ideal scheme moves. */
    readonly idealShare: number;
    readonly ratioToIdeal: number;
    /** Moved against the sessions the leaver actually held: 1 = only its sessions moved. */
    readonly ratioToLeaverSessions: number;
    readonly settleMs: number;
    readonly maxMeanLoadAfter: number;
  };
  readonly join: {
    readonly moved: number;
    readonly movedShare: number;
    /** The joiner's share of the weight: what a stateless scheme ideally moves; a sticky one moves 0. */
    readonly fairShare: number;
    readonly newSessions: number;
    readonly newToJoinerShare: number;
  };
}

export interface HashCost {
  readonly keys: number;
  readonly fnvMixNs: number;
  readonly sha1Ns: number;
}

export interface PlacementRunResult {
  /** profile -> placer -> figures. */
  readonly profiles: Record<string, Record<string, PlacerRun>>;
  readonly hash: HashCost;
}

export function runPlacement(parameters: PlacementParameters, run: number): PlacementRunResult {
  const profiles: Record<string, Record<string, PlacerRun>> = {};
  for (const profile of parameters.profiles) {
    const perPlacer: Record<string, PlacerRun> = {};
    for (const name of parameters.placers) {
      const placer = createPlacer(name, parameters);
      perPlacer[name] = measurePlacer(placer, parameters, PROFILES[profile], run);
    }
    profiles[profile] = perPlacer;
  }
  return { profiles, hash: hashCost(Math.min(parameters.sessions, 20_000), run) };
}

function measurePlacer(
  placer: Placer,
  parameters: PlacementParameters,
  weightOf: (index: number) => number,
  run: number,
): PlacerRun {
  const weights = new Map<string, number>();
  for (let i = 0; i < parameters.nodes; i++) {
    weights.set(nodeId(i), weightOf(i));
    placer.addNode(nodeId(i), weightOf(i));
  }
  const random = xorshift(0x9e3779b9 + run);
  const live: string[] = [];
  let serial = 0;
  const newKey = (): string => `run${run}/camera-${serial++}`;
  let unplaced = 0;

  const fill = new Float64Array(parameters.sessions);
  for (let i = 0; i < parameters.sessions; i++) {
    const key = newKey();
    const start = performance.now();
    const node = placer.assign(key);
    fill[i] = performance.now() - start;
    if (node === undefined) unplaced++;
    else live.push(key);
  }

  /** Releases a random live key and places a new one in its slot; the node of the new key. */
  const churnStep = (times: Float64Array | undefined, index: number): string | undefined => {
    const slot = Math.floor(random() * live.length);
    placer.release(live[slot] ?? '');
    const key = newKey();
    const start = performance.now();
    const node = placer.assign(key);
    if (times !== undefined) times[index] = performance.now() - start;
    if (node === undefined) unplaced++;
    live[slot] = key;
    return node;
  };
  const churn = new Float64Array(parameters.churn);
  for (let i = 0; i < parameters.churn; i++) churnStep(churn, i);

  const lookup = new Float64Array(parameters.lookups);
  for (let i = 0; i < parameters.lookups; i++) {
    const key = live[Math.floor(random() * live.length)] ?? '';
    const start = performance.now();
    placer.assign(key);
    lookup[i] = performance.now() - start;
  }
  const maxMeanLoad = loadRatio(placer.loads(), weights);

  // Leave: node-1 goes away.
  const leaver = nodeId(1);
  let before = live.map((key) => placer.current(key));
  const leaverSessions = before.filter((node) => node === leaver).length;
  const leaverWeight = weights.get(leaver) ?? 0;
  const idealLeave = leaverWeight / sum(weights.values());
  const settleStart = performance.now();
  placer.removeNode(leaver);
  placer.settle();
  const settleMs = performance.now() - settleStart;
  weights.delete(leaver);
  const leaveMoved = changed(placer, live, before);
  const maxMeanLoadAfter = loadRatio(placer.loads(), weights);

  // Join: a node of the mean weight.
  const joiner = nodeId(parameters.nodes);
  const joinWeight = Math.round(sum(weights.values()) / weights.size);
  before = live.map((key) => placer.current(key));
  placer.addNode(joiner, joinWeight);
  placer.settle();
  weights.set(joiner, joinWeight);
  const joinMoved = changed(placer, live, before);
  let toJoiner = 0;
  for (let i = 0; i < parameters.newAfterJoin; i++) {
    if (churnStep(undefined, i) === joiner) toJoiner++;
  }

  return {
    fill: summarizeTimes(fill),
    churn: summarizeTimes(churn),
    lookup: summarizeTimes(lookup),
    unplaced,
    maxMeanLoad: round(maxMeanLoad, 3),
    leave: {
      moved: leaveMoved,
      movedShare: round(leaveMoved / live.length, 5),
      idealShare: round(idealLeave, 5),
      ratioToIdeal: round(leaveMoved / live.length / idealLeave, 3),
      ratioToLeaverSessions: round(leaveMoved / Math.max(1, leaverSessions), 3),
      settleMs: round(settleMs, 2),
      maxMeanLoadAfter: round(maxMeanLoadAfter, 3),
    },
    join: {
      moved: joinMoved,
      movedShare: round(joinMoved / live.length, 5),
      fairShare: round(joinWeight / sum(weights.values()), 5),
      newSessions: parameters.newAfterJoin,
      newToJoinerShare: round(toJoiner / Math.max(1, parameters.newAfterJoin), 5),
    },
  };
}

/** Live keys whose node is not the one in `before`. */
function changed(
  placer: Placer,
  live: readonly string[],
  before: readonly (string | undefined)[],
): number {
  let moved = 0;
  for (let i = 0; i < live.length; i++) {
    if (placer.assign(live[i] ?? '') !== before[i]) moved++;
  }
  return moved;
}

/** Weighted max/mean: the most loaded node per unit of weight, over the mean per unit of weight. */
function loadRatio(
  loads: ReadonlyMap<string, number>,
  weights: ReadonlyMap<string, number>,
): number {
  const total = sum(loads.values());
  const mean = total / sum(weights.values());
  let max = 0;
  for (const [id, weight] of weights) max = Math.max(max, (loads.get(id) ?? 0) / weight);
  return mean === 0 ? Number.NaN : max / mean;
}

function summarizeTimes(timesMs: Float64Array): DecisionTimes {
  const sorted = Float64Array.from(timesMs).sort();
  const quantile = (q: number): number =>
    (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN) * 1000;
  return {
    samples: sorted.length,
    meanUs: round((sum(sorted) / Math.max(1, sorted.length)) * 1000, 3),
    p50Us: round(quantile(0.5), 3),
    p99Us: round(quantile(0.99), 3),
    maxUs: round((sorted[sorted.length - 1] ?? Number.NaN) * 1000, 1),
  };
}

/**
 * ns per key of the ring's hash and of a SHA-1 from node:crypto over the
 * same keys: the median of 5 passes, each over every key.
 */
function hashCost(count: number, run: number): HashCost {
  const keys = Array.from({ length: count }, (_, i) => `run${run}/camera-${i}`);
  let sink = 0;
  const fnv: number[] = [];
  const sha1: number[] = [];
  for (let pass = 0; pass < 5; pass++) {
    let start = performance.now();
    for (const key of keys) sink ^= hash32(key);
    fnv.push(performance.now() - start);
    start = performance.now();
    for (const key of keys) sink ^= createHash('sha1').update(key).digest().readUInt32BE(0);
    sha1.push(performance.now() - start);
  }
  if (sink === 0.5) throw new Error('unreachable: keeps the loops from being optimized away');
  return {
    keys: count,
    fnvMixNs: round((median(fnv) * 1e6) / count, 1),
    sha1Ns: round((median(sha1) * 1e6) / count, 1),
  };
}

/** Cost of one performance.now() pair, in µs: included in every decision time above. */
export function timerOverheadUs(samples = 100_000): number {
  const times = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    times[i] = performance.now() - start;
  }
  return round(median(Array.from(times)) * 1000, 3);
}

function nodeId(index: number): string {
  return `node-${index}`;
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

/** A small seeded PRNG (xorshift32): the same churn on every run of the same seed. */
function xorshift(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}
