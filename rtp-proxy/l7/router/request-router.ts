/**
 * What one proxied request needs from the config in force: its route, the
 * route's cluster, the mirror, the shared random source, metrics and access
 * log. HttpRouter implements it; ProxiedRequest depends on this interface
 * only, so neither module imports the other's runtime code in a circle.
 */
import type { HttpRouteConfig } from '../../../src/config/index.js';
import type { AccessLog } from './access-log.js';
import type { AuthorizationDecision, AuthorizationRequest } from './authorization.js';
import type { BodyRecorder } from './body-recorder.js';
import type { Random } from '../cluster/balancers.js';
import type { Cluster } from '../cluster/cluster.js';
import type { DownstreamRequest } from '../listener/downstream.js';
import type { HttpMetrics } from '../l7-metrics.js';
import type { RouteRequest } from './route-match.js';

export interface RequestRouter {
  readonly metrics: HttpMetrics;
  readonly accessLog: AccessLog;
  readonly random: Random;
  authorize(listener: string, request: AuthorizationRequest): AuthorizationDecision;
  match(listener: string, request: RouteRequest): HttpRouteConfig | undefined;
  pickCluster(route: HttpRouteConfig): Cluster | undefined;
  mirror(
    route: HttpRouteConfig,
    req: DownstreamRequest,
    authority: string,
    recorder: BodyRecorder,
  ): void;
}
