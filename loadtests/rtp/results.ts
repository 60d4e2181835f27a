/** The shape of loadtests/results/rtp.json. */
import type { LatencyResult, SearchResult } from './measure.js';

export interface BenchParameters {
  readonly runs: number;
  readonly streams: number;
  readonly sizes: readonly number[];
  readonly stepMs: number;
  readonly latencyMs: number;
  readonly drainMs: number;
  readonly warmupMs: number;
  readonly startPps: number;
  readonly maxPps: number;
  readonly bisections: number;
  readonly maxMinutes: number;
  readonly targets: readonly string[];
  /** Who made and took the load: rtp-load.c (c) or generator.ts/receiver.ts (node). */
  readonly load: 'c' | 'node';
  /** Latency at half of each target's own maximum, or at half the lowest maximum. */
  readonly latencyAt: 'own' | 'common';
  readonly streammeshVariants?: unknown;
}

export interface TargetRun {
  search?: SearchResult;
  latency?: LatencyResult;
  error?: string;
}

export interface SizeRun {
  commonRatePps?: number;
  targets: Record<string, TargetRun>;
}

export interface TargetSummary {
  readonly maxPps: number;
  readonly limitedBy: string;
  /** The rate of the latency phase (median over runs). */
  readonly latencyRatePps: number;
  readonly latencyP50Us: number;
  readonly latencyP99Us: number;
  readonly addedP50Us: number;
  readonly addedP99Us: number;
  readonly latencyLossPercent: number;
  readonly relayCpuCores: number;
  readonly packetsPerCpuSecond: number;
}

export interface BenchResults {
  readonly benchmark: 'rtp-relay';
  readonly date: string;
  readonly command: string;
  readonly durationSeconds: number;
  readonly machine: Record<string, unknown>;
  readonly parameters: BenchParameters;
  readonly method: readonly string[];
  readonly setupErrors: Record<string, string>;
  readonly runs: readonly Record<string, SizeRun>[];
  /** size -> target -> medians over runs. */
  readonly medians: Record<string, Record<string, TargetSummary>>;
  readonly ratios: Record<string, Record<string, Record<string, number>>>;
}
