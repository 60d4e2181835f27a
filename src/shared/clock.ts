/** Injected wherever time decides an outcome, so tests can state exact times. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * Monotonic milliseconds that every thread of the process reads alike
 * (CLOCK_MONOTONIC, through process.hrtime.bigint): for times threads hand each
 * other, such as an outlier ejection's end, which a wall-clock step must
 * neither bring forward nor hold back. performance.now() is monotonic too,
 * but counts from each thread's own start.
 */
export const sharedMonotonicClock: Clock = {
  now: () => Number(process.hrtime.bigint()) / 1_000_000,
};
