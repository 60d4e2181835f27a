/**
 * One upstream cluster at run time: its endpoints, the balancer that picks
 * among them, what keeps bad endpoints out (outlier ejection, active health
 * checks), its circuit breaker and retry budget, and its connection pool.
 *
 * A config that changes only the endpoint list updates a cluster in place
 * (as Envoy's EDS does): kept endpoints keep their pooled connections,
 * outlier ejections and health state; added ones start fresh and healthy;
 * removed ones lose their pooled connections and health checks.
 *
 * A cluster with `tls` (mode "mesh") speaks mutual TLS to its endpoints
 * with the node's workload certificate (upstream-tls.ts), health checks
 * included; a node without one refuses such a cluster at prepare.
 *
 * A new cluster sends nothing until start(): one built for a candidate config
 * (a transaction's prepare) must not probe upstreams for a config that may
 * still be refused.
 *
 * With several L7 threads each has its own instance of a cluster; they share
 * their state through `share` (thread/cluster-state-channel.ts): outlier
 * ejections (outlier.ts says why) and active health, which only the
 * endpoint's owner thread probes (health-check.ts, health-owner.ts). A
 * cluster that starts asks the others for the health they know, so a
 * restarted thread, or a cluster rebuilt by a config change, does not take
 * an endpoint another thread found failing for healthy. Health states are
 * tagged with the cluster's `settings`: a state from an instance built for
 * other settings (one a config change is replacing) is never adopted, since
 * the instance replacing it starts over, all healthy.
 */
import { createHash } from 'node:crypto';
import { validHostPort } from '../../../src/shared/address.js';
import { sharedMonotonicClock, type Clock } from '../../../src/shared/clock.js';
import type { HttpClusterConfig, HttpConfig, RefusedResource } from '../../../src/config/index.js';
import { StreammeshError } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/log.js';
import {
  ConsistentHash,
  LeastRequest,
  PeakEwma,
  RoundRobin,
  hashKeyFrom,
  type Balancer,
  type HashKeySource,
  type RequestHeaders,
} from './balancers.js';
import { CircuitBreaker, releaseOnce, type Release } from './circuit-breaker.js';
import { HealthChecker, type HealthState } from './health-check.js';
import { OutlierDetector, outcomeOf, type Ejection } from './outlier.js';
import { RetryBudget } from './retry-budget.js';
import {
  Http1Pool,
  Http2Pool,
  type UpstreamFailure,
  type UpstreamPool,
  type UpstreamTarget,
} from '../upstream/upstream-pool.js';
import { meshConnector } from '../upstream/upstream-tls.js';
import type { MeshCredentials } from '../../../src/shared/identity/index.js';

/** A mesh TLS cluster on a node with no workload certificate: refuses the config naming it. */
export class ClusterTlsError extends StreammeshError {
  readonly resources: readonly RefusedResource[];
  constructor(config: HttpClusterConfig) {
    super(
      'ERR_HTTP_CLUSTER_TLS',
      `proxy.http.clusters ${config.name} tls: mode "mesh" needs the node's workload certificate, and this node has none (controlPlane.mtls off, or not issued yet)`,
    );
    this.resources = [{ type: 'HTTP_CLUSTER', name: config.name }];
  }
}

export interface ClusterEndpoint extends UpstreamTarget {
  activeRequests: number;
}

/** How a cluster shares its state with the same cluster in the proxy's other L7 threads. */
export interface ClusterStateShare {
  /** This thread's detector ejected an endpoint. */
  publishEjection(cluster: string, endpointId: string, ejection: Ejection): void;
  /** Health this thread's probes decided (or, answering a sync, knows), for the others to adopt. */
  publishHealth(cluster: string, settings: string, states: readonly HealthState[]): void;
  /** A cluster started here: asks the others for the health they know (they answer with publishHealth). */
  requestSync(cluster: string, settings: string): void;
  /** Whether this thread probes the endpoint (health-owner.ts). */
  owns(cluster: string, endpointId: string): boolean;
  /** A stamp for a health transition, later than every stamp any thread took before. */
  stamp(): number;
}

export interface ClusterContext {
  readonly log: Logger;
  readonly clock?: Clock;
  /** The node's workload certificate, for a cluster with `tls`. */
  readonly credentials?: MeshCredentials;
  readonly share?: ClusterStateShare;
}

/** What one attempt said about its endpoint: a status, or a failure with no response. */
export type AttemptResult =
  { readonly status: number } | { readonly failure: UpstreamFailure | 'timeout' };

/** A cluster's settings apart from its endpoints: when these differ, the cluster is rebuilt. */
export function clusterSettingsKey(config: HttpClusterConfig, http: HttpConfig): string {
  const { endpoints: _endpoints, ...settings } = config;
  // The retry budget is per cluster, so its settings are part of the cluster's identity.
  return JSON.stringify([settings, http.retryBudget]);
}

export class Cluster {
  readonly name: string;
  /** A digest of clusterSettingsKey: which instances' health states are comparable. */
  readonly settings: string;
  #config: HttpClusterConfig;
  #endpoints: readonly ClusterEndpoint[];
  readonly breaker: CircuitBreaker;
  readonly retryBudget: RetryBudget;
  readonly pool: UpstreamPool;
  readonly outlier: OutlierDetector | undefined;
  readonly #balancer: Balancer;
  readonly #latency: PeakEwma | undefined;
  readonly #health: HealthChecker | undefined;
  readonly #hashOn: HashKeySource | undefined;
  readonly #share: ClusterStateShare | undefined;
  /** Ejections so far, for a counter (the detector keeps only the current state). */
  #ejections = 0;
  #inFlight = 0;

  constructor(config: HttpClusterConfig, http: HttpConfig, context: ClusterContext) {
    const { log, clock = sharedMonotonicClock, credentials, share } = context;
    if (config.tls !== undefined && credentials?.current === undefined) {
      throw new ClusterTlsError(config);
    }
    this.name = config.name;
    this.settings = createHash('sha256')
      .update(clusterSettingsKey(config, http))
      .digest('base64url')
      .slice(0, 22);
    this.#share = share;
    this.#config = config;
    this.#endpoints = config.endpoints.map(newEndpoint);
    const limits = config.circuitBreaker;
    this.breaker = new CircuitBreaker({
      connections: limits.maxConnections,
      pending: limits.maxPending,
      requests: limits.maxRequests,
      retries: limits.maxRetries,
    });
    this.retryBudget = new RetryBudget({
      budgetPercent: http.retryBudget.percent,
      minRetryConcurrency: http.retryBudget.minConcurrency,
    });
    const connector = meshConnector(config.tls, credentials);
    this.pool = config.http2
      ? new Http2Pool(connector)
      : new Http1Pool(limits.maxConnections, connector);
    if (config.outlier !== undefined) {
      this.outlier = new OutlierDetector({
        consecutiveErrors: config.outlier.consecutive5xx,
        consecutiveGatewayErrors: config.outlier.consecutive5xx,
        baseEjectionMs: config.outlier.baseEjectionMs,
        maxEjectionMs: config.outlier.baseEjectionMs * 10,
        maxEjectionPercent: config.outlier.maxEjectionPercent,
        clock,
        ...(share === undefined
          ? {}
          : {
              onEjected: (endpointId: string, ejection: Ejection) => {
                share.publishEjection(config.name, endpointId, ejection);
              },
            }),
      });
      this.outlier.setEndpoints(this.endpoints.map((endpoint) => endpoint.id));
    }
    if (config.lb === 'least-request') {
      this.#latency = new PeakEwma({ decayMs: 10_000, defaultLatencyMs: 1, clock });
      this.#balancer = new LeastRequest(this.#latency);
    } else if (config.lb === 'consistent-hash') {
      this.#balancer = new ConsistentHash();
    } else {
      this.#balancer = new RoundRobin();
    }
    this.#hashOn = config.hashOn as HashKeySource | undefined;
    if (config.healthCheck !== undefined) {
      this.#health = new HealthChecker(
        this.endpoints,
        {
          ...config.healthCheck,
          http2: config.http2,
          clock,
          ...(connector === undefined ? {} : { connector }),
          ...(share === undefined
            ? {}
            : {
                owns: (id: string) => share.owns(config.name, id),
                stamp: () => share.stamp(),
                onChange: (id: string, healthy: boolean, since: number) => {
                  share.publishHealth(config.name, this.settings, [{ id, healthy, since }]);
                },
              }),
        },
        log.child({ cluster: config.name }),
      );
    }
  }

  /**
   * Starts the active health checks (if any) of the endpoints this thread
   * owns, and asks the other threads for the health of the rest; the
   * cluster is in force from now on.
   */
  start(): void {
    this.#health?.start();
    if (this.#health !== undefined || this.outlier !== undefined) {
      this.#share?.requestSync(this.name, this.settings);
    }
  }

  get config(): HttpClusterConfig {
    return this.#config;
  }

  get endpoints(): readonly ClusterEndpoint[] {
    return this.#endpoints;
  }

  /**
   * Readies a change of this cluster's endpoint list (its other settings must
   * be the same: see clusterSettingsKey). Parsing happens now; the returned
   * commit puts the list in force and cannot fail.
   */
  prepareEndpoints(config: HttpClusterConfig): () => void {
    const current = new Map<string, ClusterEndpoint[]>();
    for (const endpoint of this.#endpoints) {
      const same = current.get(endpoint.id) ?? [];
      same.push(endpoint);
      current.set(endpoint.id, same);
    }
    // Kept endpoints are the same objects (their active-request counts go on).
    const next = config.endpoints.map((text) => current.get(text)?.shift() ?? newEndpoint(text));
    const kept = new Set(next);
    const removed = this.#endpoints.filter((endpoint) => !kept.has(endpoint));
    return () => {
      this.#config = config;
      this.#endpoints = next;
      const ids = new Set(next.map((endpoint) => endpoint.id));
      this.outlier?.setEndpoints(ids);
      this.#health?.setTargets(next);
      for (const endpoint of removed) {
        if (!ids.has(endpoint.id)) this.pool.retire(endpoint);
      }
    };
  }

  /** Not ejected and not failing its health checks. */
  readonly isAvailable = (endpoint: { readonly id: string }): boolean =>
    (this.outlier === undefined || !this.outlier.isEjected(endpoint.id)) &&
    (this.#health === undefined || this.#health.isHealthy(endpoint.id));

  /** At least one endpoint can take a request (for a weighted split to skip this cluster). */
  get hasAvailable(): boolean {
    return this.endpoints.some(this.isAvailable);
  }

  /** Attempts in flight to all endpoints: while below the connection limit, none waits for a connection. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Counts an attempt on `endpoint` (for least-request and the limits) until the release. */
  begin(endpoint: ClusterEndpoint): Release {
    endpoint.activeRequests += 1;
    this.#inFlight += 1;
    return releaseOnce(() => {
      endpoint.activeRequests -= 1;
      this.#inFlight -= 1;
    });
  }

  get ejections(): number {
    return this.#ejections;
  }

  /**
   * An endpoint for a request; `tried` ones (earlier attempts of the same
   * request) are avoided while another is available, as Envoy's
   * previous_hosts retry predicate does, so a retry does not meet the same fault.
   */
  pick(headers: RequestHeaders, tried?: ReadonlySet<string>): ClusterEndpoint | undefined {
    const hashKey = this.#hashOn === undefined ? undefined : hashKeyFrom(headers, this.#hashOn);
    const options = hashKey === undefined ? {} : { hashKey };
    if (tried !== undefined && tried.size > 0) {
      const fresh = this.#balancer.pick(this.endpoints, {
        ...options,
        available: (endpoint) => !tried.has(endpoint.id) && this.isAvailable(endpoint),
      });
      if (fresh !== undefined) return fresh;
    }
    return this.#balancer.pick(this.endpoints, { ...options, available: this.isAvailable });
  }

  /** Feeds outlier detection and the latency estimate with one attempt's result. */
  record(endpoint: ClusterEndpoint, result: AttemptResult, latencyMs: number): void {
    if (this.outlier !== undefined) {
      const wasEjected = this.outlier.isEjected(endpoint.id);
      this.outlier.record(
        endpoint.id,
        'status' in result ? outcomeOf(result.status) : 'gateway-error',
      );
      if (!wasEjected && this.outlier.isEjected(endpoint.id)) this.#ejections += 1;
    }
    if ('status' in result) this.#latency?.observe(endpoint.id, latencyMs);
  }

  /** An ejection the same cluster in another L7 thread decided: this one adopts it. */
  /** The outlier ejections in force, for another thread's cluster that starts. */
  currentEjections(): { readonly endpointId: string; readonly ejection: Ejection }[] {
    return this.outlier?.ejections() ?? [];
  }

  adoptEjection(endpointId: string, ejection: Ejection): void {
    this.outlier?.adopt(endpointId, ejection);
  }

  /**
   * Health another L7 thread's instance of this cluster decided or knows:
   * adopted where newer, if that instance was built for the same settings.
   */
  adoptHealth(settings: string, states: readonly HealthState[]): void {
    if (this.#health === undefined || settings !== this.settings) return;
    for (const state of states) this.#health.adopt(state);
  }

  /** The health transitions this instance knows of (its own and adopted), for a thread that asks. */
  decidedHealth(settings: string): HealthState[] {
    if (this.#health === undefined || settings !== this.settings) return [];
    return this.#health.decided();
  }

  isHealthy(endpointId: string): boolean {
    return this.#health?.isHealthy(endpointId) ?? true;
  }

  close(): void {
    this.#health?.close();
    this.pool.close();
  }
}

function newEndpoint(text: string): ClusterEndpoint {
  return { ...validHostPort(text), id: text, activeRequests: 0 };
}
