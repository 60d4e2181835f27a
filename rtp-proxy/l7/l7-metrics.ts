/**
 * Prometheus metrics of the L7 proxy, per listener, route, cluster and
 * endpoint: request counts by status (requests/s and success rate are rates
 * of it), latency histograms, retries, overflows, ejections, mirrors, faults
 * and refused requests. Registered once per registry; every config shares them.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { MonotonicTotals } from '../../src/shared/monotonic-totals.js';
import type { Cluster } from './cluster/cluster.js';
import type { BodyBufferBudget } from './listener/body-budget.js';
import {
  CounterTally,
  SeriesTree,
  TalliedHistogram,
  type CountSeries,
  type HistogramSeries,
} from './request-tallies.js';

type RequestLabel = 'listener' | 'route' | 'cluster' | 'code';
type AttemptLabel = 'cluster' | 'endpoint' | 'result';

/** What one request adds to, for one listener, route and cluster. */
interface RequestSeries {
  readonly byCode: Map<number, CountSeries<RequestLabel>>;
  readonly duration: HistogramSeries<'route' | 'cluster'>;
}

/** From 0.5 ms (a local hop) to 10 s (a slow upstream), for p50/p99 via histogram_quantile. */
const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export class HttpMetrics {
  readonly requests: Counter<RequestLabel>;
  readonly duration: TalliedHistogram<'route' | 'cluster'>;
  readonly upstreamAttempts: Counter<AttemptLabel>;
  readonly retries: Counter<'route' | 'result'>;
  readonly overflows: Counter<'cluster' | 'resource'>;
  readonly mirrors: Counter<'route' | 'cluster' | 'result'>;
  readonly faults: Counter<'route' | 'kind'>;
  readonly refused: Counter<'listener' | 'reason'>;
  readonly authorizationDenied: Counter<'listener' | 'rule'>;
  readonly upstreamTlsFailures: Counter<'cluster' | 'reason'>;
  readonly tunnelBytes: Counter<'route' | 'cluster' | 'direction'>;
  readonly bodyCopiesAbandoned: Counter<'listener' | 'reason'>;
  /** The listeners' body-copy budgets, read at scrape time. */
  readonly #bodyBudgets = new Set<{
    readonly listener: string;
    readonly budget: BodyBufferBudget;
  }>();
  /** Per-request counts of `requests` and `upstreamAttempts`, handed to them when read. */
  readonly #requestTally = new CounterTally<RequestLabel>();
  readonly #attemptTally = new CounterTally<AttemptLabel>();
  readonly #requestSeries = new SeriesTree<RequestSeries>();
  readonly #attemptSeries = new SeriesTree<CountSeries<AttemptLabel>>();
  /** Read at scrape time from the clusters in force. */
  #clusters: () => Iterable<Cluster> = () => [];

  /** The registry these metrics live in; listener budgets register their own series there. */
  readonly registry: Registry;

  constructor(registry: Registry) {
    this.registry = registry;
    const registers = [registry];
    const requestTally = this.#requestTally;
    this.requests = new Counter({
      name: 'streammesh_http_requests_total',
      help: 'Downstream HTTP/gRPC requests answered, by listener, route, cluster and HTTP status ("none": no route or cluster).',
      labelNames: ['listener', 'route', 'cluster', 'code'],
      registers,
      collect() {
        requestTally.flushInto(this);
      },
    });
    this.duration = new TalliedHistogram({
      name: 'streammesh_http_request_duration_seconds',
      help: 'Time from a request head to the end of its response, retries included.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const attemptTally = this.#attemptTally;
    this.upstreamAttempts = new Counter({
      name: 'streammesh_http_upstream_attempts_total',
      help: 'Attempts sent to endpoints, by result: a status class, connect-failure, reset, refused-stream or timeout.',
      labelNames: ['cluster', 'endpoint', 'result'],
      registers,
      collect() {
        attemptTally.flushInto(this);
      },
    });
    this.retries = new Counter({
      name: 'streammesh_http_retries_total',
      help: 'Retries by result: made, or not made because of the retry budget, the circuit breaker, an unreplayable body or the deadline.',
      labelNames: ['route', 'result'],
      registers,
    });
    this.overflows = new Counter({
      name: 'streammesh_http_cluster_overflow_total',
      help: 'Requests refused (503) by a cluster circuit breaker, by exhausted resource.',
      labelNames: ['cluster', 'resource'],
      registers,
    });
    this.mirrors = new Counter({
      name: 'streammesh_http_mirrored_requests_total',
      help: 'Shadow copies sent to a mirror cluster, by result (their responses are dropped).',
      labelNames: ['route', 'cluster', 'result'],
      registers,
    });
    this.faults = new Counter({
      name: 'streammesh_http_faults_injected_total',
      help: 'Requests delayed or aborted by fault injection.',
      labelNames: ['route', 'kind'],
      registers,
    });
    this.refused = new Counter({
      name: 'streammesh_http_refused_requests_total',
      help: 'Downstream requests, streams or connections refused before routing (malformed, smuggling attempts, oversized headers, slow clients, invalid HTTP/2 frames), by reason.',
      labelNames: ['listener', 'reason'],
      registers,
    });
    this.authorizationDenied = new Counter({
      name: 'streammesh_http_authorization_denied_total',
      help: 'Requests denied by a listener\'s authorization policy (answered 403 or PERMISSION_DENIED, never proxied), by listener and deciding rule (its index, or "default").',
      labelNames: ['listener', 'rule'],
      registers,
    });
    this.upstreamTlsFailures = new Counter({
      name: 'streammesh_http_upstream_tls_failures_total',
      help: "Mutual TLS handshakes to a mesh cluster's endpoints that failed, by reason: server_identity (not an accepted SPIFFE ID), certificate (not verified by the trust bundle), no_certificate (this node has none), handshake (anything else).",
      labelNames: ['cluster', 'reason'],
      registers,
    });
    this.tunnelBytes = new Counter({
      name: 'streammesh_http_tunnel_bytes_total',
      help: 'Bytes relayed through upgraded (WebSocket) connections after the 101, by direction (to_upstream, to_downstream); counted when the tunnel closes.',
      labelNames: ['route', 'cluster', 'direction'],
      registers,
    });
    this.bodyCopiesAbandoned = new Counter({
      name: 'streammesh_http_body_copies_abandoned_total',
      help: 'Request bodies proxied without the copy a retry or mirror would resend (so not retried or mirrored), by listener and reason: request_too_large (over 64 KiB) or listener_budget_full (maxBufferedBodyBytes reached).',
      labelNames: ['listener', 'reason'],
      registers,
    });
    const bodyBudgets = this.#bodyBudgets;
    new Gauge({
      name: 'streammesh_http_buffered_body_bytes',
      help: 'Bytes held in request-body copies for retries and mirrors, by listener (bounded by its maxBufferedBodyBytes).',
      labelNames: ['listener'],
      registers,
      collect() {
        this.reset();
        for (const { listener, budget } of bodyBudgets) {
          // Two listeners of one name (one draining while its successor serves) add up.
          this.inc({ listener }, budget.usedBytes);
        }
      },
    });
    const clusters = (): Iterable<Cluster> => this.#clusters();
    new Gauge({
      name: 'streammesh_http_endpoint_available',
      help: '1 when an endpoint takes requests, 0 while ejected or failing health checks.',
      labelNames: ['cluster', 'endpoint'],
      registers,
      collect() {
        this.reset();
        for (const cluster of clusters()) {
          for (const endpoint of cluster.endpoints) {
            this.set(
              { cluster: cluster.name, endpoint: endpoint.id },
              cluster.isAvailable(endpoint) ? 1 : 0,
            );
          }
        }
      },
    });
    // A cluster rebuilt by a config change counts its ejections from 0 again:
    // the counter adds up only the rises, so it never goes down.
    const ejections = new MonotonicTotals();
    new Counter({
      name: 'streammesh_http_outlier_ejections_total',
      help: 'Outlier ejections of endpoints of a cluster.',
      labelNames: ['cluster'],
      registers,
      collect() {
        this.reset();
        for (const cluster of clusters()) {
          this.inc({ cluster: cluster.name }, ejections.update(cluster.name, cluster.ejections));
        }
        ejections.sweep();
      },
    });
    new Gauge({
      name: 'streammesh_http_upstream_connections',
      help: 'Connections (HTTP/1.1) or sessions (HTTP/2) open to a cluster.',
      labelNames: ['cluster'],
      registers,
      collect() {
        this.reset();
        for (const cluster of clusters())
          this.set({ cluster: cluster.name }, cluster.pool.connections);
      },
    });
  }

  /**
   * One downstream request answered, on the request path: counted by status
   * (streammesh_http_requests_total) and its duration observed.
   */
  recordRequest(
    listener: string,
    route: string,
    cluster: string,
    code: number,
    seconds: number,
  ): void {
    const series =
      this.#requestSeries.find(listener, route, cluster) ??
      this.#requestSeries.put(listener, route, cluster, {
        byCode: new Map(),
        duration: this.duration.series({ route, cluster }),
      });
    let counted = series.byCode.get(code);
    if (counted === undefined) {
      counted = this.#requestTally.series({ listener, route, cluster, code: String(code) });
      series.byCode.set(code, counted);
    }
    counted.count += 1;
    this.duration.observe(series.duration, seconds);
  }

  /** One attempt on an endpoint (streammesh_http_upstream_attempts_total), on the request path. */
  countAttempt(cluster: string, endpoint: string, result: string): void {
    const series =
      this.#attemptSeries.find(cluster, endpoint, result) ??
      this.#attemptSeries.put(
        cluster,
        endpoint,
        result,
        this.#attemptTally.series({ cluster, endpoint, result }),
      );
    series.count += 1;
  }

  watchClusters(clusters: () => Iterable<Cluster>): void {
    this.#clusters = clusters;
  }

  /** Reports `budget` under `listener` until the returned function is called. */
  watchBodyBudget(listener: string, budget: BodyBufferBudget): () => void {
    const entry = { listener, budget };
    this.#bodyBudgets.add(entry);
    return () => this.#bodyBudgets.delete(entry);
  }
}
