/**
 * Circuit breaking per cluster, as Envoy does it: hard limits on connections,
 * pending requests, requests and retries in flight. When a limit is reached
 * the proxy fails fast (503 with an overflow counted) instead of queueing, so
 * one slow cluster cannot hold every downstream request and all memory.
 */

export type Release = () => void;

/** A release that acts once: a double release (error path plus finally) cannot underflow a counter. */
export function releaseOnce(release: () => void): Release {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    release();
  };
}

export const circuitResources = ['connections', 'pending', 'requests', 'retries'] as const;
export type CircuitResource = (typeof circuitResources)[number];

export type CircuitLimits = Readonly<Record<CircuitResource, number>>;

/** Envoy's defaults: generous except retries, which are what amplify an outage. */
export const defaultCircuitLimits: CircuitLimits = {
  connections: 1024,
  pending: 1024,
  requests: 1024,
  retries: 3,
};

export class CircuitBreaker {
  readonly #limits: CircuitLimits;
  readonly #active: Record<CircuitResource, number> = {
    connections: 0,
    pending: 0,
    requests: 0,
    retries: 0,
  };
  readonly #overflows: Record<CircuitResource, number> = {
    connections: 0,
    pending: 0,
    requests: 0,
    retries: 0,
  };

  constructor(limits: Partial<CircuitLimits> = {}) {
    this.#limits = { ...defaultCircuitLimits, ...limits };
    for (const kind of circuitResources) {
      const limit = this.#limits[kind];
      if (!Number.isInteger(limit) || limit < 0) {
        throw new RangeError(
          `circuit breaker limit ${kind} must be a non-negative integer, got ${limit}`,
        );
      }
    }
  }

  /** A release for one unit of `kind`, or `undefined` (and one overflow counted) when at the limit. */
  tryAcquire(kind: CircuitResource): Release | undefined {
    if (this.#active[kind] >= this.#limits[kind]) {
      this.#overflows[kind] += 1;
      return undefined;
    }
    this.#active[kind] += 1;
    return releaseOnce(() => {
      this.#active[kind] -= 1;
    });
  }

  active(kind: CircuitResource): number {
    return this.#active[kind];
  }

  limit(kind: CircuitResource): number {
    return this.#limits[kind];
  }

  /** Refusals since start, for `streammesh_http_cluster_overflow_total{resource}`. */
  overflows(kind: CircuitResource): number {
    return this.#overflows[kind];
  }
}
