/** The shape of loadtests/results/mesh-placement.json. */
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
  /** profile -> the bounded table against the aims (medians). */
  readonly aims: Record<string, PlacementAims>;
  readonly hash: { readonly fnvMixNs: number; readonly sha1Ns: number };
}
