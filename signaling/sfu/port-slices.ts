/**
 * Splits one RTC port range into a disjoint slice per worker. A worker keeps
 * its slice across restarts, so two live workers never bind the same port and a
 * restarted worker never competes with a sibling for one.
 *
 * Cascade pipes (signaling/cascade) are made by the rooms a node shares with
 * others, not by a participant, so no participant budget holds them back:
 * they bind only in the top 1/PIPE_PORT_SHARE of their worker's slice
 * (`pipePortRange`). Participants keep the rest of every slice whatever
 * rooms are shared; they may also take ports of the pipes' part.
 */
import { StreammeshError } from '../../src/shared/errors.js';

export interface PortRange {
  readonly min: number;
  readonly max: number;
}

/** The fewest ports a worker may get: one WebRTC transport needs at least one. */
export const MIN_PORTS_PER_WORKER = 2;

/**
 * `count` consecutive slices of [min, max], each of `floor(total / count)`
 * ports; the last slice also takes the remainder.
 */
export function splitPortRange(range: PortRange, count: number): PortRange[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new StreammeshError(
      'ERR_SFU_PORT_RANGE',
      `worker count must be a positive integer, got ${count}`,
    );
  }
  const { min, max } = range;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
    throw new StreammeshError('ERR_SFU_PORT_RANGE', `bad RTC port range [${min}, ${max}]`);
  }
  const total = max - min + 1;
  const per = Math.floor(total / count);
  if (per < MIN_PORTS_PER_WORKER) {
    throw new StreammeshError(
      'ERR_SFU_PORT_RANGE',
      `RTC port range [${min}, ${max}] has ${total} ports: too few for ${count} workers (${MIN_PORTS_PER_WORKER} each at least)`,
    );
  }
  const slices: PortRange[] = [];
  for (let index = 0; index < count; index += 1) {
    const first = min + index * per;
    slices.push({ min: first, max: index === count - 1 ? max : first + per - 1 });
  }
  return slices;
}

/** The part of a worker's slice cascade pipes may bind: one port in this many, at least one. */
export const PIPE_PORT_SHARE = 4;

/** The top 1/PIPE_PORT_SHARE of `slice` (at least its last port): where pipe transports bind. */
export function pipePortRange(slice: PortRange): PortRange {
  const total = slice.max - slice.min + 1;
  const ports = Math.max(1, Math.floor(total / PIPE_PORT_SHARE));
  return { min: slice.max - ports + 1, max: slice.max };
}
