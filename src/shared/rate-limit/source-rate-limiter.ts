/**
 * Request rates per source address (issue 17, point 7): one TokenBucket per
 * source, in a map bounded by `maxSources` so that a spray of spoofed or
 * rotating addresses cannot grow it without end. Beyond the cap the source
 * seen least recently is forgotten (a Map keeps insertion order; a source is
 * re-inserted at each request), and each eviction is counted: a steady count
 * means the cap is too small for the traffic, or an address spray. A
 * forgotten source starts again with a full burst, which is the cost of the
 * bound; a source that keeps sending is seen again before it is the oldest,
 * unless more than maxSources others sent since.
 *
 * Refusals are counted in streammesh_rate_limited_requests_total{listener}
 * here, in one place, so every listener that limits counts the same way;
 * the caller answers in its protocol (HTTP 429, RTSP 503) with Retry-After.
 */
import { performance } from 'node:perf_hooks';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { TokenBucket, type RateLimit } from './token-bucket.js';

/** Sources remembered at once per limiter: about 10 MB at the cap. */
export const DEFAULT_MAX_SOURCES = 100_000;

/** Monotonic, so a wall-clock step neither refills every bucket nor starves them. */
const monotonicClock: Clock = { now: () => performance.now() };

export interface SourceRateLimiterOptions {
  /** The listener's name, the metric label ("rtsp", "signaling", "admin"). */
  readonly listener: string;
  /** Read at each request: a getter lets a pushed config change it live. */
  readonly limit: RateLimit;
  readonly registry?: Registry | undefined;
  readonly maxSources?: number;
  readonly clock?: Clock;
}

/** What take() decided: go on, or refuse and tell the client when to retry. */
export type RateDecision =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSec: number };

const ALLOWED: RateDecision = { allowed: true };

interface RateMetrics {
  readonly limited: Counter<'listener'>;
  readonly evicted: Counter<'listener'>;
}

// One set of series per registry, shared by every limiter of the process.
const metricsByRegistry = new WeakMap<Registry, RateMetrics>();

function rateMetrics(registry: Registry): RateMetrics {
  let metrics = metricsByRegistry.get(registry);
  if (metrics === undefined) {
    metrics = {
      limited: new Counter({
        name: 'streammesh_rate_limited_requests_total',
        help: 'Requests refused because their source address sent more than its rate (HTTP 429, RTSP 503), by listener.',
        labelNames: ['listener'],
        registers: [registry],
      }),
      evicted: new Counter({
        name: 'streammesh_rate_limit_evicted_sources_total',
        help: 'Sources a rate limiter forgot because it remembered its maximum of sources (the least recently seen goes), by listener.',
        labelNames: ['listener'],
        registers: [registry],
      }),
    };
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

export class SourceRateLimiter {
  readonly #listener: string;
  readonly #limit: RateLimit;
  readonly #maxSources: number;
  readonly #clock: Clock;
  readonly #metrics: RateMetrics | undefined;
  readonly #buckets = new Map<string, TokenBucket>();
  #limited = 0;
  #evicted = 0;

  constructor(options: SourceRateLimiterOptions) {
    this.#listener = options.listener;
    this.#limit = options.limit;
    this.#maxSources = Math.max(1, options.maxSources ?? DEFAULT_MAX_SOURCES);
    this.#clock = options.clock ?? monotonicClock;
    this.#metrics = options.registry === undefined ? undefined : rateMetrics(options.registry);
    this.#metrics?.limited.inc({ listener: this.#listener }, 0);
  }

  /** Sources remembered now. */
  get sources(): number {
    return this.#buckets.size;
  }

  /** Requests refused so far. */
  get limited(): number {
    return this.#limited;
  }

  /** Sources forgotten to keep the map within maxSources. */
  get evicted(): number {
    return this.#evicted;
  }

  /** One request from `source`: allowed (a token taken), or refused and counted. */
  take(address: string): RateDecision {
    const source = sourceKey(address);
    const now = this.#clock.now();
    let bucket = this.#buckets.get(source);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#limit, now);
      this.#evictFor();
    } else {
      // Re-inserted: the map's first entry is always the source seen least recently.
      this.#buckets.delete(source);
    }
    this.#buckets.set(source, bucket);
    const waitSec = bucket.take(this.#limit, now);
    if (waitSec === 0) return ALLOWED;
    this.#limited += 1;
    this.#metrics?.limited.inc({ listener: this.#listener });
    return { allowed: false, retryAfterSec: waitSec };
  }

  /** Makes room for one more source. */
  #evictFor(): void {
    while (this.#buckets.size >= this.#maxSources) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done === true) return;
      this.#buckets.delete(oldest.value);
      this.#evicted += 1;
      this.#metrics?.evicted.inc({ listener: this.#listener });
    }
  }
}

/**
 * The bucket a source address counts against: an IPv4 address itself; an
 * IPv6 address by its /64, the block one host or one subscriber is given.
 * Keyed by the whole IPv6 address, one host could take a fresh bucket (a
 * full burst) per address of its /64 and push real sources out of the map.
 * IPv4-mapped IPv6 addresses count as the IPv4 address.
 */
export function sourceKey(address: string): string {
  if (!address.includes(':')) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  const [head = '', tail = ''] = address.toLowerCase().split('%')[0]?.split('::') ?? [];
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
