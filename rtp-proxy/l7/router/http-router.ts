/**
 * The L7 proxy's state for one config: the routes of each listener, the
 * clusters, the weighted splits, and what every request shares (metrics, the
 * access log). A pushed config builds a new router; listeners switch to it
 * between requests, so a request runs start to end on one config.
 */
import type { HttpConfig, HttpRouteConfig } from '../../../src/config/index.js';
import type { Logger } from '../../../src/shared/log.js';
import { AccessLog } from './access-log.js';
import {
  compileAuthorization,
  type AuthorizationDecision,
  type AuthorizationRequest,
  type Authorizer,
} from './authorization.js';
import { WeightedSplit, type Random } from '../cluster/balancers.js';
import type { BodyRecorder } from './body-recorder.js';
import type { Cluster } from '../cluster/cluster.js';
import {
  downstreamFacts,
  localReply,
  type DownstreamRequest,
  type DownstreamResponse,
  type DownstreamUpgrade,
} from '../listener/downstream.js';
import { forwardedRequestHeaders } from '../headers.js';
import type { HttpMetrics } from '../l7-metrics.js';
import { ProxiedRequest } from './proxied-request.js';
import type { RequestRouter } from './request-router.js';
import { compileRoutes, type RouteMatcher, type RouteRequest } from './route-match.js';
import { errorMessage } from '../../../src/shared/errors.js';

export class HttpRouter implements RequestRouter {
  readonly metrics: HttpMetrics;
  readonly accessLog: AccessLog;
  readonly random: Random;
  readonly #matchers = new Map<string, RouteMatcher>();
  readonly #authorizers = new Map<string, Authorizer>();
  readonly #config: HttpConfig;
  readonly #clusters: ReadonlyMap<string, Cluster>;
  readonly #splits = new Map<string, WeightedSplit<Cluster>>();
  readonly #log: Logger;

  constructor(options: {
    readonly config: HttpConfig;
    readonly clusters: ReadonlyMap<string, Cluster>;
    readonly metrics: HttpMetrics;
    readonly log: Logger;
    readonly random?: Random;
  }) {
    this.#config = options.config;
    this.#clusters = options.clusters;
    this.metrics = options.metrics;
    this.#log = options.log;
    this.random = options.random ?? Math.random;
    this.accessLog = new AccessLog(options.log, options.config.accessLog);
    for (const listener of options.config.listeners) {
      this.#matchers.set(listener.name, compileRoutes(options.config, listener.name));
      this.#authorizers.set(listener.name, compileAuthorization(listener.authorization));
    }
    for (const route of options.config.routes) {
      const weighted = route.action.weighted;
      if (weighted === undefined) continue;
      this.#splits.set(
        route.name,
        new WeightedSplit(
          weighted.flatMap((entry) => {
            const cluster = this.#clusters.get(entry.cluster);
            return cluster === undefined ? [] : [{ cluster, weight: entry.weight }];
          }),
          this.random,
        ),
      );
    }
  }

  /**
   * Proxies one request (with `upgrade`, an HTTP/1.1 Upgrade request and its
   * connection); never throws (a bug answers 500 and is logged).
   */
  handle(
    listener: string,
    req: DownstreamRequest,
    res: DownstreamResponse,
    upgrade?: DownstreamUpgrade,
  ): void {
    const request = new ProxiedRequest(this, listener, req, res, upgrade);
    request.run().catch((error: unknown) => {
      this.#log.error({ error: errorMessage(error), listener }, 'HTTP proxy request failed');
      localReply(res, 500, 'proxy error', undefined);
    });
  }

  /**
   * The listener's authorization policy on one request. A listener this
   * config does not have (one retiring after a change) has no route either:
   * its requests are answered 404 by match(), never proxied.
   */
  authorize(listener: string, request: AuthorizationRequest): AuthorizationDecision {
    return this.#authorizers.get(listener)?.(request) ?? { allowed: true };
  }

  match(listener: string, request: RouteRequest): HttpRouteConfig | undefined {
    return this.#matchers.get(listener)?.(request);
  }

  /** The route's cluster; for a split, a weighted pick among clusters that have a usable endpoint. */
  pickCluster(route: HttpRouteConfig): Cluster | undefined {
    const { cluster } = route.action;
    if (cluster !== undefined) return this.#clusters.get(cluster);
    return this.#splits.get(route.name)?.pick((candidate) => candidate.hasAvailable);
  }

  /**
   * Sends a copy of a share of requests to the mirror cluster once the body is
   * complete; the copy's response is read and dropped, its failures only counted.
   * Host gets "-shadow" appended (as Envoy does) so upstreams can tell copies apart.
   */
  mirror(
    route: HttpRouteConfig,
    req: DownstreamRequest,
    authority: string,
    recorder: BodyRecorder,
  ): void {
    const mirror = route.action.mirror;
    if (mirror === undefined || this.random() * 100 >= mirror.percent) return;
    const cluster = this.#clusters.get(mirror.cluster);
    const count = (result: string): void => {
      this.metrics.mirrors.inc({ route: route.name, cluster: mirror.cluster, result });
    };
    const endpoint = cluster?.pick(req.headers);
    if (cluster === undefined || endpoint === undefined) {
      count('no_endpoint');
      return;
    }
    const headers = forwardedRequestHeaders(req.headers, downstreamFacts(req));
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    void recorder.ended().then(() => {
      if (!recorder.replayable) {
        count('body_too_large');
        return;
      }
      const release = cluster.breaker.tryAcquire('requests');
      if (release === undefined) {
        count('overflow');
        return;
      }
      const exchange = cluster.pool.open(endpoint, {
        method,
        path,
        authority: `${authority.replace(/:\d+$/, '')}-shadow`,
        headers,
      });
      recorder.replayInto(exchange.body);
      const timer = setTimeout(() => exchange.abort(), route.action.timeoutMs || 60_000);
      exchange.response.then(
        (response) => {
          count('sent');
          response.body.resume();
          response.body.once('close', () => {
            clearTimeout(timer);
            release();
          });
        },
        () => {
          clearTimeout(timer);
          release();
          count('failed');
        },
      );
    });
  }

  get clusters(): Iterable<Cluster> {
    return this.#clusters.values();
  }

  get config(): HttpConfig {
    return this.#config;
  }
}
