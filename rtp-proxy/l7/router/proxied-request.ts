/**
 * One downstream request through the proxy, from its route to the end of its
 * response: fault injection, the circuit breaker, attempts on endpoints with
 * per-try timeouts, retries within the policy, the budget and the deadline,
 * and the relay of the chosen response (body and trailers) to the client.
 * An HTTP/1.1 Upgrade request (WebSocket) takes the same path; when its
 * endpoint answers 101 the two connections become a tunnel, and the request
 * ends when the tunnel closes.
 * Every way out (answered, timed out, client gone) releases what it took.
 */
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { HttpRouteConfig } from '../../../src/config/index.js';
import { errorMessage } from '../../../src/shared/errors.js';
import { BodyRecorder } from './body-recorder.js';
import { bodyBudgetOf } from '../listener/body-budget.js';
import { releaseOnce, type Release } from '../cluster/circuit-breaker.js';
import type { Cluster, ClusterEndpoint } from '../cluster/cluster.js';
import {
  authorityOf,
  clientAddressOf,
  downstreamFacts,
  hasNoBody,
  peerIdentityOf,
  localReply,
  protocolOf,
  requestBodyOf,
  resetDownstream,
  responseBodyOf,
  type DownstreamRequest,
  type DownstreamResponse,
  type DownstreamUpgrade,
} from '../listener/downstream.js';
import {
  GrpcStatus,
  formatGrpcTimeout,
  grpcStatusOf,
  isGrpcRequest,
  parseGrpcTimeout,
} from '../grpc.js';
import {
  applyHeaderEdit,
  endToEndHeaders,
  forwardedRequestHeaders,
  responseHeaders,
} from '../headers.js';
import type { RequestRouter } from './request-router.js';
import { retryBackoff } from '../cluster/retry-budget.js';
import { RetryPolicy, type AttemptOutcome } from './retry-policy.js';
import { MAX_TIMEOUT_MS, RequestTimer } from './request-timer.js';
import { runTunnel } from './tunnel.js';
import {
  UpstreamError,
  type UpgradedConnection,
  type UpstreamExchange,
  type UpstreamResponse,
} from '../upstream/upstream-pool.js';

type Fault = NonNullable<HttpRouteConfig['action']['fault']>;

/** Header telling an upstream which attempt this is (Envoy: x-envoy-attempt-count). */
export const ATTEMPT_HEADER = 'x-streammesh-attempt-count';

interface Attempt {
  readonly endpoint: ClusterEndpoint;
  readonly exchange: UpstreamExchange;
  readonly outcome: AttemptOutcome;
  readonly response: UpstreamResponse | undefined;
  /** Frees the endpoint's active-request slot once its response is done with. */
  readonly release: Release;
}

export class ProxiedRequest {
  readonly #router: RequestRouter;
  readonly #req: DownstreamRequest;
  /** The request body: node:http's request, or the HTTP/2 stream. */
  readonly #body: Readable;
  readonly #res: DownstreamResponse;
  readonly #listener: string;
  readonly #started = performance.now();
  readonly #grpc: boolean;
  readonly #authority: string;
  readonly #cleanups: (() => void)[] = [];
  /** Set for an HTTP/1.1 Upgrade request: the client's connection and early bytes. */
  readonly #upgrade: DownstreamUpgrade | undefined;
  /** Set once the upstream said 101: the request ends when the tunnel closes, not the response. */
  #tunnelling = false;
  /** The route timeout and idle timeout; stopped at the end, or when a tunnel (with its own) opens. */
  #timer: RequestTimer | undefined;
  #route: HttpRouteConfig | undefined;
  #cluster: Cluster | undefined;
  #endpoint: ClusterEndpoint | undefined;
  #current: UpstreamExchange | undefined;
  #attempts = 0;
  readonly #flags: string[] = [];
  #grpcStatus: number | null = null;
  /** Set once the exchange is over for us: deadline hit or client gone. Nothing more is sent. */
  #abandoned = false;
  /** Set when the route's deadline or idle timer ended the request. */
  #timedOut = false;
  /** Set when the downstream response has closed and the cleanups have run. */
  #finished = false;
  /** The body copy for retries and mirrors, when the route has either. */
  #recorder: BodyRecorder | undefined;

  constructor(
    router: RequestRouter,
    listener: string,
    req: DownstreamRequest,
    res: DownstreamResponse,
    upgrade?: DownstreamUpgrade,
  ) {
    this.#router = router;
    this.#listener = listener;
    this.#req = req;
    this.#body = requestBodyOf(req);
    this.#res = res;
    this.#upgrade = upgrade;
    this.#grpc = upgrade === undefined && isGrpcRequest(req.headers);
    this.#authority = authorityOf(req);
    res.once('close', () => {
      if (!this.#tunnelling) this.#finish();
    });
  }

  async run(): Promise<void> {
    const req = this.#req;
    if (!this.#authorized()) return;
    const route = this.#router.match(this.#listener, {
      authority: this.#authority,
      path: req.url ?? '/',
      method: req.method ?? 'GET',
      headers: req.headers,
    });
    if (route === undefined) {
      this.#flags.push('NR');
      this.#reply(
        404,
        `no route for "${this.#authority}${req.url ?? ''}"`,
        GrpcStatus.UNIMPLEMENTED,
      );
      return;
    }
    this.#route = route;
    const { fault } = route.action;
    // Awaited only when there is a fault: the client may leave during it.
    if (fault !== undefined && !(await this.#injectFaults(route.name, fault))) return;
    if (this.#isAbandoned()) return;
    const cluster = this.#router.pickCluster(route);
    if (cluster === undefined) {
      this.#flags.push('NH');
      this.#reply(503, `no healthy upstream for route "${route.name}"`);
      return;
    }
    this.#cluster = cluster;
    if (this.#upgrade !== undefined && cluster.config.http2) {
      this.#flags.push('UF');
      this.#reply(502, `upgrades need an HTTP/1.1 cluster; "${cluster.name}" speaks HTTP/2`);
      return;
    }
    const releaseRequest = cluster.breaker.tryAcquire('requests');
    if (releaseRequest === undefined) {
      this.#overflow(cluster, 'requests');
      return;
    }
    this.#defer(releaseRequest);
    this.#defer(cluster.retryBudget.startRequest());
    // An upgrade request has no body to record (what follows its head belongs to the tunnel).
    const recorder =
      this.#upgrade === undefined &&
      (route.action.retries !== undefined || route.action.mirror !== undefined)
        ? this.#record()
        : undefined;
    if (route.action.mirror !== undefined && recorder !== undefined) {
      this.#router.mirror(route, req, this.#authority, recorder);
    }
    this.#armTimers(route);
    await this.#forward(route, cluster, recorder);
  }

  /**
   * The listener's authorization policy, before anything else: a denied
   * request is answered 403 (gRPC: PERMISSION_DENIED, Trailers-Only) and
   * counted, and nothing of it goes upstream.
   */
  #authorized(): boolean {
    const req = this.#req;
    const decision = this.#router.authorize(this.#listener, {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      peer: peerIdentityOf(req),
    });
    if (decision.allowed) return true;
    this.#router.metrics.authorizationDenied.inc({ listener: this.#listener, rule: decision.rule });
    this.#flags.push('AD');
    this.#reply(403, 'denied by the authorization policy', GrpcStatus.PERMISSION_DENIED);
    return false;
  }

  /**
   * Starts the body copy for retries and mirrors, charged to the listener's
   * budget. Its bytes go back once no retry can want it (an attempt is
   * delivered, or the request is over) and the body has ended, so that a
   * mirror waiting on that end (registered first) has replayed it; an answer
   * may come before the body is complete. A client that goes before its body
   * ends never ends it: then they go back at once.
   */
  #record(): BodyRecorder {
    const body = this.#body;
    const recorder = new BodyRecorder(body, {
      budget: bodyBudgetOf(this.#req),
      onAbandoned: (reason) => {
        this.#router.metrics.bodyCopiesAbandoned.inc({ listener: this.#listener, reason });
      },
    });
    this.#recorder = recorder;
    body.once('close', () => {
      if (!body.readableEnded) recorder.release();
    });
    this.#defer(() => this.#releaseCopyAfterBody());
    return recorder;
  }

  #releaseCopyAfterBody(): void {
    const recorder = this.#recorder;
    if (recorder !== undefined) void recorder.ended().then(() => recorder.release());
  }

  /** false when a fault answered the request (or the client left during a delay). */
  async #injectFaults(routeName: string, fault: Fault): Promise<boolean> {
    const random = this.#router.random;
    if (fault.abort !== undefined && random() * 100 < fault.abort.percent) {
      this.#router.metrics.faults.inc({ route: routeName, kind: 'abort' });
      this.#flags.push('FI');
      this.#reply(fault.abort.status, 'fault injected');
      return false;
    }
    const { delay } = fault;
    if (delay !== undefined && random() * 100 < delay.percent) {
      this.#router.metrics.faults.inc({ route: routeName, kind: 'delay' });
      this.#flags.push('DI');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay.ms);
        this.#defer(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return !this.#isAbandoned();
  }

  /** The route timeout (or the gRPC deadline, if sooner) and the idle timeout. */
  #armTimers(route: HttpRouteConfig): void {
    const timer = new RequestTimer(this.#deadlineMs(route), route.action.idleTimeoutMs, {
      onDeadline: () => {
        this.#timeOut();
      },
      onIdle: () => {
        this.#flags.push('SI');
        this.#timeOut();
      },
    });
    this.#timer = timer;
    // A request without a body has no byte to note (and a listener would set it flowing for nothing).
    if (!hasNoBody(this.#req)) this.#body.on('data', timer.touch);
    this.#defer(() => {
      this.#disarmTimers();
    });
  }

  #disarmTimers(): void {
    const timer = this.#timer;
    if (timer === undefined) return;
    timer.stop();
    this.#body.off('data', timer.touch);
  }

  #deadlineMs(route: HttpRouteConfig): number {
    const routeMs = route.action.timeoutMs === 0 ? Infinity : route.action.timeoutMs;
    const grpcMs = this.#grpc ? parseGrpcTimeout(this.#req.headers['grpc-timeout']) : undefined;
    return Math.min(routeMs, grpcMs ?? Infinity);
  }

  #remainingMs(route: HttpRouteConfig): number {
    return this.#deadlineMs(route) - (performance.now() - this.#started);
  }

  async #forward(
    route: HttpRouteConfig,
    cluster: Cluster,
    recorder: BodyRecorder | undefined,
  ): Promise<void> {
    const retries = route.action.retries;
    const policy = retries === undefined ? undefined : new RetryPolicy(retries.on);
    const backoff =
      retries === undefined
        ? undefined
        : retryBackoff({ baseMs: retries.backoff.baseMs, maxMs: retries.backoff.maxMs });
    const method = this.#req.method ?? 'GET';
    let releaseRetry: Release | undefined;
    // Endpoints of earlier attempts, for a retry to avoid; none without retries.
    const tried = policy === undefined ? undefined : new Set<string>();
    for (let index = 0; ; index += 1) {
      const endpoint = cluster.pick(this.#req.headers, tried);
      if (endpoint === undefined) {
        releaseRetry?.();
        this.#flags.push('NH');
        this.#reply(503, `no healthy endpoint in cluster "${cluster.name}"`);
        return;
      }
      if (!this.#poolHasRoom(cluster)) {
        releaseRetry?.();
        return;
      }
      tried?.add(endpoint.id);
      const attempt = await this.#attempt(route, cluster, endpoint, index, recorder);
      releaseRetry?.();
      releaseRetry = undefined;
      if (this.#abandoned) {
        attempt.exchange.abort();
        attempt.release();
        return;
      }
      const again =
        policy !== undefined &&
        retries !== undefined &&
        backoff !== undefined &&
        index < retries.attempts &&
        policy.retryable(attempt.outcome, method, this.#grpc);
      if (again) {
        releaseRetry = await this.#retryAllowed(route, cluster, recorder, backoff.next());
        if (releaseRetry !== undefined) {
          discard(attempt);
          // The client may have gone, or the deadline passed, during the backoff.
          if (this.#isAbandoned()) {
            releaseRetry();
            return;
          }
          continue;
        }
      }
      if (this.#isAbandoned()) {
        discard(attempt);
        return;
      }
      this.#deliver(route, attempt);
      return;
    }
  }

  /**
   * HTTP/1.1 attempts beyond the connection limit (every connection busy) wait
   * in the pool, up to maxPending. HTTP/2 streams never wait for a connection.
   */
  #poolHasRoom(cluster: Cluster): boolean {
    const limits = cluster.config.circuitBreaker;
    if (cluster.config.http2 || cluster.inFlight < limits.maxConnections) return true;
    this.#router.metrics.overflows.inc({ cluster: cluster.name, resource: 'connections' });
    if (cluster.pool.pending < limits.maxPending) return true;
    this.#overflow(cluster, 'pending');
    return false;
  }

  /** Takes a retry slot and waits the backoff; undefined (and counted) when a retry is not allowed. */
  async #retryAllowed(
    route: HttpRouteConfig,
    cluster: Cluster,
    recorder: BodyRecorder | undefined,
    waitMs: number,
  ): Promise<Release | undefined> {
    const count = (result: string): void => {
      this.#router.metrics.retries.inc({ route: route.name, result });
    };
    if (this.#remainingMs(route) <= waitMs) {
      count('deadline');
      return undefined;
    }
    const budget = cluster.retryBudget.tryRetry();
    if (budget === undefined) {
      count('budget_exhausted');
      return undefined;
    }
    const breaker = cluster.breaker.tryAcquire('retries');
    if (breaker === undefined) {
      budget();
      this.#router.metrics.overflows.inc({ cluster: cluster.name, resource: 'retries' });
      count('overflow');
      return undefined;
    }
    const release = releaseOnce(() => {
      budget();
      breaker();
    });
    this.#defer(release);
    // The body may still be arriving; it has the backoff to finish.
    await sleep(waitMs);
    if (this.#upgrade === undefined && recorder?.replayable !== true) {
      release();
      count('body_not_replayable');
      return undefined;
    }
    count('made');
    return release;
  }

  async #attempt(
    route: HttpRouteConfig,
    cluster: Cluster,
    endpoint: ClusterEndpoint,
    index: number,
    recorder: BodyRecorder | undefined,
  ): Promise<Attempt> {
    this.#attempts += 1;
    this.#endpoint = endpoint;
    const release = cluster.begin(endpoint);
    this.#defer(release);
    const req = this.#req;
    const headers = forwardedRequestHeaders(req.headers, downstreamFacts(req));
    applyHeaderEdit(headers, route.action.requestHeaders);
    const remaining = this.#remainingMs(route);
    if (this.#grpc && Number.isFinite(remaining))
      headers['grpc-timeout'] = formatGrpcTimeout(remaining);
    if (index > 0) headers[ATTEMPT_HEADER] = String(index + 1);
    if (this.#upgrade !== undefined) {
      // The hop-by-hop pair that asks this hop's upstream to switch protocols.
      headers['connection'] = 'upgrade';
      headers['upgrade'] = req.headers.upgrade ?? '';
    }
    const exchange = cluster.pool.open(endpoint, {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      authority: this.#authority,
      headers,
    });
    this.#current = exchange;
    // A request without a body (most GETs) ends its upstream body now: no pipe to set up.
    if (this.#upgrade !== undefined || (index === 0 && hasNoBody(req))) exchange.body.end();
    else if (index === 0) this.#body.pipe(exchange.body);
    else recorder?.replayInto(exchange.body);
    const sentAt = performance.now();
    // Without retries the per-try timeout is the request's deadline, which the
    // route timer (#timeOut) enforces already: no second timer and race per request.
    const perTryMs =
      route.action.retries === undefined
        ? Infinity
        : Math.min(route.action.retries.perTryTimeoutMs ?? Infinity, remaining);
    let perTry: NodeJS.Timeout | undefined;
    // Longer than setTimeout takes (it would fire after 1 ms): the request's
    // own timer, which re-arms in steps, ends it at the same deadline.
    const timedOut =
      perTryMs <= MAX_TIMEOUT_MS
        ? new Promise<'timeout'>((resolve) => {
            perTry = setTimeout(() => resolve('timeout'), perTryMs);
          })
        : undefined;
    let outcome: AttemptOutcome;
    let response: UpstreamResponse | undefined;
    try {
      const first = await (timedOut === undefined
        ? exchange.response
        : Promise.race([exchange.response, timedOut]));
      if (first === 'timeout') {
        exchange.abort();
        outcome = { failure: 'timeout' };
      } else {
        response = first;
        outcome = { status: first.status, headers: first.headers };
      }
    } catch (error) {
      // Aborted by the route's deadline (or idle) timer: the attempt timed out.
      outcome = this.#timedOut
        ? { failure: 'timeout' }
        : { failure: error instanceof UpstreamError ? error.failure : 'reset' };
      if (error instanceof UpstreamError && error.tls !== undefined) {
        this.#router.metrics.upstreamTlsFailures.inc({ cluster: cluster.name, reason: error.tls });
      }
    } finally {
      clearTimeout(perTry);
    }
    if (response === undefined) release();
    cluster.record(endpoint, outcome, performance.now() - sentAt);
    this.#router.metrics.countAttempt(
      cluster.name,
      endpoint.id,
      'status' in outcome ? statusClass(outcome.status) : outcome.failure,
    );
    return { endpoint, exchange, outcome, response, release };
  }

  /** Sends the final attempt's answer: its response relayed, or an error of our own. */
  #deliver(route: HttpRouteConfig, attempt: Attempt): void {
    // No retry follows the attempt delivered: the copy need not last a long response.
    this.#releaseCopyAfterBody();
    const { response } = attempt;
    if (response === undefined) {
      const failure = 'failure' in attempt.outcome ? attempt.outcome.failure : 'reset';
      if (failure === 'timeout') {
        this.#flags.push('UT');
        this.#reply(504, 'upstream request timed out', GrpcStatus.DEADLINE_EXCEEDED);
      } else if (failure === 'tls-failure') {
        // As Envoy answers a refused upstream handshake: the service is not available here.
        this.#flags.push('UF');
        this.#reply(503, `upstream ${attempt.endpoint.id}: mutual TLS handshake refused`);
      } else {
        this.#flags.push('UF');
        this.#reply(502, `upstream ${attempt.endpoint.id} failed: ${failure}`);
      }
      return;
    }
    if (response.upgrade !== undefined) {
      this.#openTunnel(route, attempt, response, response.upgrade);
      return;
    }
    const res = this.#res;
    const headers = responseHeaders(response.headers);
    applyHeaderEdit(headers, route.action.responseHeaders);
    const { body } = response;
    const headStatus = grpcStatusOf(response.headers);
    if (this.#grpc && headStatus !== undefined) {
      // Trailers-Only (the status is in the head): passed on as one HEADERS
      // frame with END_STREAM, the only shape gRPC clients read it from.
      this.#grpcStatus = headStatus;
      res.statusCode = response.status;
      for (const [name, value] of Object.entries(headers)) {
        if (value !== undefined) res.setHeader(name, value);
      }
      res.end();
      discard(attempt);
      return;
    }
    try {
      res.writeHead(response.status, headers);
    } catch (error) {
      // A status or header this downstream protocol cannot carry (e.g. 600 to HTTP/2).
      discard(attempt);
      this.#flags.push('UF');
      this.#reply(502, `upstream answer cannot be relayed: ${errorMessage(error)}`);
      return;
    }
    const whole = response.takeWholeBody?.();
    if (whole !== undefined) {
      this.#relayTrailers(response);
      res.end(whole);
      attempt.release();
      return;
    }
    if (this.#timer !== undefined) body.on('data', this.#timer.touch);
    body.pipe(responseBodyOf(res), { end: false });
    body.once('end', () => {
      if (!response.endedCleanly()) {
        // A cut upstream must not look like a complete answer downstream.
        this.#flags.push('UF');
        attempt.release();
        resetDownstream(res);
        return;
      }
      this.#relayTrailers(response);
      res.end();
      attempt.release();
    });
    body.once('error', () => {
      attempt.release();
      if (!res.writableEnded) resetDownstream(res);
    });
    this.#defer(attempt.release);
  }

  /** The upstream's trailers, once its body has ended, added to the downstream response. */
  #relayTrailers(response: UpstreamResponse): void {
    const trailers = response.trailers();
    if (Object.keys(trailers).length === 0) return;
    this.#grpcStatus = grpcStatusOf(trailers) ?? this.#grpcStatus;
    // Connection-scoped fields are not trailers HTTP/2 may carry (or HTTP/1.1 should).
    this.#res.addTrailers(endToEndHeaders(trailers));
  }

  /**
   * Relays the 101 (with the route's response header edits) and pipes the
   * two connections; the request, its breaker slot and its endpoint's
   * active-request count last until the tunnel closes.
   */
  #openTunnel(
    route: HttpRouteConfig,
    attempt: Attempt,
    response: UpstreamResponse,
    upstream: UpgradedConnection,
  ): void {
    const downstream = this.#upgrade;
    const cluster = this.#cluster;
    if (downstream === undefined || cluster === undefined) {
      // An upgrade nobody asked for: nothing could be relayed on this connection.
      upstream.socket.destroy();
      this.#flags.push('UF');
      this.#reply(502, 'upstream switched protocols unasked');
      return;
    }
    const headers = responseHeaders(response.headers);
    applyHeaderEdit(headers, route.action.responseHeaders);
    headers['connection'] = 'upgrade';
    headers['upgrade'] = response.headers.upgrade ?? '';
    try {
      this.#res.writeHead(101, headers);
    } catch (error) {
      upstream.socket.destroy();
      this.#flags.push('UF');
      this.#reply(502, `upstream answer cannot be relayed: ${errorMessage(error)}`);
      return;
    }
    this.#tunnelling = true;
    this.#disarmTimers();
    this.#res.end();
    void runTunnel(downstream, upstream, route.action.idleTimeoutMs).then((bytes) => {
      const labels = { route: route.name, cluster: cluster.name };
      this.#router.metrics.tunnelBytes.inc(
        { ...labels, direction: 'to_upstream' },
        bytes.toUpstream,
      );
      this.#router.metrics.tunnelBytes.inc(
        { ...labels, direction: 'to_downstream' },
        bytes.toDownstream,
      );
      attempt.release();
      this.#finish();
    });
  }

  /** Runs `cleanup` when the request ends, or now if it already has (a client that left early). */
  #defer(cleanup: () => void): void {
    if (this.#finished) cleanup();
    else this.#cleanups.push(cleanup);
  }

  /** A method, not the field, so checks after an await are not narrowed away. */
  #isAbandoned(): boolean {
    return this.#abandoned;
  }

  #timeOut(): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.#timedOut = true;
    this.#current?.abort();
    if (!this.#flags.includes('SI')) this.#flags.push('UT');
    if (this.#res.headersSent) resetDownstream(this.#res);
    else
      localReply(
        this.#res,
        504,
        'upstream request timed out',
        this.#grpc ? { status: GrpcStatus.DEADLINE_EXCEEDED } : undefined,
      );
  }

  #overflow(cluster: Cluster, resource: 'requests' | 'pending'): void {
    this.#router.metrics.overflows.inc({ cluster: cluster.name, resource });
    this.#flags.push('UO');
    this.#reply(503, `cluster "${cluster.name}" is at its ${resource} limit`);
  }

  #reply(status: number, message: string, grpcStatus?: number): void {
    if (this.#grpc) this.#grpcStatus = grpcStatus ?? null;
    localReply(
      this.#res,
      status,
      message,
      this.#grpc ? (grpcStatus === undefined ? {} : { status: grpcStatus }) : undefined,
    );
    // An unread body must not hold the connection (HTTP/1.1 keep-alive reads past it).
    this.#body.resume();
  }

  /** Runs once, when the downstream response is closed for whatever reason. */
  #finish(): void {
    if (this.#finished) return;
    const res = this.#res;
    if (!res.writableFinished) {
      this.#flags.push('DC');
      this.#current?.abort();
    }
    this.#abandoned = true;
    this.#finished = true;
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    const status = res.headersSent || res.writableFinished ? res.statusCode : 0;
    const durationMs = performance.now() - this.#started;
    const route = this.#route?.name ?? 'none';
    const cluster = this.#cluster?.name ?? 'none';
    const metrics = this.#router.metrics;
    metrics.recordRequest(this.#listener, route, cluster, status, durationMs / 1000);
    const failed = this.#flags.length > 0 && !this.#flags.every((flag) => flag === 'DI');
    if (!this.#router.accessLog.wanted(status, failed)) return;
    this.#router.accessLog.write({
      listener: this.#listener,
      protocol: protocolOf(this.#req),
      method: this.#req.method ?? '',
      authority: this.#authority,
      path: this.#req.url ?? '',
      route: this.#route?.name ?? null,
      cluster: this.#cluster?.name ?? null,
      endpoint: this.#endpoint?.id ?? null,
      status,
      grpcStatus: this.#grpcStatus,
      attempts: this.#attempts,
      durationMs: Math.round(durationMs * 1000) / 1000,
      flags: this.#flags,
      client: clientAddressOf(this.#req) ?? null,
    });
  }
}

/** Drops a response we will not relay, so its connection can be reused or its stream freed. */
function discard(attempt: Attempt): void {
  const { response } = attempt;
  if (response === undefined) return;
  if (response.upgrade !== undefined) {
    response.upgrade.socket.destroy();
    attempt.release();
    return;
  }
  if (response.body.destroyed || response.body.readableEnded) {
    attempt.release();
    return;
  }
  response.body.once('end', attempt.release);
  response.body.once('error', attempt.release);
  response.body.once('close', attempt.release);
  response.body.resume();
}

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** "2xx" for 200..299: the attempt metric's label, without a new string per request. */
function statusClass(status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100)] ?? `${Math.floor(status / 100)}xx`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
