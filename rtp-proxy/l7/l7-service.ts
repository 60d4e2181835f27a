/**
 * The rtp-proxy's L7 proxy as a service and a participant in the node's
 * config transaction (src/node-agent/config-transaction.ts).
 *
 * prepare() does all that can fail and changes nothing that serves traffic:
 * it binds every new listen address, builds the new router and any new
 * clusters. commit() swaps the listeners to the new router, hands a port
 * whose listener changed settings to its successor without closing it,
 * updates the endpoint lists of clusters whose other settings are unchanged
 * (pools, outlier and health state survive), and closes what the config no
 * longer has. abort() closes what prepare opened and leaves the running
 * config untouched.
 */
import type { Registry } from 'prom-client';
import type { MeshConfig, HttpConfig, HttpListenerConfig } from '../../src/config/index.js';
import type { Logger } from '../../src/shared/log.js';
import type { ConfigParticipant, PreparedChange } from '../../src/node-agent/index.js';
import { Cluster, clusterSettingsKey } from './cluster/cluster.js';
import { HttpMetrics } from './l7-metrics.js';
import { HttpRouter } from './router/http-router.js';
import { L7Listener, type L7ListenerOptions } from './listener/l7-listener.js';

/** Old clusters and listeners serve their requests in flight this long before they are closed. */
const DRAIN_MS = 30_000;

interface ClusterEntry {
  /** clusterSettingsKey: what, when changed, rebuilds the cluster. */
  readonly key: string;
  readonly cluster: Cluster;
}

/** The clusters of a prepared config: which are new, and the endpoint updates to commit. */
interface PreparedClusters {
  readonly entries: ReadonlyMap<string, ClusterEntry>;
  readonly created: readonly Cluster[];
  readonly endpointUpdates: readonly (() => void)[];
}

/** The listeners of a prepared config. */
interface PreparedListeners {
  /** By name, as they will be once committed. */
  readonly next: ReadonlyMap<string, L7Listener>;
  /** Made by prepare (bound, or unbound for a takeover): what abort closes. */
  readonly opened: readonly L7Listener[];
  /** Ports to hand from a listener to its successor with other settings. */
  readonly takeovers: readonly { readonly previous: L7Listener; readonly next: L7Listener }[];
  /** Listeners in force now that stay (kept, or whose port is taken over). */
  readonly claimed: ReadonlySet<L7Listener>;
}

export class HttpService implements ConfigParticipant {
  readonly name = 'l7';
  readonly #log: Logger;
  readonly #metrics: HttpMetrics;
  readonly #listeners = new Map<string, L7Listener>();
  readonly #clusters = new Map<string, ClusterEntry>();
  readonly #draining = new Set<NodeJS.Timeout>();
  /** Listeners no longer in force that finish their requests in flight (closed with the service). */
  readonly #retired = new Set<L7Listener>();
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

  /** The node's config transaction: prepares the candidate's proxy.http section. */
  prepare(candidate: MeshConfig): Promise<PreparedChange> {
    return this.prepareHttp(candidate.proxy.http);
  }

  /** Prepare and commit at once (tests, and callers with no other participant). */
  async apply(config: HttpConfig): Promise<void> {
    (await this.prepareHttp(config)).commit();
  }

  /** Throws (holding nothing of `config`) when a new listen address cannot be bound. */
  async prepareHttp(config: HttpConfig): Promise<PreparedChange> {
    const listeners = await this.#prepareListeners(config.listeners);
    const clusters = this.#prepareClusters(config);
    const router = new HttpRouter({
      config,
      clusters: new Map([...clusters.entries].map(([name, entry]) => [name, entry.cluster])),
      metrics: this.#metrics,
      log: this.#log,
    });
    let settled = false;
    return {
      commit: () => {
        if (settled) return;
        settled = true;
        this.#commit(listeners, clusters, router);
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        for (const cluster of clusters.created) cluster.close();
        await Promise.all(listeners.opened.map((listener) => listener.close()));
      },
    };
  }

  async close(): Promise<void> {
    const listeners = [...this.#listeners.values(), ...this.#retired];
    await Promise.all(listeners.map((listener) => listener.close()));
    this.#listeners.clear();
    this.#retired.clear();
    for (const timer of this.#draining) clearTimeout(timer);
    this.#draining.clear();
    for (const { cluster } of this.#clusters.values()) cluster.close();
    this.#clusters.clear();
  }

  /**
   * Keeps listeners whose settings are unchanged, readies a takeover where an
   * address stays but its settings change (the port is never closed, so
   * nobody can take it in between), and binds every new address now: a taken
   * port refuses the config here, with what was bound so far closed again.
   */
  async #prepareListeners(configs: readonly HttpListenerConfig[]): Promise<PreparedListeners> {
    const next = new Map<string, L7Listener>();
    const claimed = new Set<L7Listener>();
    for (const config of configs) {
      const current = this.#listeners.get(config.name);
      if (current !== undefined && sameJson(current.config, config)) {
        next.set(config.name, current);
        claimed.add(current);
      }
    }
    const opened: L7Listener[] = [];
    const takeovers: { previous: L7Listener; next: L7Listener }[] = [];
    try {
      for (const config of configs) {
        if (next.has(config.name)) continue;
        const previous = this.#portHolder(config.listen, claimed);
        if (previous !== undefined) {
          claimed.add(previous);
          const successor = L7Listener.unbound(this.#listenerOptions(config));
          opened.push(successor);
          takeovers.push({ previous, next: successor });
          next.set(config.name, successor);
        } else {
          const listener = await L7Listener.start(this.#listenerOptions(config));
          opened.push(listener);
          next.set(config.name, listener);
        }
      }
    } catch (error) {
      await Promise.all(opened.map((listener) => listener.close()));
      throw error;
    }
    return { next, opened, takeovers, claimed };
  }

  /** A listener in force, not kept, bound to exactly `listen` (never a port-0 one: 0 means "any"). */
  #portHolder(listen: string, claimed: ReadonlySet<L7Listener>): L7Listener | undefined {
    if (/:0$/.test(listen)) return undefined;
    return [...this.#listeners.values()].find(
      (listener) => listener.config.listen === listen && !claimed.has(listener),
    );
  }

  /**
   * A cluster whose settings (endpoints aside) are unchanged is kept, with an
   * endpoint update to commit if its list changed; any other is built new.
   */
  #prepareClusters(config: HttpConfig): PreparedClusters {
    const entries = new Map<string, ClusterEntry>();
    const created: Cluster[] = [];
    const endpointUpdates: (() => void)[] = [];
    for (const clusterConfig of config.clusters) {
      const key = clusterSettingsKey(clusterConfig, config);
      const current = this.#clusters.get(clusterConfig.name);
      if (current?.key === key) {
        entries.set(clusterConfig.name, current);
        if (!sameJson(current.cluster.config.endpoints, clusterConfig.endpoints)) {
          endpointUpdates.push(current.cluster.prepareEndpoints(clusterConfig));
        }
        continue;
      }
      const cluster = new Cluster(clusterConfig, config, this.#log);
      created.push(cluster);
      entries.set(clusterConfig.name, { key, cluster });
    }
    return { entries, created, endpointUpdates };
  }

  #commit(listeners: PreparedListeners, clusters: PreparedClusters, router: HttpRouter): void {
    for (const update of clusters.endpointUpdates) update();
    this.#router = router;
    const replaced: L7Listener[] = [];
    for (const { previous, next } of listeners.takeovers) {
      next.takeOver(previous);
      replaced.push(previous);
    }
    for (const listener of this.#listeners.values()) {
      if (!listeners.claimed.has(listener)) replaced.push(listener);
    }
    for (const listener of replaced) this.#retire(listener);
    this.#listeners.clear();
    for (const [name, listener] of listeners.next) {
      this.#listeners.set(name, listener);
      if (listeners.opened.includes(listener)) {
        const { config } = listener;
        this.#log.info(
          { listener: config.name, listen: config.listen, protocol: config.protocol },
          'HTTP listener started',
        );
      }
    }
    for (const [name, entry] of this.#clusters) {
      if (clusters.entries.get(name) !== entry) this.#drain(entry.cluster);
    }
    this.#clusters.clear();
    for (const [name, entry] of clusters.entries) this.#clusters.set(name, entry);
  }

  #listenerOptions(config: HttpListenerConfig): L7ListenerOptions {
    return {
      config,
      router: () => this.#router,
      metrics: this.#metrics,
      log: this.#log,
    };
  }

  #retire(listener: L7Listener): void {
    listener.retire(DRAIN_MS);
    this.#retired.add(listener);
    const forget = setTimeout(() => this.#retired.delete(listener), DRAIN_MS);
    forget.unref();
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
