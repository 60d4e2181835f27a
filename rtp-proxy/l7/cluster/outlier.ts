/**
 * Passive outlier detection, after Envoy's: an endpoint that answers with too
 * many consecutive 5xx (or gateway errors: 502/503/504 and failed connects) is
 * ejected from its cluster for base x (number of times it was ejected), so a
 * host that keeps failing stays out longer each time while one that failed
 * once comes back quickly. At most `maxEjectionPercent` of the cluster is out
 * at once: when many hosts fail together the fault is more likely shared (a
 * database), and ejecting them all would turn partial failure into none served.
 *
 * Time is read from the injected clock on each call; un-ejection happens
 * lazily then, so there is no timer to leak.
 *
 * A proxy serving from several L7 threads has a detector per thread, each
 * counting the responses its own connections see. An ejection is still the
 * whole proxy's, as with Envoy's one detector over all its workers: the
 * thread that ejects tells the others (onEjected), which adopt it (adopt)
 * until the same time, so no thread keeps sending to an endpoint another
 * found failing. The cluster's clock is monotonic and the same in every
 * thread (sharedMonotonicClock): a wall-clock step moves no ejection's end.
 */
import type { Clock } from '../../../src/shared/clock.js';
import type { Endpoint } from './balancers.js';

export interface OutlierOptions {
  /** Consecutive 5xx (gateway errors included) that eject (Envoy default 5). */
  readonly consecutiveErrors: number;
  /** Consecutive gateway errors that eject (Envoy default 5). */
  readonly consecutiveGatewayErrors: number;
  /** The first ejection's length; the n-th lasts n times as long (Envoy default 30 s). */
  readonly baseEjectionMs: number;
  /** The longest ejection, however often an endpoint failed (Envoy default 300 s). */
  readonly maxEjectionMs: number;
  /** Never more than this share of the cluster ejected at once (Envoy default 10). */
  readonly maxEjectionPercent: number;
  readonly clock: Clock;
  /** Called when this detector ejects an endpoint (not for adopted ejections). */
  readonly onEjected?: (endpointId: string, ejection: Ejection) => void;
}

/** One ejection as another detector of the same cluster adopts it. */
export interface Ejection {
  /** Clock time at which it ends. */
  readonly until: number;
  /** How many times the endpoint has been ejected, this one included (the next one lasts longer). */
  readonly ejections: number;
}

/** What one response says about its endpoint. */
export type Outcome = 'success' | 'server-error' | 'gateway-error';

/** 502, 503 and 504 mean the endpoint (or what is behind it) is unreachable; other 5xx are its own errors. */
export function outcomeOf(status: number): Outcome {
  if (status === 502 || status === 503 || status === 504) return 'gateway-error';
  if (status >= 500 && status <= 599) return 'server-error';
  return 'success';
}

interface EndpointHealth {
  consecutiveErrors: number;
  consecutiveGatewayErrors: number;
  ejections: number;
  /** Clock time at which the current ejection ends; undefined while in service. */
  ejectedUntil: number | undefined;
}

export class OutlierDetector {
  readonly #options: OutlierOptions;
  readonly #endpoints = new Map<string, EndpointHealth>();
  #refused = 0;

  constructor(options: OutlierOptions) {
    this.#options = options;
  }

  /** Sets the cluster's members; state of those that left is dropped, new ones start healthy. */
  setEndpoints(ids: Iterable<string>): void {
    const wanted = new Set(ids);
    for (const id of this.#endpoints.keys()) if (!wanted.has(id)) this.#endpoints.delete(id);
    for (const id of wanted) {
      if (!this.#endpoints.has(id)) {
        this.#endpoints.set(id, {
          consecutiveErrors: 0,
          consecutiveGatewayErrors: 0,
          ejections: 0,
          ejectedUntil: undefined,
        });
      }
    }
  }

  /**
   * Counts one response (a connect failure is a gateway error). Results for an
   * unknown endpoint (removed while its request was in flight) are dropped.
   */
  record(endpointId: string, outcome: Outcome): void {
    const health = this.#endpoints.get(endpointId);
    if (health === undefined) return;
    this.#expire();
    if (outcome === 'success') {
      health.consecutiveErrors = 0;
      health.consecutiveGatewayErrors = 0;
      return;
    }
    health.consecutiveErrors += 1;
    if (outcome === 'gateway-error') health.consecutiveGatewayErrors += 1;
    else health.consecutiveGatewayErrors = 0;
    if (health.ejectedUntil !== undefined) return;
    if (
      health.consecutiveErrors >= this.#options.consecutiveErrors ||
      health.consecutiveGatewayErrors >= this.#options.consecutiveGatewayErrors
    ) {
      this.#eject(endpointId, health);
    }
  }

  /**
   * Takes an ejection another detector of this cluster decided (another L7
   * thread's), whatever this one counted: the endpoint is out until
   * `ejection.until` (or longer if this detector ejected it for longer).
   * The percentage cap is the deciding detector's to apply. Unknown
   * endpoints, and ejections already over, are ignored.
   */
  adopt(endpointId: string, ejection: Ejection): void {
    const health = this.#endpoints.get(endpointId);
    if (health === undefined || ejection.until <= this.#options.clock.now()) return;
    health.ejections = Math.max(health.ejections, ejection.ejections);
    health.ejectedUntil = Math.max(health.ejectedUntil ?? 0, ejection.until);
  }

  /** The ejections in force, each as adopt() takes it (for another detector that starts). */
  ejections(): { readonly endpointId: string; readonly ejection: Ejection }[] {
    this.#expire();
    const current: { readonly endpointId: string; readonly ejection: Ejection }[] = [];
    for (const [endpointId, health] of this.#endpoints) {
      if (health.ejectedUntil === undefined) continue;
      current.push({
        endpointId,
        ejection: { until: health.ejectedUntil, ejections: health.ejections },
      });
    }
    return current;
  }

  isEjected(endpointId: string): boolean {
    this.#expire();
    return this.#endpoints.get(endpointId)?.ejectedUntil !== undefined;
  }

  /** The filter to hand to a balancer's `pick`. */
  readonly available = (endpoint: Endpoint): boolean => !this.isEjected(endpoint.id);

  get ejectedCount(): number {
    this.#expire();
    let count = 0;
    for (const health of this.#endpoints.values())
      if (health.ejectedUntil !== undefined) count += 1;
    return count;
  }

  /** Ejections refused by the percentage cap: a sign the fault is shared, worth a metric. */
  get refusedEjections(): number {
    return this.#refused;
  }

  #eject(endpointId: string, health: EndpointHealth): void {
    const allowed = Math.floor((this.#options.maxEjectionPercent / 100) * this.#endpoints.size);
    if (this.ejectedCount >= allowed) {
      // The error counts stay, so the next failure tries again once room frees up.
      this.#refused += 1;
      return;
    }
    health.ejections += 1;
    const duration = Math.min(
      this.#options.maxEjectionMs,
      this.#options.baseEjectionMs * health.ejections,
    );
    health.ejectedUntil = this.#options.clock.now() + duration;
    this.#options.onEjected?.(endpointId, {
      until: health.ejectedUntil,
      ejections: health.ejections,
    });
  }

  /** Returns endpoints whose time is up to service, with fresh error counts. */
  #expire(): void {
    const now = this.#options.clock.now();
    for (const health of this.#endpoints.values()) {
      if (health.ejectedUntil !== undefined && now >= health.ejectedUntil) {
        health.ejectedUntil = undefined;
        health.consecutiveErrors = 0;
        health.consecutiveGatewayErrors = 0;
      }
    }
  }
}
