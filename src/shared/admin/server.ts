/**
 * The admin HTTP listener every process has: /healthz, /readyz, /metrics,
 * plus the routes a role adds (/config_dump, /nodes, ...). It faces whatever
 * reaches the port, so bodies are bounded, slow clients are timed out and
 * malformed requests are answered by node:http and counted here.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import type { HostPort } from '../address.js';
import { StreammeshError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

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
}

export interface AdminServerOptions {
  readonly listen: HostPort;
  readonly metrics: Registry;
  readonly log: Logger;
  readonly readiness: () => Readiness;
}

const MAX_BODY_BYTES = 1024 * 1024;

export class BodyTooLargeError extends StreammeshError {
  constructor() {
    super('ERR_BODY_TOO_LARGE', `request body exceeds ${MAX_BODY_BYTES} bytes`);
  }
}

export class AdminServer {
  readonly #options: AdminServerOptions;
  readonly #routes = new Map<string, Map<string, AdminHandler>>();
  readonly #server: Server;
  readonly #badRequests: Counter;

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#badRequests = new Counter({
      name: 'streammesh_admin_bad_requests_total',
      help: 'Admin requests rejected before routing (malformed, too large, timed out).',
      labelNames: ['reason'],
      registers: [options.metrics],
    });
    this.#server = createServer({ maxHeaderSize: 16 * 1024 }, (request, response) => {
      void this.#handle(request, response);
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

  route(method: string, path: string, handler: AdminHandler): void {
    const byMethod = this.#routes.get(path) ?? new Map<string, AdminHandler>();
    byMethod.set(method, handler);
    this.#routes.set(path, byMethod);
  }

  async listen(): Promise<HostPort> {
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

  address(): HostPort {
    const address = this.#server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  async close(): Promise<void> {
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
    const byMethod = this.#routes.get(url.pathname);
    const handler = byMethod?.get(method) ?? (method === 'HEAD' ? byMethod?.get('GET') : undefined);
    if (byMethod === undefined) {
      send(response, 404, { error: `no such path: ${url.pathname}` });
      return;
    }
    if (handler === undefined) {
      response.setHeader('allow', [...byMethod.keys()].join(', '));
      send(response, 405, { error: `method ${method} not allowed on ${url.pathname}` });
      return;
    }
    try {
      const result = await handler({
        method,
        url,
        headers: request.headers,
        body: () => readBody(request),
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

  async #sendMetrics(response: ServerResponse): Promise<void> {
    const text = await this.#options.metrics.metrics();
    response.writeHead(200, { 'content-type': this.#options.metrics.contentType });
    response.end(text);
  }
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
