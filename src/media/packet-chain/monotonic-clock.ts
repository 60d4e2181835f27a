import { performance } from 'node:perf_hooks';
import type { Clock } from '../../shared/clock.js';

/**
 * The packet chains' default clock: monotonic milliseconds. Jitter, loss
 * intervals and outage gaps are differences of arrival times, which a wall
 * clock stepped by NTP would corrupt; `systemClock` (Date.now) is for dates.
 */
export const monotonicClock: Clock = { now: () => performance.now() };
