/**
 * The HTTP/1.1 listener of the L7 proxy (first slice): downstream request ->
 * route -> cluster (single or weighted split) -> endpoint (round robin) ->
 * upstream request over a keep-alive pool per cluster, bodies streamed both
 * ways. Requests node:http's strict parser refuses (smuggling attempts such
 * as Content-Length with Transfer-Encoding, two Content-Lengths) are answered
 * by the listener itself and counted; they never reach an upstream.
 */
import {
  Agent,
  STATUS_CODES,
  createServer,
  request as upstreamRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import { validHostPort, type HostPort } from '../../src/shared/address.js';
import type {
  HttpClusterConfig,
  HttpConfig,
  HttpRouteConfig,
} from '../../src/shared/config/http-schema.js';
import { errorMessage } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import { RoundRobin, WeightedSplit } from './balancers.js';
import { compileRoutes, type RouteMatcher } from './route-match.js';

export interface Http1ListenerOptions {
  readonly listen: HostPort;
  readonly config: HttpConfig;
  readonly listenerName: string;
  readonly log: Logger;
  /** Where refused requests are counted; nothing is counted without it. */
  readonly registry?: Registry;
}

interface UpstreamEndpoint extends HostPort {
  readonly id: string;
  activeRequests: number;
}

interface UpstreamCluster {
  readonly name: string;
  readonly endpoints: readonly UpstreamEndpoint[];
  readonly balancer: RoundRobin;
  /** One keep-alive pool per cluster, so clusters never share sockets. */
  readonly agent: Agent;
}

/**
 * Connection-scoped headers (RFC 9110 section 7.6.1) belong to one hop and are
 * never forwarded; "te" is the exception when it only asks for trailers.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Parser errors and the status the client gets for them. */
const REFUSAL_STATUS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

export class Http1Listener {
  readonly #server: Server;
  readonly #clusters: ReadonlyMap<string, UpstreamCluster>;
  readonly #match: RouteMatcher;
  readonly #splits = new Map<string, WeightedSplit<UpstreamCluster>>();
  readonly #log: Logger;
  readonly #refused: Counter<'listener' | 'reason'> | undefined;
  readonly #listenerName: string;

  private constructor(options: Http1ListenerOptions) {
    this.#log = options.log;
    this.#listenerName = options.listenerName;
    this.#match = compileRoutes(options.config, options.listenerName);
    this.#clusters = new Map(options.config.clusters.map((c) => [c.name, upstreamCluster(c)]));
    this.#refused = options.registry === undefined ? undefined : refusedCounter(options.registry);
    // Default parser settings on purpose: no insecureHTTPParser, so smuggling shapes are refused.
    this.#server = createServer((req, res) => this.#forward(req, res));
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) =>
      this.#refuse(error, socket),
    );
  }

  static async start(options: Http1ListenerOptions): Promise<Http1Listener> {
    const listener = new Http1Listener(options);
    await new Promise<void>((resolve, reject) => {
      listener.#server.once('error', reject);
      listener.#server.listen(options.listen.port, options.listen.host, () => {
        listener.#server.off('error', reject);
        resolve();
      });
    });
    return listener;
  }

  /** The bound address (the real port when the config said 0). */
  get address(): HostPort {
    const info = this.#server.address() as AddressInfo;
    return { host: info.address, port: info.port };
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    for (const cluster of this.#clusters.values()) cluster.agent.destroy();
    await closed;
  }

  #refuse(error: NodeJS.ErrnoException, socket: Socket): void {
    const code = error.code ?? 'unknown';
    // A peer that resets mid-request is not a refusal; there is no one to answer.
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    this.#refused?.inc({ listener: this.#listenerName, reason: code });
    this.#log.debug({ listener: this.#listenerName, reason: code }, 'refused HTTP/1.1 request');
    const status = REFUSAL_STATUS[code] ?? 400;
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\nConnection: close\r\n\r\n`,
    );
  }

  #forward(req: IncomingMessage, res: ServerResponse): void {
    const authority = req.headers.host ?? '';
    const path = req.url ?? '/';
    const route = this.#match({
      authority,
      path,
      method: req.method ?? 'GET',
      headers: req.headers,
    });
    if (route === undefined) {
      plainAnswer(res, 404, `no route for host "${authority}" and path "${path}"\n`);
      return;
    }
    const cluster = this.#clusterFor(route);
    const endpoint = cluster?.balancer.pick(cluster.endpoints);
    if (cluster === undefined || endpoint === undefined) {
      plainAnswer(res, 503, `no upstream endpoint for route "${route.name}"\n`);
      return;
    }
    endpoint.activeRequests += 1;
    const upstream = upstreamRequest({
      host: endpoint.host,
      port: endpoint.port,
      method: req.method,
      path,
      headers: forwardedHeaders(req),
      agent: cluster.agent,
    });
    let settled = false;
    /** Runs once per request, whichever comes first: the end, a failure, the timeout, a client gone. */
    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      endpoint.activeRequests -= 1;
    };
    const timer = setTimeout(() => {
      settle();
      upstream.destroy();
      if (res.headersSent) res.destroy();
      else plainAnswer(res, 504, `upstream timed out after ${route.action.timeoutMs} ms\n`);
    }, route.action.timeoutMs);
    upstream.on('response', (upstreamRes) => this.#answer(upstreamRes, res, settle));
    upstream.on('error', (error) => {
      // After a timeout or a client that left, the error is our own destroy(); nothing to answer.
      if (settled) return;
      settle();
      if (res.headersSent) {
        res.destroy();
        return;
      }
      this.#log.debug(
        { route: route.name, endpoint: endpoint.id, error: errorMessage(error) },
        'upstream failed',
      );
      plainAnswer(res, 502, `upstream ${endpoint.id} failed: ${errorMessage(error)}\n`);
    });
    // A client that goes away mid-exchange frees the upstream socket at once.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
      settle();
    });
    req.on('error', () => upstream.destroy());
    req.pipe(upstream);
  }

  #answer(upstreamRes: IncomingMessage, res: ServerResponse, settle: () => void): void {
    res.writeHead(upstreamRes.statusCode ?? 502, withoutHopByHop(upstreamRes.headers));
    upstreamRes.pipe(res, { end: false });
    upstreamRes.on('end', () => {
      settle();
      if (upstreamRes.rawTrailers.length > 0) res.addTrailers(upstreamRes.trailers);
      res.end();
    });
    upstreamRes.on('error', () => res.destroy());
  }

  #clusterFor(route: HttpRouteConfig): UpstreamCluster | undefined {
    const { cluster, weighted } = route.action;
    if (cluster !== undefined) return this.#clusters.get(cluster);
    let split = this.#splits.get(route.name);
    if (split === undefined) {
      split = new WeightedSplit(
        (weighted ?? []).flatMap((entry) => {
          const target = this.#clusters.get(entry.cluster);
          return target === undefined ? [] : [{ cluster: target, weight: entry.weight }];
        }),
      );
      this.#splits.set(route.name, split);
    }
    return split.pick();
  }
}

function upstreamCluster(config: HttpClusterConfig): UpstreamCluster {
  return {
    name: config.name,
    endpoints: config.endpoints.map((text) => ({
      ...validHostPort(text),
      id: text,
      activeRequests: 0,
    })),
    balancer: new RoundRobin(),
    agent: new Agent({ keepAlive: true }),
  };
}

function refusedCounter(registry: Registry): Counter<'listener' | 'reason'> {
  const name = 'streammesh_http_refused_requests_total';
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing;
  return new Counter({
    name,
    help: 'Downstream requests refused before routing (malformed, smuggling attempts, oversized headers), by parser reason.',
    labelNames: ['listener', 'reason'],
    registers: [registry],
  });
}

/** Headers minus hop-by-hop ones, including any the Connection header names. */
function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    (headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token !== ''),
  );
  const kept: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) kept[name] = value;
  }
  return kept;
}

function forwardedHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers = withoutHopByHop(req.headers);
  const te = req.headers['te'];
  if (typeof te === 'string' && te.trim().toLowerCase() === 'trailers') headers['te'] = 'trailers';
  const client = req.socket.remoteAddress ?? 'unknown';
  const earlier = req.headers['x-forwarded-for'];
  const chain = typeof earlier === 'string' ? [earlier] : (earlier ?? []);
  headers['x-forwarded-for'] = [...chain, client].join(', ');
  headers['x-forwarded-proto'] = 'http';
  return headers;
}

function plainAnswer(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
