/**
 * The admin HTTP listener every process has: /healthz, /readyz, /metrics,
 * plus the routes a role adds (/config_dump, /nodes, ...). It faces whatever
 * reaches the port, so connections are budgeted (in total, per source
 * address, and a head timeout: ConnectionBudget), bodies are bounded, slow
 * clients are timed out and malformed requests are answered by node:http and
 * counted here. A route that writes or reveals secrets is registered with
 * `access: 'token'`: its requests must carry the admin bearer token, checked
 * before the handler runs and so before any byte of the body is read.
 * Requests per source address are limited (ADMIN_REQUEST_RATE, issue 17
 * point 7) before anything else is done with them: one over the rate is
 * answered 429 with Retry-After and counted in
 * streammesh_rate_limited_requests_total{listener="admin"}.
 *
 * A second listener may serve the same routes over mutual TLS (listenMtls):
 * there a client certificate of the mesh CA naming an operator identity
 * stands for the admin token (issue 17), so an operator's tools need no
 * shared secret. Its sockets go through the same connection budget and the
 * same HTTP server: our own node:net server accepts (at most
 * MAX_TLS_HANDSHAKES at once, each within TLS_HANDSHAKE_TIMEOUT_MS), a
 * node:tls server that never listens does the handshake (client certificate
 * asked, not required: /metrics and /healthz stay open to scrapers without
 * one; node:tls sets `authorized` only through a tls.Server), and each
 * secured socket is handed to the HTTP server as a connection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
  type Socket,
} from 'node:net';
import {
  createServer as createTlsServer,
  TLSSocket,
  type SecureContextOptions,
  type Server as TlsServer,
} from 'node:tls';
import { Counter, type Registry } from 'prom-client';
import { isLoopbackHost, type HostPort } from '../address.js';
import {
  ConnectionBudget,
  type ConnectionBudgetLimits,
  type HeadDeadline,
} from '../connection-budget.js';
import { StreammeshError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { SourceRateLimiter, type RateLimit } from '../rate-limit/index.js';
import { exposeMetrics, type MetricsSource } from '../metrics.js';
import {
  isRevokedCertificate,
  peerIdentity,
  type RevokedSerials,
  type WorkloadCertificates,
} from '../identity/index.js';
import type { AdminCredentials } from './credentials.js';

export type Readiness = { ready: true } | { ready: false; reason: string };

export interface AdminResponse {
  readonly status: number;
  readonly body: unknown;
}

export type AdminHandler = (request: AdminRequest) => AdminResponse | Promise<AdminResponse>;

export interface AdminRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingMessage['headers'];
  /** The request body, read on demand and bounded by MAX_BODY_BYTES. */
  body(): Promise<string>;
  /** Whether the request carries the admin token (for an open route that reveals more to holders). */
  authorized(): boolean;
}

export interface AdminServerOptions {
  readonly listen: HostPort;
  readonly metrics: Registry;
  readonly log: Logger;
  readonly readiness: () => Readiness;
  /**
   * The admin token that `access: 'token'` routes require. Without it those
   * routes answer 401 to everyone, and the listener binds to loopback only.
   */
  readonly credentials?: AdminCredentials | undefined;
  /** Connection budget; default adminConnectionBudget. */
  readonly budget?: ConnectionBudgetLimits;
  /** The setting that names the listen address, for the bind refusal ("proxy.admin"). */
  readonly setting?: string;
}

/** The mutual-TLS admin listener: where, with what certificate, and who counts as an operator. */
export interface AdminMtlsOptions {
  readonly listen: HostPort;
  /** The listener's own certificate, and the bundle client certificates are checked against. */
  readonly certificates: WorkloadCertificates;
  readonly trustDomain: string;
  /** SPIFFE IDs whose verified client certificate stands for the admin token. */
  readonly operators: ReadonlySet<string>;
  /** Certificates revoked before their expiry: one of them stands for nothing. */
  readonly revoked?: RevokedSerials;
}

/** Who may call a route: anyone who reaches the port, or holders of the admin token. */
export type RouteAccess = 'open' | 'token';

export interface RouteOptions {
  readonly access?: RouteAccess;
}

/** An admin port serves a few operators and scrapers, not crowds. */
export const adminConnectionBudget: ConnectionBudgetLimits = {
  maxConnections: 128,
  maxPerSource: 32,
  headTimeoutMs: 10_000,
};

/**
 * Requests per source address on an admin listener: a fixed rate, not a
 * setting. Scrapers and the CLI send a few a second; tools and tests that
 * wait for a state poll every 5-20 ms (the load-report test polls /nodes
 * about 150 times a second), and several may poll one node at once. The
 * limit is there for a flood (a loop without a pause sends thousands a
 * second), not to slow down pollers.
 */
export const ADMIN_REQUEST_RATE: RateLimit = { perSecond: 1000, burst: 2000 };

const MAX_BODY_BYTES = 1024 * 1024;
/**
 * Connections the mutual-TLS admin listener holds at once, handshaking or
 * secured; more are closed at accept and counted (the plaintext listener's
 * budget counts them again once secured).
 */
const MAX_TLS_CONNECTIONS = 128;
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export class BodyTooLargeError extends StreammeshError {
  constructor() {
    super('ERR_BODY_TOO_LARGE', `request body exceeds ${MAX_BODY_BYTES} bytes`);
  }
}

/** An admin listener would bind beyond loopback with no admin token to protect its writes. */
export class AdminBindRefusedError extends StreammeshError {
  constructor(setting: string, listen: HostPort) {
    super(
      'ERR_ADMIN_BIND_REFUSED',
      `${setting}: ${listen.host}:${listen.port} is not a loopback address; an admin listener ` +
        'binds beyond loopback only with an admin token (set STREAMMESH_ADMIN_TOKEN, or start ' +
        'the control plane first so that controlPlane.adminTokenFile exists)',
    );
  }
}

interface Route {
  readonly handler: AdminHandler;
  readonly access: RouteAccess;
}

/** A route with one path segment that varies: `${prefix}<segment>${suffix}`. */
interface SegmentRoute extends Route {
  readonly method: string;
  readonly prefix: string;
  readonly suffix: string;
  readonly slashes: boolean;
}

export interface SegmentRouteOptions extends RouteOptions {
  /** The varying part may hold `/` (a camera path name such as `site/cam1`). */
  readonly slashes?: boolean;
}

/** The segment a request names, as a handler of segmentRoute() gets it. */
export type SegmentHandler = (
  request: AdminRequest,
  segment: string,
) => AdminResponse | Promise<AdminResponse>;

export class AdminServer {
  readonly #options: AdminServerOptions;
  readonly #routes = new Map<string, Map<string, Route>>();
  readonly #segmentRoutes: SegmentRoute[] = [];
  readonly #metricsSources: MetricsSource[] = [];
  readonly #server: Server;
  readonly #badRequests: Counter;
  readonly #unauthorized: Counter;
  readonly #budget: ConnectionBudget;
  readonly #requestRate: SourceRateLimiter;
  readonly #headDeadlines = new WeakMap<Socket, HeadDeadline>();
  #mtls:
    | {
        readonly server: TcpServer;
        readonly tls: TlsServer;
        readonly options: AdminMtlsOptions;
        /** Accepted sockets, until closed: handshakes in progress and secured connections. */
        readonly sockets: Set<Socket>;
      }
    | undefined;
  readonly #tlsFailures: Counter;
  readonly #revokedOperators: Counter;

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#badRequests = new Counter({
      name: 'streammesh_admin_bad_requests_total',
      help: 'Admin requests rejected before routing (malformed, too large, timed out).',
      labelNames: ['reason'],
      registers: [options.metrics],
    });
    this.#unauthorized = new Counter({
      name: 'streammesh_admin_unauthorized_requests_total',
      help: 'Requests to a token-only admin route answered 401 (no token or a wrong one).',
      registers: [options.metrics],
    });
    this.#tlsFailures = new Counter({
      name: 'streammesh_admin_tls_handshake_failures_total',
      help: 'Connections to the mutual-TLS admin listener whose TLS handshake failed (not TLS, a bad certificate, closed early).',
      registers: [options.metrics],
    });
    this.#revokedOperators = new Counter({
      name: 'streammesh_admin_revoked_certificate_requests_total',
      help: 'Requests to a token-only route on the mutual-TLS admin listener made with a revoked client certificate (then taken as having no certificate).',
      registers: [options.metrics],
    });
    this.#budget = new ConnectionBudget(
      'admin',
      options.budget ?? adminConnectionBudget,
      options.metrics,
    );
    this.#requestRate = new SourceRateLimiter({
      listener: 'admin',
      limit: ADMIN_REQUEST_RATE,
      registry: options.metrics,
    });
    this.#server = createServer({ maxHeaderSize: 16 * 1024 }, (request, response) => {
      this.#headDeadlines.get(request.socket)?.met();
      const rate = this.#requestRate.take(request.socket.remoteAddress ?? 'unknown');
      if (!rate.allowed) {
        // The body is never read: the connection cannot carry another request.
        response.setHeader('connection', 'close');
        response.setHeader('retry-after', String(rate.retryAfterSec));
        send(response, 429, { error: 'too many requests from this address' });
        request.resume();
        return;
      }
      void this.#handle(request, response);
    });
    this.#server.on('connection', (socket: Socket) => {
      if (this.#budget.admit(socket)) {
        this.#headDeadlines.set(socket, this.#budget.headDeadline(socket));
      }
    });
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 30_000;
    this.#server.keepAliveTimeout = 5_000;
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      this.#badRequests.inc({ reason: error.code ?? 'client_error' });
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    this.route('GET', '/healthz', () => ({
      status: 200,
      body: { status: 'ok', pid: process.pid },
    }));
    this.route('GET', '/readyz', () => {
      const readiness = this.#options.readiness();
      return readiness.ready
        ? { status: 200, body: { status: 'ready' } }
        : { status: 503, body: { status: 'not ready', reason: readiness.reason } };
    });
  }

  /** Metrics of another registry (a worker thread's) that /metrics shows with this process's own. */
  addMetricsSource(source: MetricsSource): void {
    this.#metricsSources.push(source);
  }

  route(method: string, path: string, handler: AdminHandler, options: RouteOptions = {}): void {
    const byMethod = this.#routes.get(path) ?? new Map<string, Route>();
    byMethod.set(method, { handler, access: options.access ?? 'open' });
    this.#routes.set(path, byMethod);
  }

  /**
   * A route for every path `${prefix}<segment>${suffix}` (e.g. `/nodes/`,
   * `/drain`): the handler gets the segment, URL-decoded, of 1 to 253
   * characters, one path segment unless `slashes`. One route serves every
   * node or stream, so the route table does not grow with them. Exact
   * routes win.
   */
  segmentRoute(
    method: string,
    prefix: string,
    suffix: string,
    handler: SegmentHandler,
    options: SegmentRouteOptions = {},
  ): void {
    const slashes = options.slashes === true;
    this.#segmentRoutes.push({
      method,
      prefix,
      suffix,
      slashes,
      access: options.access ?? 'open',
      handler: (request) =>
        handler(request, segmentOf(request.url.pathname, prefix, suffix, slashes) ?? ''),
    });
  }

  /** Exact routes of a path, else the segment routes it matches, by method. */
  #routesOf(path: string): Map<string, Route> | undefined {
    const exact = this.#routes.get(path);
    if (exact !== undefined) return exact;
    const matching = this.#segmentRoutes.filter(
      (route) => segmentOf(path, route.prefix, route.suffix, route.slashes) !== undefined,
    );
    return matching.length === 0
      ? undefined
      : new Map(matching.map((route) => [route.method, route]));
  }

  /** Throws AdminBindRefusedError when the listen address is beyond loopback and no token is known. */
  checkBind(): void {
    const { listen, credentials, setting } = this.#options;
    if (isLoopbackHost(listen.host)) return;
    if (credentials?.available() === true) return;
    throw new AdminBindRefusedError(setting ?? 'admin listener', listen);
  }

  async listen(): Promise<HostPort> {
    this.checkBind();
    const { host, port } = this.#options.listen;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return this.address();
  }

  /**
   * Serves the same routes over TLS on a second address, where a client
   * certificate naming one of `operators` counts as the admin token. The
   * listener is not refused beyond loopback: a write there needs a
   * certificate of the mesh CA.
   */
  async listenMtls(options: AdminMtlsOptions): Promise<HostPort> {
    const server = createTcpServer((raw) => this.#acceptTls(raw));
    const tls = createTlsServer({
      ...adminSecureContext(options.certificates),
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    });
    tls.on('secureConnection', (socket: TLSSocket) => {
      // The HTTP server takes it as one of its own: the budget, the head
      // deadline and the routes are the same as on the plaintext listener.
      this.#server.emit('connection', socket);
    });
    tls.on('tlsClientError', (_error, socket) => {
      this.#tlsFailures.inc();
      socket.destroy();
    });
    this.#mtls = { server, tls, options, sockets: new Set() };
    const { host, port } = options.listen;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  /** A renewed certificate (or a new trust bundle): new connections use it, open ones keep theirs. */
  setCertificates(certificates: WorkloadCertificates): void {
    this.#mtls?.tls.setSecureContext(adminSecureContext(certificates));
  }

  #acceptTls(raw: Socket): void {
    const mtls = this.#mtls;
    if (mtls === undefined || mtls.sockets.size >= MAX_TLS_CONNECTIONS) {
      this.#tlsFailures.inc();
      raw.destroy();
      return;
    }
    mtls.sockets.add(raw);
    raw.once('close', () => mtls.sockets.delete(raw));
    mtls.tls.emit('connection', raw);
  }

  address(): HostPort {
    const address = this.#server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  async close(): Promise<void> {
    const mtls = this.#mtls;
    if (mtls !== undefined) {
      for (const socket of mtls.sockets) socket.destroy();
      await new Promise<void>((resolve) => mtls.server.close(() => resolve()));
    }
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://admin');
    } catch {
      this.#badRequests.inc({ reason: 'bad_url' });
      send(response, 400, { error: 'bad request URL' });
      return;
    }
    const method = request.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/metrics') {
      await this.#sendMetrics(response);
      return;
    }
    const byMethod = this.#routesOf(url.pathname);
    const route = byMethod?.get(method) ?? (method === 'HEAD' ? byMethod?.get('GET') : undefined);
    if (byMethod === undefined) {
      send(response, 404, { error: `no such path: ${url.pathname}` });
      return;
    }
    if (route === undefined) {
      response.setHeader('allow', [...byMethod.keys()].join(', '));
      send(response, 405, { error: `method ${method} not allowed on ${url.pathname}` });
      return;
    }
    if (route.access === 'token' && !this.#authorized(request)) {
      this.#unauthorized.inc();
      // The body is never read: the connection cannot carry another request.
      response.setHeader('connection', 'close');
      response.setHeader('www-authenticate', 'Bearer realm="streammesh admin"');
      send(response, 401, {
        error: `${method} ${url.pathname} needs the admin token (Authorization: Bearer <token>)`,
      });
      return;
    }
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      this.#badRequests.inc({ reason: 'body_too_large' });
      response.setHeader('connection', 'close');
      send(response, 413, { error: new BodyTooLargeError().message });
      return;
    }
    try {
      const result = await route.handler({
        method,
        url,
        headers: request.headers,
        body: () => readBody(request),
        authorized: () => this.#authorized(request),
      });
      send(response, result.status, result.body);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        this.#badRequests.inc({ reason: 'body_too_large' });
        // The rest of the body is not read: the connection cannot be reused.
        response.setHeader('connection', 'close');
        send(response, 413, { error: error.message });
        return;
      }
      this.#options.log.error({ err: error, path: url.pathname }, 'admin handler failed');
      send(response, 500, { error: errorMessage(error) });
    }
  }

  #authorized(request: IncomingMessage): boolean {
    if (this.#isOperator(request)) return true;
    const credentials = this.#options.credentials;
    if (credentials === undefined) return false;
    try {
      return credentials.verify(request.headers.authorization);
    } catch (error) {
      // An unreadable or unsafe token file refuses everyone; say why in the log.
      this.#options.log.error({ err: error }, 'admin token unavailable');
      return false;
    }
  }

  /** A request on the mutual-TLS listener whose verified client certificate names an operator. */
  #isOperator(request: IncomingMessage): boolean {
    const mtls = this.#mtls;
    const socket = request.socket;
    if (mtls === undefined || !(socket instanceof TLSSocket) || !socket.authorized) return false;
    const certificate = socket.getPeerCertificate();
    const revoked = mtls.options.revoked;
    if (revoked !== undefined && isRevokedCertificate(certificate, revoked)) {
      this.#revokedOperators.inc();
      return false;
    }
    const identity = peerIdentity(certificate, mtls.options.trustDomain);
    return identity !== undefined && mtls.options.operators.has(identity.spiffeId);
  }

  async #sendMetrics(response: ServerResponse): Promise<void> {
    const text = await exposeMetrics(this.#options.metrics, this.#metricsSources);
    response.writeHead(200, { 'content-type': this.#options.metrics.contentType });
    response.end(text);
  }
}

function adminSecureContext(certificates: WorkloadCertificates): SecureContextOptions {
  return {
    key: certificates.privateKeyPem,
    cert: certificates.certificatePem + certificates.chainPem,
    ca: certificates.trustBundlePem,
    minVersion: 'TLSv1.2',
  };
}

function send(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) return;
  const text = `${JSON.stringify(body, null, 2)}\n`;
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The one segment between `prefix` and `suffix` of a path, decoded; undefined when it does not match. */
function segmentOf(
  path: string,
  prefix: string,
  suffix: string,
  slashes: boolean,
): string | undefined {
  if (path.length < prefix.length + suffix.length) return undefined;
  if (!path.startsWith(prefix) || !path.endsWith(suffix)) return undefined;
  const raw = path.slice(prefix.length, path.length - suffix.length);
  if (raw.length === 0 || (!slashes && raw.includes('/'))) return undefined;
  let segment: string;
  try {
    segment = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  return segment.length <= 253 && (slashes || !segment.includes('/')) ? segment : undefined;
}
