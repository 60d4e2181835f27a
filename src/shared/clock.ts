/** Injected wherever time decides an outcome, so tests can state exact times. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
