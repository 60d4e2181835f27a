/**
 * What the L7 proxy tests share: the proxy itself (HttpService, the same
 * object the rtp-proxy runs) on a port-0 listener with a config, real
 * node:http backends on loopback that record what reached them, and clients
 * for plain, raw and HTTP/2 requests. Every wait is bounded.
 */
import {
  Agent,
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { HttpService } from '../../rtp-proxy/l7/l7-service.js';
import { httpSchema } from '../../src/config/http-schema.js';
import type { WorkloadCertificates } from '../../src/shared/identity/index.js';

export interface RunningProxy {
  readonly service: HttpService;
  readonly registry: Registry;
  /** Port of the first listener. */
  readonly port: number;
  portOf(listener: string): number;
  metric(name: string, labels?: Readonly<Record<string, string>>): Promise<number>;
  close(): Promise<void>;
}

/**
 * Starts the proxy on `input` (proxy.http config; listeners on port 0 unless
 * given), holding `certificates` as its node's workload certificate if given.
 */
export async function startProxy(
  input: unknown,
  certificates?: WorkloadCertificates,
): Promise<RunningProxy> {
  const registry = new Registry();
  const service = new HttpService(pino({ level: 'silent' }), registry);
  if (certificates !== undefined) service.credentials.update(certificates);
  await service.apply(httpSchema.parse(input));
  const portOf = (listener: string): number => {
    const found = service.listeners.get(listener);
    if (found === undefined) throw new Error(`no listener ${listener}`);
    return found.address.port;
  };
  const first = [...service.listeners.keys()][0] ?? '';
  return {
    service,
    registry,
    port: portOf(first),
    portOf,
    metric: (name, labels = {}) => metricSum(registry, name, labels),
    close: () => service.close(),
  };
}

/** The parts of a one-route proxy config that tests vary. */
export interface SingleRouteParts {
  readonly action?: Readonly<Record<string, unknown>>;
  readonly cluster?: Readonly<Record<string, unknown>>;
  /** Other proxy.http fields (retryBudget, accessLog...). */
  readonly http?: Readonly<Record<string, unknown>>;
}

/** A proxy with one listener ("edge") and one route ("main") to one cluster ("main") of `endpoints`. */
export function startProxyTo(
  endpoints: readonly string[],
  parts: SingleRouteParts = {},
): Promise<RunningProxy> {
  return startProxy({
    listeners: [{ name: 'edge', listen: '127.0.0.1:0' }],
    routes: [
      {
        name: 'main',
        match: { path: { prefix: '/' } },
        action: { cluster: 'main', ...parts.action },
      },
    ],
    clusters: [{ name: 'main', endpoints, ...parts.cluster }],
    ...parts.http,
  });
}

/** The sum of a metric's samples whose labels include `labels`. */
export async function metricSum(
  registry: Registry,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values
    .filter(
      (value) =>
        (value as { metricName?: string }).metricName === undefined ||
        (value as { metricName?: string }).metricName === name ||
        (value as { metricName?: string }).metricName === `${name}_count`,
    )
    .filter((value) =>
      Object.entries(labels).every(([key, wanted]) => String(value.labels[key]) === wanted),
    )
    .reduce((sum, value) => sum + value.value, 0);
}

export interface Backend {
  readonly name: string;
  readonly server: Server;
  readonly address: string;
  readonly port: number;
  /** Requests that reached this backend: method and path, in order. */
  readonly seen: { method: string; path: string; headers: IncomingHttpHeaders }[];
  /** Replaces the default answer (its name; POST bodies echoed). */
  handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  close(): Promise<void>;
}

/**
 * A backend that answers its name (POST: echoes the body), streams chunks at
 * /chunked, and never answers /hang — unless `handler` is set.
 */
export async function startBackend(name: string, port = 0): Promise<Backend> {
  const server = createServer();
  const backend = {
    name,
    server,
    address: '',
    port: 0,
    seen: [] as Backend['seen'],
    handler: undefined as Backend['handler'],
    close: async (): Promise<void> => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    backend.seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    if (backend.handler !== undefined) {
      backend.handler(req, res);
      return;
    }
    if (req.url === '/hang') return;
    if (req.url === '/chunked') {
      let sent = 0;
      const tick = setInterval(() => {
        sent += 1;
        res.write(`chunk-${sent};`);
        if (sent === 5) {
          clearInterval(tick);
          res.end();
        }
      }, 5);
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
      res.end(req.method === 'POST' ? Buffer.concat(parts) : name);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  return Object.assign(backend, { address: `127.0.0.1:${bound}`, port: bound });
}

/** Connections `backend` accepted so far, and those still open. */
export function countConnections(backend: Backend): {
  accepted: () => number;
  open: Set<Socket>;
} {
  let accepted = 0;
  const open = new Set<Socket>();
  backend.server.on('connection', (socket: Socket) => {
    accepted += 1;
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return { accepted: () => accepted, open };
}

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly trailers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export const clientAgent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface SendOptions {
  readonly host: string;
  readonly path: string;
  readonly method?: string;
  readonly body?: Buffer | string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/** One HTTP/1.1 request through keep-alive connections; rejects after `timeoutMs` (5 s). */
export function send(port: number, options: SendOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: options.path,
        method: options.method ?? 'GET',
        headers: { ...options.headers, host: options.host },
        agent: clientAgent,
        timeout: options.timeoutMs ?? 5_000,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            trailers: res.trailers,
            body: Buffer.concat(parts),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** One request over an HTTP/2 session (prior knowledge). */
export function send2(session: ClientHttp2Session, options: SendOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': options.method ?? 'GET',
      ':path': options.path,
      ':authority': options.host,
      ...options.headers,
    });
    const timer = setTimeout(() => {
      stream.close();
      reject(new Error('HTTP/2 request got no answer in time'));
    }, options.timeoutMs ?? 5_000);
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const parts: Buffer[] = [];
    stream.on('response', (received: IncomingHttpHeaders) => {
      headers = received;
    });
    stream.on('trailers', (received: IncomingHttpHeaders) => {
      trailers = received;
    });
    stream.on('data', (part: Buffer) => parts.push(part));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve({
        status: Number(headers[':status']),
        headers,
        trailers,
        body: Buffer.concat(parts),
      });
    });
    stream.on('error', (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
    stream.end(options.body);
  });
}

export function http2Session(port: number): ClientHttp2Session {
  const session = http2Connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  return session;
}

/**
 * The chunks and trailer section of a chunked HTTP/1.1 message read off the
 * wire (latin1), after its head; throws when the framing is broken.
 */
export function chunkedMessage(message: string): { chunks: string[]; trailer: string } {
  let rest = message.slice(message.indexOf('\r\n\r\n') + 4);
  const chunks: string[] = [];
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (lineEnd === -1 || !Number.isInteger(size)) throw new Error('no chunk size line');
    rest = rest.slice(lineEnd + 2);
    if (size === 0) break;
    if (rest.slice(size, size + 2) !== '\r\n') throw new Error('a chunk not ended by CRLF');
    chunks.push(rest.slice(0, size));
    rest = rest.slice(size + 2);
  }
  // The trailer section (fields, each ended by CRLF; maybe none), then CRLF.
  if (!rest.endsWith('\r\n')) throw new Error('no CRLF ending the message');
  const section = rest.slice(0, -2);
  if (section !== '' && !section.endsWith('\r\n')) throw new Error('a trailer field not ended');
  return { chunks, trailer: section.slice(0, -2) };
}

/** Writes raw bytes and returns what came back until the proxy closed (bounded). */
export function sendRaw(port: number, bytes: string | Buffer, waitMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw request got no close within ${waitMs} ms`));
    }, waitMs);
    socket.on('data', (part) => parts.push(part));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts));
    });
    socket.on('error', () => undefined);
    socket.write(bytes);
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The client connection preface of HTTP/2 (RFC 9113 section 3.4). */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One HTTP/2 frame: the 9-byte header, then the payload. */
export function h2Frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

/** The HTTP/2 frames in `bytes`, in order (a truncated last frame is left out). */
export function h2FramesIn(bytes: Buffer): { type: number; payload: Buffer }[] {
  const frames: { type: number; payload: Buffer }[] = [];
  for (let at = 0; at + 9 <= bytes.length;) {
    const length = bytes.readUIntBE(at, 3);
    if (at + 9 + length > bytes.length) break;
    frames.push({ type: bytes[at + 3] ?? -1, payload: bytes.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return frames;
}

/** A logger at info whose JSON lines are kept, parsed, in `lines` (for access-log tests). */
export function capturedLog(): { readonly log: Logger; readonly lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}
