/**
 * Load balancers for the HTTP/gRPC proxy: pure choice functions over a list of
 * endpoints. They open no sockets and read no config; time and randomness are
 * injected so tests state exact outcomes.
 *
 * Every `pick` takes an `available` filter (outlier ejection, failed health
 * checks): a balancer never returns an endpoint the filter rejects, and returns
 * `undefined` when none is left, so the caller answers 503 instead of sending
 * to a host known to be bad.
 */
import type { Clock } from '../../../src/shared/clock.js';

export interface Endpoint {
  /** Stable identity (e.g. "127.0.0.1:3001"): hashing and latency state key on it. */
  readonly id: string;
  /** Requests in flight to this endpoint right now. */
  readonly activeRequests: number;
}

export type EndpointFilter = (endpoint: Endpoint) => boolean;

export interface PickOptions {
  /** Endpoints for which this returns false are skipped. */
  readonly available?: EndpointFilter;
  /** For consistent hashing: the header or cookie value; ignored by the others. */
  readonly hashKey?: string;
}

export interface Balancer {
  pick<E extends Endpoint>(endpoints: readonly E[], options?: PickOptions): E | undefined;
}

/** [0, 1), injectable so tests replay the same choices. */
export type Random = () => number;

function availableOnes<E extends Endpoint>(
  endpoints: readonly E[],
  available: EndpointFilter | undefined,
): readonly E[] {
  return available === undefined ? endpoints : endpoints.filter(available);
}

/** An index in [0, length) from a draw in [0, 1), safe if random() returns 1. */
function indexFrom(draw: number, length: number): number {
  return Math.min(length - 1, Math.floor(draw * length));
}

/**
 * Plain rotation. The cursor counts picks, not endpoints, so a list that
 * shrinks (an ejection) keeps rotating instead of restarting at the first one.
 */
export class RoundRobin implements Balancer {
  #cursor = 0;

  pick<E extends Endpoint>(endpoints: readonly E[], options: PickOptions = {}): E | undefined {
    const candidates = availableOnes(endpoints, options.available);
    if (candidates.length === 0) return undefined;
    const chosen = candidates[this.#cursor % candidates.length];
    this.#cursor = (this.#cursor + 1) % Number.MAX_SAFE_INTEGER;
    return chosen;
  }
}

export interface PeakEwmaOptions {
  /** How fast old latency is forgotten: after one time constant a sample weighs 1/e. */
  readonly decayMs: number;
  /** Latency assumed for an endpoint with no sample yet, so new hosts get tried. */
  readonly defaultLatencyMs: number;
  readonly clock: Clock;
}

/**
 * Peak-EWMA latency per endpoint (Finagle's and Linkerd's "peak EWMA"): a
 * sample above the average replaces it at once, so an endpoint that turns
 * slow is penalised on its first slow answer; a sample below it is averaged in
 * with a weight that grows with the time since the last one. Reading the cost
 * also decays it toward zero with idle time, so an endpoint that was slow
 * once and then got no traffic is probed again instead of starved forever.
 */
export class PeakEwma {
  readonly #options: PeakEwmaOptions;
  readonly #state = new Map<string, { latencyMs: number; at: number }>();

  constructor(options: PeakEwmaOptions) {
    this.#options = options;
  }

  observe(endpointId: string, latencyMs: number): void {
    const now = this.#options.clock.now();
    const previous = this.#state.get(endpointId);
    let next = latencyMs;
    if (previous !== undefined && latencyMs < previous.latencyMs) {
      const weight = this.#weight(endpointId, now);
      next = previous.latencyMs * weight + latencyMs * (1 - weight);
    }
    this.#state.set(endpointId, { latencyMs: next, at: now });
  }

  /** The current estimate, decayed for the time since the last sample. */
  latencyMs(endpointId: string): number {
    const state = this.#state.get(endpointId);
    if (state === undefined) return this.#options.defaultLatencyMs;
    return state.latencyMs * this.#weight(endpointId, this.#options.clock.now());
  }

  /** Drops state of endpoints no longer in the cluster, so the map cannot grow without bound. */
  retain(endpointIds: ReadonlySet<string>): void {
    for (const id of this.#state.keys()) if (!endpointIds.has(id)) this.#state.delete(id);
  }

  #weight(endpointId: string, now: number): number {
    const state = this.#state.get(endpointId);
    if (state === undefined) return 0;
    const elapsed = Math.max(0, now - state.at);
    return Math.exp(-elapsed / this.#options.decayMs);
  }
}

/**
 * Least request with the power of two choices: draw two distinct endpoints at
 * random and take the cheaper, where cost = latency EWMA x (active + 1). Two
 * random draws avoid the herd that a global "least loaded" causes when many
 * proxies see the same stale numbers, and cost nearly nothing per request.
 */
export class LeastRequest implements Balancer {
  readonly latency: PeakEwma;
  readonly #random: Random;

  constructor(latency: PeakEwma, random: Random = Math.random) {
    this.latency = latency;
    this.#random = random;
  }

  cost(endpoint: Endpoint): number {
    return this.latency.latencyMs(endpoint.id) * (endpoint.activeRequests + 1);
  }

  pick<E extends Endpoint>(endpoints: readonly E[], options: PickOptions = {}): E | undefined {
    const candidates = availableOnes(endpoints, options.available);
    if (candidates.length <= 1) return candidates[0];
    const first = indexFrom(this.#random(), candidates.length);
    // The second draw is over the others, so the two are always distinct.
    let second = indexFrom(this.#random(), candidates.length - 1);
    if (second >= first) second += 1;
    const a = candidates[first];
    const b = candidates[second];
    if (a === undefined || b === undefined) return a ?? b;
    return this.cost(b) < this.cost(a) ? b : a;
  }
}

/** FNV-1a then murmur3's finaliser: fast, and well spread even for similar keys. */
export function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

interface Ring {
  /** Sorted point positions; `owners[i]` holds the endpoint id at `points[i]`. */
  readonly points: Uint32Array;
  readonly owners: readonly string[];
}

/**
 * Consistent hashing on a ring with virtual nodes (Karger et al.): each
 * endpoint owns `virtualNodes` points, a key goes to the first point at or
 * after its hash. Adding or removing one of N endpoints moves only about 1/N
 * of the keys, so sticky sessions survive scaling and ejections.
 * The ring is rebuilt only when the set of available endpoints changes.
 */
export class ConsistentHash implements Balancer {
  readonly #virtualNodes: number;
  readonly #fallback: Balancer;
  /** The sorted ids the cached ring was built from; undefined before the first build. */
  #ringKey: string | undefined;
  #ring: Ring = { points: new Uint32Array(0), owners: [] };

  /** `fallback` serves requests without a key (no such header or cookie). */
  constructor(options: { virtualNodes?: number; fallback?: Balancer } = {}) {
    this.#virtualNodes = options.virtualNodes ?? 160;
    this.#fallback = options.fallback ?? new RoundRobin();
  }

  pick<E extends Endpoint>(endpoints: readonly E[], options: PickOptions = {}): E | undefined {
    const candidates = availableOnes(endpoints, options.available);
    if (options.hashKey === undefined) return this.#fallback.pick(candidates);
    if (candidates.length === 0) return undefined;
    const ring = this.#ringFor(candidates);
    const ownerId = ring.owners[this.#pointIndex(ring.points, hash32(options.hashKey))];
    return candidates.find((endpoint) => endpoint.id === ownerId);
  }

  #ringFor(candidates: readonly Endpoint[]): Ring {
    const ids = candidates.map((endpoint) => endpoint.id).sort();
    const key = ids.join('\n');
    if (key === this.#ringKey) return this.#ring;
    const entries: { point: number; owner: string }[] = [];
    for (const id of ids) {
      for (let v = 0; v < this.#virtualNodes; v += 1)
        entries.push({ point: hash32(`${id}#${v}`), owner: id });
    }
    // Ties (rare) break by id, so every proxy builds the same ring.
    entries.sort((x, y) => x.point - y.point || (x.owner < y.owner ? -1 : 1));
    this.#ring = {
      points: Uint32Array.from(entries, (entry) => entry.point),
      owners: entries.map((entry) => entry.owner),
    };
    this.#ringKey = key;
    return this.#ring;
  }

  /** Binary search for the first point >= hash, wrapping to 0 past the end. */
  #pointIndex(points: Uint32Array, hash: number): number {
    let low = 0;
    let high = points.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((points[mid] ?? 0) < hash) low = mid + 1;
      else high = mid;
    }
    return low === points.length ? 0 : low;
  }
}

export type HashKeySource = { readonly header: string } | { readonly cookie: string };

/** Node's `IncomingHttpHeaders` shape: lower-case names, repeated ones as arrays. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * The hash key of a request: a header's value (repeated values joined, as
 * HTTP allows) or one cookie's value. `undefined` when absent, so the
 * balancer falls back instead of sending every keyless request to one host.
 */
export function hashKeyFrom(headers: RequestHeaders, source: HashKeySource): string | undefined {
  if ('header' in source) {
    const value = headers[source.header.toLowerCase()];
    if (value === undefined) return undefined;
    return typeof value === 'string' ? value : value.join(',');
  }
  const raw = headers['cookie'];
  const cookies = raw === undefined ? [] : typeof raw === 'string' ? [raw] : raw;
  for (const line of cookies) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      if (pair.slice(0, eq).trim() === source.cookie) return pair.slice(eq + 1).trim();
    }
  }
  return undefined;
}

export interface WeightedCluster<C> {
  readonly cluster: C;
  /** A non-negative integer; 0 turns a cluster off without removing it. */
  readonly weight: number;
}

/**
 * A traffic split between clusters (canary): each pick lands on a cluster with
 * probability weight / total. Weights are integers, as in Envoy's
 * weighted_clusters, so "90/10" means exactly that and sums are exact.
 */
export class WeightedSplit<C> {
  readonly #entries: readonly WeightedCluster<C>[];
  readonly #random: Random;

  constructor(entries: readonly WeightedCluster<C>[], random: Random = Math.random) {
    for (const entry of entries) {
      if (!Number.isInteger(entry.weight) || entry.weight < 0) {
        throw new RangeError(`split weight must be a non-negative integer, got ${entry.weight}`);
      }
    }
    this.#entries = entries;
    this.#random = random;
  }

  /**
   * `available` skips clusters that cannot serve (all endpoints ejected): their
   * share goes to the others in proportion instead of failing requests.
   */
  pick(available?: (cluster: C) => boolean): C | undefined {
    const live =
      available === undefined
        ? this.#entries
        : this.#entries.filter((entry) => available(entry.cluster));
    const total = live.reduce((sum, entry) => sum + entry.weight, 0);
    if (total === 0) return undefined;
    let ticket = indexFrom(this.#random(), total);
    for (const entry of live) {
      if (ticket < entry.weight) return entry.cluster;
      ticket -= entry.weight;
    }
    return undefined;
  }
}
