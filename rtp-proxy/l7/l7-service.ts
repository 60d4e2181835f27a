/**
 * The rtp-proxy's L7 proxy as a service: each pushed config builds a new
 * router (routes, splits) over clusters that are kept when their config is
 * unchanged (pools, outlier and health state survive) and rebuilt otherwise;
 * listeners are kept when their config is unchanged, and a new listen
 * address is bound before anything else changes, so a taken port rejects the
 * config with the old one still in force.
 */
import type { Registry } from 'prom-client';
import type { HttpConfig, HttpListenerConfig } from '../../src/config/http-schema.js';
import type { Logger } from '../../src/shared/log.js';
import { Cluster } from './cluster/cluster.js';
import { HttpMetrics } from './l7-metrics.js';
import { HttpRouter } from './router/http-router.js';
import { L7Listener } from './listener/l7-listener.js';

/** Old clusters serve their requests in flight this long before their pools are closed. */
const DRAIN_MS = 30_000;

export class HttpService {
  readonly #log: Logger;
  readonly #metrics: HttpMetrics;
  readonly #listeners = new Map<string, L7Listener>();
  readonly #clusters = new Map<string, { key: string; cluster: Cluster }>();
  readonly #draining = new Set<NodeJS.Timeout>();
  #router: HttpRouter;

  constructor(log: Logger, registry: Registry) {
    this.#log = log.child({ component: 'http-proxy' });
    this.#metrics = new HttpMetrics(registry);
    this.#metrics.watchClusters(() => this.#router.clusters);
    this.#router = new HttpRouter({
      config: {
        listeners: [],
        routes: [],
        clusters: [],
        retryBudget: { percent: 20, minConcurrency: 3 },
        accessLog: { percent: 0, errors: false },
      },
      clusters: new Map(),
      metrics: this.#metrics,
      log: this.#log,
    });
  }

  /** The listeners in force, by name (their bound addresses, for tests and `up`). */
  get listeners(): ReadonlyMap<string, L7Listener> {
    return this.#listeners;
  }

  async apply(config: HttpConfig): Promise<void> {
    const keep = new Map<string, L7Listener>();
    const changed: HttpListenerConfig[] = [];
    for (const listenerConfig of config.listeners) {
      const current = this.#listeners.get(listenerConfig.name);
      if (current !== undefined && sameJson(current.config, listenerConfig)) {
        keep.set(listenerConfig.name, current);
      } else {
        changed.push(listenerConfig);
      }
    }
    const holding = (listen: string): L7Listener | undefined =>
      [...this.#listeners.values()].find((listener) => listener.config.listen === listen);
    // New addresses first: a taken port refuses the config with nothing changed yet.
    const started: L7Listener[] = [];
    try {
      for (const listenerConfig of changed.filter((c) => holding(c.listen) === undefined)) {
        const listener = await this.#start(listenerConfig);
        started.push(listener);
        keep.set(listenerConfig.name, listener);
      }
    } catch (error) {
      await Promise.all(started.map((listener) => listener.close()));
      throw error;
    }
    // An address an old listener holds with other settings: the old one must close first.
    const swaps: { readonly old: L7Listener; readonly next: L7Listener }[] = [];
    try {
      for (const listenerConfig of changed.filter((c) => holding(c.listen) !== undefined)) {
        const old = holding(listenerConfig.listen);
        if (old === undefined) continue;
        await old.close();
        try {
          const next = await this.#start(listenerConfig);
          swaps.push({ old, next });
          keep.set(listenerConfig.name, next);
        } catch (error) {
          swaps.push({ old, next: old });
          throw error;
        }
      }
    } catch (error) {
      // Someone took the port in the gap: put every swapped listener back as it was.
      for (const { old, next } of swaps.reverse()) {
        if (next !== old) await next.close();
        this.#listeners.set(old.config.name, await this.#start(old.config));
      }
      await Promise.all(started.map((listener) => listener.close()));
      throw error;
    }
    this.#router = this.#buildRouter(config);
    const swapped = new Set(swaps.map((swap) => swap.old));
    for (const [name, listener] of this.#listeners) {
      if (keep.get(name) !== listener && !swapped.has(listener)) await listener.close();
    }
    this.#listeners.clear();
    for (const [name, listener] of keep) this.#listeners.set(name, listener);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#listeners.values()].map((listener) => listener.close()));
    this.#listeners.clear();
    for (const timer of this.#draining) clearTimeout(timer);
    this.#draining.clear();
    for (const { cluster } of this.#clusters.values()) cluster.close();
    this.#clusters.clear();
  }

  async #start(config: HttpListenerConfig): Promise<L7Listener> {
    const listener = await L7Listener.start({
      config,
      router: () => this.#router,
      metrics: this.#metrics,
      log: this.#log,
    });
    this.#log.info(
      { listener: config.name, listen: config.listen, protocol: config.protocol },
      'HTTP listener started',
    );
    return listener;
  }

  #buildRouter(config: HttpConfig): HttpRouter {
    const next = new Map<string, { key: string; cluster: Cluster }>();
    for (const clusterConfig of config.clusters) {
      // The retry budget is per cluster, so its settings are part of the cluster's identity.
      const key = JSON.stringify([clusterConfig, config.retryBudget]);
      const current = this.#clusters.get(clusterConfig.name);
      next.set(
        clusterConfig.name,
        current?.key === key
          ? current
          : { key, cluster: new Cluster(clusterConfig, config, this.#log) },
      );
    }
    for (const [name, entry] of this.#clusters) {
      if (next.get(name) !== entry) this.#drain(entry.cluster);
    }
    this.#clusters.clear();
    for (const [name, entry] of next) this.#clusters.set(name, entry);
    return new HttpRouter({
      config,
      clusters: new Map([...next].map(([name, entry]) => [name, entry.cluster])),
      metrics: this.#metrics,
      log: this.#log,
    });
  }

  #drain(cluster: Cluster): void {
    const timer = setTimeout(() => {
      this.#draining.delete(timer);
      cluster.close();
    }, DRAIN_MS);
    timer.unref();
    this.#draining.add(timer);
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
