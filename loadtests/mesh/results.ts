/** The shape of loadtests/results/mesh-placement.json. */
import { machineInfo } from '../common/machine.js';
import { repoRoot } from '../common/streammesh-up.js';
import { round } from '../rtp/stats.js';
import type { PlacementParameters, PlacementRunResult } from './placement.js';

/** Every figure of one algorithm, flattened (`churn.p99Us`, `leave.ratioToIdeal`, ...). */
export type FlatFigures = Record<string, number>;

export interface PlacementAims {
  /** Decision time p99 at full size (new placements under churn) < 10 µs. */
  readonly decisionP99Under10us: boolean;
  /** Sessions moved when a node leaves within 1.2x its share of the weight. */
  readonly leaveWithin1_2xIdeal: boolean;
  /** Weighted max/mean load within the load factor. */
  readonly maxMeanWithinLoadFactor: boolean;
  /** A joining node moves no live session. */
  readonly joinMovesNoLiveSession: boolean;
}

export interface PlacementResults {
  readonly benchmark: 'mesh-placement';
  readonly date: string;
  readonly command: string;
  readonly durationSeconds: number;
  readonly machine: Record<string, unknown>;
  readonly parameters: PlacementParameters;
  readonly method: readonly string[];
  readonly timerOverheadUs: number;
  readonly runs: readonly PlacementRunResult[];
  /** profile -> algorithm -> medians over runs. */
  readonly medians: Record<string, Record<string, FlatFigures>>;
  /** profile -> `bounded/<baseline>` -> ratios of medians. */
  readonly ratios: Record<string, Record<string, FlatFigures>>;
  /** profile -> the bounded table against the issue's aims (medians). */
  readonly aims: Record<string, PlacementAims>;
  readonly hash: { readonly fnvMixNs: number; readonly sha1Ns: number };
}

/** What every bench:mesh part's JSON starts with: which benchmark, when, how, on what. */
export interface MeshResultHeader<Name extends string> {
  readonly benchmark: Name;
  readonly date: string;
  readonly command: string;
  readonly durationSeconds: number;
  readonly machine: Record<string, unknown>;
}

/** The header of a part that started at `startedMs` (Date.now()) and ends now. */
export function meshResultHeader<Name extends string>(
  benchmark: Name,
  startedMs: number,
): MeshResultHeader<Name> {
  const args = process.argv.slice(2);
  return {
    benchmark,
    date: new Date().toISOString(),
    command: `npm run bench:mesh${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
    durationSeconds: round((Date.now() - startedMs) / 1000),
    machine: machineInfo(repoRoot),
  };
}
