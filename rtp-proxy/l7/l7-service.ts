/**
 * The rtp-proxy's L7 proxy as a service and a participant in the node's
 * config transaction (src/node-agent/config-transaction.ts).
 *
 * prepare() does all that can fail and changes nothing that serves traffic:
 * it binds every new listen address (a new listener holds what it accepts
 * until commit), builds the new router and any new clusters (their health
 * checks start at commit). commit() swaps the listeners to the new router,
 * opens the new listeners, starts the new clusters, hands a port
 * whose listener changed settings to its successor without closing it,
 * updates the endpoint lists of clusters whose other settings are unchanged
 * (pools, outlier and health state survive), and closes what the config no
 * longer has. abort() closes what prepare opened and leaves the running
 * config untouched. A listener that cannot bind refuses the config naming
 * its HTTP_LISTENER.
 *
 * Mesh TLS listeners and clusters take the node's workload certificate from
 * `credentials` (fed by the main thread, renewals included); without one, a
 * config that has them is refused naming them.
 *
 * Several L7 threads may serve the same listeners, each with its own
 * HttpService and its own socket of every port (prepareShared, issue 20):
 * the first thread binds each new port exclusively (picking the port of a
 * listener of port 0), the others join the ports it got. Their clusters
 * share their state through `share`: outlier ejections (adoptEjection on
 * arrival) and active health (adoptHealth; decidedHealth answers a thread
 * that asks), each endpoint probed by one thread only.
 */
import type { Registry } from 'prom-client';
import type {
  MeshConfig,
  HttpConfig,
  HttpListenerConfig,
  RefusedResource,
  ResourceRefusal,
  ResourceType,
} from '../../src/config/index.js';
import { StreammeshError, errorMessage } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
// Straight from the modules, not the node-agent index: the index pulls in
// grpc-js (the control channel), which a worker thread would load for nothing.
import type { ConfigParticipant, PreparedChange } from '../../src/node-agent/transaction.js';
import { PrepareGate, type StagedChange } from '../../src/node-agent/transaction.js';
import { Cluster, clusterSettingsKey, type ClusterStateShare } from './cluster/cluster.js';
import type { HealthState } from './cluster/health-check.js';
import type { Ejection } from './cluster/outlier.js';
import { HTTP_RESOURCE_TYPES } from './http-resources.js';
import { HttpMetrics } from './l7-metrics.js';
import { HttpRouter } from './router/http-router.js';
import { L7Listener, type L7ListenerOptions } from './listener/l7-listener.js';
import { MeshCredentials } from '../../src/shared/identity/index.js';
import { ListenerTlsError } from './listener/tls-termination.js';
import type { SharedPort } from './listener/shared-listen.js';

/** Old clusters and listeners serve their requests in flight this long before they are closed. */
const DRAIN_MS = 30_000;

/** A listener of the candidate cannot bind its address: NACKs that HTTP_LISTENER. */
export class ListenerBindError extends StreammeshError implements ResourceRefusal {
  readonly resources: readonly RefusedResource[];
  constructor(config: HttpListenerConfig, cause: unknown) {
    super(
      'ERR_HTTP_LISTENER_BIND',
      `proxy.http.listeners ${config.name} ${config.listen}: ${errorMessage(cause)}`,
      { cause },
    );
    this.resources = [{ type: 'HTTP_LISTENER', name: config.name }];
  }
}

/** prepare() on a service that is closed (the proxy is stopping): it takes no config any more. */
export class HttpServiceClosedError extends StreammeshError {
  constructor() {
    super('ERR_HTTP_SERVICE_CLOSED', 'l7: closed, it takes no config');
  }
}

/** How a prepare's new listeners bind when several L7 threads serve them. */
export interface PortSharing {
  /** This thread binds first: each new port only if nobody holds it, port 0 picking one. */
  readonly exclusive: boolean;
  /** The port each listener of port 0 took on the first thread, by listener name. */
  readonly ports: Readonly<Record<string, number>>;
}

/** A change prepared by prepareShared, with the port of every listener of port 0 in it. */
export interface SharedPrepared {
  readonly prepared: PreparedChange;
  /** By listener name: the bound port of each listener whose config says port 0. */
  readonly ports: Readonly<Record<string, number>>;
}

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

export interface HttpServiceOptions {
  readonly credentials?: MeshCredentials;
  /** How this service's clusters share their state when other L7 threads serve the same config. */
  readonly share?: ClusterStateShare;
}

export class HttpService implements ConfigParticipant {
  readonly name = 'l7';
  /** The resource types the L7 service puts in force (static: a node may declare them before making it). */
  static readonly resourceTypes: readonly ResourceType[] = HTTP_RESOURCE_TYPES;
  readonly resourceTypes = HttpService.resourceTypes;
  readonly #log: Logger;
  readonly #metrics: HttpMetrics;
  readonly #listeners = new Map<string, L7Listener>();
  readonly #clusters = new Map<string, ClusterEntry>();
  /** Clusters no longer in force that finish their requests in flight, with the timer that closes each. */
  readonly #draining = new Map<Cluster, NodeJS.Timeout>();
  /** Listeners no longer in force that finish their requests in flight (closed with the service). */
  readonly #retired = new Set<L7Listener>();
  #router: HttpRouter;
  readonly #gate: PrepareGate;
  /** The node's workload certificate, as the main thread last sent it. */
  readonly credentials: MeshCredentials;
  readonly #share: ClusterStateShare | undefined;

  constructor(log: Logger, registry: Registry, options: HttpServiceOptions = {}) {
    this.credentials = options.credentials ?? new MeshCredentials();
    this.#share = options.share;
    this.#log = log.child({ component: 'http-proxy' });
    this.#gate = new PrepareGate({
      name: 'l7',
      closedError: () => new HttpServiceClosedError(),
      onReleaseError: (error) => {
        this.#log.error({ err: error }, 'l7: releasing a change prepared before close failed');
      },
    });
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

  /** An ejection another L7 thread's cluster `cluster` decided: the cluster in force adopts it. */
  adoptEjection(cluster: string, endpointId: string, ejection: Ejection): void {
    this.#clusters.get(cluster)?.cluster.adoptEjection(endpointId, ejection);
  }

  /** Health another L7 thread's cluster `cluster` decided or knows: the cluster in force adopts it. */
  adoptHealth(cluster: string, settings: string, states: readonly HealthState[]): void {
    this.#clusters.get(cluster)?.cluster.adoptHealth(settings, states);
  }

  /** The outlier ejections in force in `cluster`, for another thread's cluster that starts. */
  currentEjections(
    cluster: string,
  ): { readonly endpointId: string; readonly ejection: Ejection }[] {
    return this.#clusters.get(cluster)?.cluster.currentEjections() ?? [];
  }

  /** What the cluster in force knows of its endpoints' health, for another thread's cluster that starts. */
  decidedHealth(cluster: string, settings: string): HealthState[] {
    return this.#clusters.get(cluster)?.cluster.decidedHealth(settings) ?? [];
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
  prepareHttp(config: HttpConfig): Promise<PreparedChange> {
    return this.#gate.prepare(() => this.#stage(config, undefined));
  }

  /** prepareHttp as one of several L7 threads serving the same ports (see the top). */
  async prepareShared(config: HttpConfig, sharing: PortSharing): Promise<SharedPrepared> {
    let ports: Record<string, number> = {};
    const prepared = await this.#gate.prepare(async () => {
      const staged = await this.#stage(config, sharing);
      ports = staged.ports;
      return staged;
    });
    return { prepared, ports };
  }

  async #stage(
    config: HttpConfig,
    sharing: PortSharing | undefined,
  ): Promise<StagedChange & { readonly ports: Record<string, number> }> {
    const listeners = await this.#prepareListeners(config.listeners, sharing);
    let clusters: PreparedClusters;
    try {
      clusters = this.#prepareClusters(config);
    } catch (error) {
      await Promise.all(listeners.opened.map((listener) => listener.close()));
      throw error;
    }
    const router = new HttpRouter({
      config,
      clusters: new Map([...clusters.entries].map(([name, entry]) => [name, entry.cluster])),
      metrics: this.#metrics,
      log: this.#log,
    });
    return {
      ports: anyPortBindings(listeners.next),
      commit: () => {
        this.#commit(listeners, clusters, router);
      },
      release: async () => {
        for (const cluster of clusters.created) cluster.close();
        await Promise.all(listeners.opened.map((listener) => listener.close()));
      },
    };
  }

  async close(): Promise<void> {
    this.#gate.close();
    const listeners = [...this.#listeners.values(), ...this.#retired];
    await Promise.all(listeners.map((listener) => listener.close()));
    this.#listeners.clear();
    this.#retired.clear();
    for (const [cluster, timer] of this.#draining) {
      clearTimeout(timer);
      cluster.close();
    }
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
  async #prepareListeners(
    configs: readonly HttpListenerConfig[],
    sharing: PortSharing | undefined,
  ): Promise<PreparedListeners> {
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
          const start = async (): Promise<L7Listener> =>
            L7Listener.start(this.#listenerOptions(config, sharedPortOf(config, sharing)));
          const listener = await start().catch((error: unknown) => {
            // Names the listener already; not a bind failure.
            if (error instanceof ListenerTlsError) throw error;
            throw new ListenerBindError(config, error);
          });
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
    if (isAnyPort(listen)) return undefined;
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
    try {
      this.#buildClusters(config, entries, created, endpointUpdates);
    } catch (error) {
      for (const cluster of created) cluster.close();
      throw error;
    }
    return { entries, created, endpointUpdates };
  }

  #buildClusters(
    config: HttpConfig,
    entries: Map<string, ClusterEntry>,
    created: Cluster[],
    endpointUpdates: (() => void)[],
  ): void {
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
      const cluster = new Cluster(clusterConfig, config, {
        log: this.#log,
        credentials: this.credentials,
        ...(this.#share === undefined ? {} : { share: this.#share }),
      });
      created.push(cluster);
      entries.set(clusterConfig.name, { key, cluster });
    }
  }

  #commit(listeners: PreparedListeners, clusters: PreparedClusters, router: HttpRouter): void {
    for (const update of clusters.endpointUpdates) update();
    for (const cluster of clusters.created) cluster.start();
    const previousRouter = this.#router;
    this.#router = router;
    const replaced: L7Listener[] = [];
    for (const { previous, next } of listeners.takeovers) {
      next.takeOver(previous);
      replaced.push(previous);
    }
    for (const listener of this.#listeners.values()) {
      if (!listeners.claimed.has(listener)) replaced.push(listener);
    }
    for (const listener of replaced) {
      // A name the new config still has takes the new routes, as a pushed
      // config applies to the next request; a name it dropped has no routes
      // there, so that listener keeps its config's while it drains.
      const dropped = !listeners.next.has(listener.config.name);
      this.#retire(listener, dropped ? previousRouter : undefined);
    }
    // In force now, with the new router: held connections are served from here.
    for (const listener of listeners.opened) listener.open();
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

  #listenerOptions(config: HttpListenerConfig, sharedPort?: SharedPort): L7ListenerOptions {
    return {
      config,
      router: () => this.#router,
      metrics: this.#metrics,
      log: this.#log,
      credentials: this.credentials,
      sharedPort,
    };
  }

  #retire(listener: L7Listener, routes?: HttpRouter): void {
    listener.retire(DRAIN_MS, routes);
    this.#retired.add(listener);
    const forget = setTimeout(() => this.#retired.delete(listener), DRAIN_MS);
    forget.unref();
  }

  #drain(cluster: Cluster): void {
    const timer = setTimeout(() => {
      this.#draining.delete(cluster);
      cluster.close();
    }, DRAIN_MS);
    timer.unref();
    this.#draining.set(cluster, timer);
  }
}

/** How a new listener of a shared prepare binds: first or joining, on the first thread's port. */
function sharedPortOf(
  config: HttpListenerConfig,
  sharing: PortSharing | undefined,
): SharedPort | undefined {
  if (sharing === undefined) return undefined;
  if (sharing.exclusive) return { exclusive: true };
  if (!isAnyPort(config.listen)) return { exclusive: false };
  const port = sharing.ports[config.name];
  // Joining "port 0" would be a port of its own, which no other thread serves.
  if (port === undefined) throw new Error(`no port of the first L7 thread for port 0`);
  return { exclusive: false, port };
}

/** The bound port of every listener of port 0 (all bound: a port-0 listener never takes over). */
function anyPortBindings(listeners: ReadonlyMap<string, L7Listener>): Record<string, number> {
  const ports: Record<string, number> = {};
  for (const [name, listener] of listeners) {
    if (isAnyPort(listener.config.listen)) ports[name] = listener.address.port;
  }
  return ports;
}

function isAnyPort(listen: string): boolean {
  return /:0$/.test(listen);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
