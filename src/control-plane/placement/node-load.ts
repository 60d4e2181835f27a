/**
 * From a node's declared capacity and load report to the two numbers
 * placement uses: its weight (how many sessions it can carry) and its fill
 * (the share of that capacity in use).
 */
import type { Capacity } from '../../protocol/mesh/index.js';

/** The measures of a load report that fill is computed from (LoadReport, LoadRecord). */
export interface MeasuredLoad {
  readonly packetsPerSecond: number;
  readonly bitrateBps: number;
  readonly cpuCores: number;
  readonly sessions: number;
  readonly capacity: Capacity;
}

/** A node's weight: the sessions it declares it can carry. */
export function weightOf(capacity: Capacity): number {
  return capacity.sessions;
}

/**
 * The share of its declared capacity a node uses: the largest of packets/s,
 * bit/s and sessions, each over its declared figure, so whichever resource
 * runs out first decides. CPU enters only when the caller knows how many
 * cores the node may use (`cpuCores`); a node does not declare it.
 */
export function fillOf(load: MeasuredLoad, cpuCores?: number): number {
  const shares = [
    ratio(load.packetsPerSecond, load.capacity.packetsPerSecond),
    ratio(load.bitrateBps, load.capacity.bitrateBps),
    ratio(load.sessions, load.capacity.sessions),
  ];
  if (cpuCores !== undefined) shares.push(ratio(load.cpuCores, cpuCores));
  return Math.max(...shares);
}

function ratio(used: number, declared: number): number {
  return declared > 0 && Number.isFinite(used) && used > 0 ? used / declared : 0;
}
