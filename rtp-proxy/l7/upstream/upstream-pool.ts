/**
 * Connections to a cluster's endpoints. An exchange is one attempt of one
 * request: write its body, await its response head, read its body and
 * trailers. HTTP/1.1 endpoints get a keep-alive pool per cluster; HTTP/2
 * endpoints get one multiplexed session each, re-opened when it goes away.
 * Failures are classified the way retry policies and outlier detection need.
 * A mesh cluster's connections are mutual TLS (upstream-tls.ts): the pools
 * take a connector for every new connection, so a renewed certificate
 * reaches new connections while pooled ones keep theirs.
 */
import {
  Agent,
  request as http1Request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import {
  connect as http2Connect,
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpStatusHeader,
} from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { Writable, type Duplex, type Readable } from 'node:stream';
import type { HostPort } from '../../../src/shared/address.js';
import { useLeanAsyncBind } from '../../../src/shared/lean-async-bind.js';
import { tlsFailureOf, type TlsFailure, type UpstreamConnector } from './upstream-tls.js';

/**
 * Why an attempt got no response: the names of the retry conditions, and
 * tls-failure (the mutual TLS handshake with a mesh endpoint failed; no
 * request was sent, so it is retried like a connect failure).
 */
export type UpstreamFailure = 'connect-failure' | 'reset' | 'refused-stream' | 'tls-failure';

export class UpstreamError extends Error {
  readonly failure: UpstreamFailure;
  /** Set with failure "tls-failure": why the handshake failed. */
  readonly tls: TlsFailure | undefined;

  constructor(failure: UpstreamFailure, message: string, tls?: TlsFailure) {
    super(message);
    this.name = 'UpstreamError';
    this.failure = failure;
    this.tls = tls;
  }
}

/** The UpstreamError for a connection or request error. */
function upstreamError(
  target: UpstreamTarget,
  error: NodeJS.ErrnoException,
  otherwise: UpstreamFailure,
): UpstreamError {
  const tls = tlsFailureOf(error);
  if (tls !== undefined) {
    return new UpstreamError('tls-failure', `${target.id}: TLS: ${error.message}`, tls);
  }
  return new UpstreamError(otherwise, `${target.id}: ${error.message}`);
}

export interface UpstreamTarget extends HostPort {
  readonly id: string;
}

export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  /**
   * Made for this one attempt by the caller: the pool adds its host or
   * pseudo-headers to it in place rather than copying it per request.
   */
  readonly headers: OutgoingHttpHeaders;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
  /** Trailers once the body has ended; empty when the response had none. */
  trailers(): IncomingHttpHeaders;
  /** At the body's end: false when it ended because the connection or stream was cut. */
  endedCleanly(): boolean;
  /**
   * The whole body, taken out of `body`, when it has all arrived already
   * (an HTTP/1.1 response read with its head, as most small ones are), so
   * that it can be relayed in one write with no pipe to set up and take
   * down; `body` then ends. undefined when it has not, or cannot tell.
   */
  takeWholeBody?(): Buffer | undefined;
  /**
   * Set when the endpoint answered an Upgrade request with 101: the
   * connection, now ours alone, and the bytes it sent after the response head.
   */
  readonly upgrade?: UpgradedConnection;
}

/** An upstream connection switched to another protocol (101), out of the pool. */
export interface UpgradedConnection {
  readonly socket: Duplex;
  readonly head: Buffer;
}

export interface UpstreamExchange {
  /** Where the request body goes; end it (also for a request without one). */
  readonly body: Writable;
  /** The response head; rejects with an UpstreamError. */
  readonly response: Promise<UpstreamResponse>;
  /** Gives up on the attempt: the connection or stream is reset. */
  abort(): void;
}

export interface UpstreamPool {
  open(target: UpstreamTarget, request: UpstreamRequest): UpstreamExchange;
  /** Connections open now, for the circuit breaker's view and metrics. */
  readonly connections: number;
  /** Requests waiting for a connection (HTTP/1.1 at its connection limit). */
  readonly pending: number;
  /**
   * The endpoint left the cluster: its idle connections close now, busy ones
   * once their exchange is over (HTTP/2: the session closes after its streams).
   */
  retire(target: UpstreamTarget): void;
  close(): void;
}

const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
]);

function failureOf(error: NodeJS.ErrnoException): UpstreamFailure {
  return CONNECT_FAILURES.has(error.code ?? '') ? 'connect-failure' : 'reset';
}

export class Http1Pool implements UpstreamPool {
  readonly #agent: Agent;
  /** Agent names (host:port:) of retired endpoints, whose freed sockets are closed. */
  readonly #retired = new Set<string>();

  /**
   * `maxConnections` caps sockets to the whole cluster; requests beyond wait
   * in the agent. With `connector`, every new connection is made by it (mesh TLS).
   */
  constructor(maxConnections: number, connector?: UpstreamConnector) {
    this.#agent = new Agent({
      keepAlive: true,
      // Requests are small writes that must leave at once, not wait for an ACK (Nagle).
      noDelay: true,
      maxTotalSockets: maxConnections,
      maxSockets: maxConnections,
      scheduling: 'lifo',
    });
    if (connector !== undefined) {
      // node's Agent calls this for each new socket; the pool, keep-alive and limits stay its own.
      (this.#agent as unknown as { createConnection: AgentConnect }).createConnection = (options) =>
        connector({ host: options.host ?? '', port: Number(options.port) }, ['http/1.1']);
    }
    // After the agent's own 'free' handler has pooled the socket: a retired
    // endpoint's socket closes instead (and the agent forgets it on 'close').
    this.#agent.on('free', (socket: Socket, options: { host?: string; port?: number | string }) => {
      // Every response frees its socket: no name is built while nothing is retired.
      if (this.#retired.size === 0) return;
      if (this.#retired.has(agentName(options.host ?? '', options.port ?? ''))) socket.destroy();
    });
  }

  retire(target: UpstreamTarget): void {
    const name = agentName(target.host, target.port);
    this.#retired.add(name);
    for (const [key, sockets] of Object.entries(this.#agent.freeSockets)) {
      if (key.startsWith(name)) for (const socket of sockets ?? []) socket.destroy();
    }
  }

  get connections(): number {
    let count = 0;
    for (const list of Object.values(this.#agent.sockets)) count += list?.length ?? 0;
    for (const list of Object.values(this.#agent.freeSockets)) count += list?.length ?? 0;
    return count;
  }

  get pending(): number {
    let count = 0;
    for (const list of Object.values(this.#agent.requests)) count += list?.length ?? 0;
    return count;
  }

  open(target: UpstreamTarget, request: UpstreamRequest): UpstreamExchange {
    // A request to it makes a retired endpoint a member again (re-added to the cluster).
    if (this.#retired.size > 0) this.#retired.delete(agentName(target.host, target.port));
    const outgoing = http1Request({
      host: target.host,
      port: target.port,
      method: request.method,
      path: request.path,
      headers: withHeader(request.headers, 'host', request.authority),
      agent: this.#agent,
    });
    if (request.headers['upgrade'] !== undefined) {
      // After any answer to an Upgrade request the connection's state is the
      // endpoint's guess (it may have stopped parsing HTTP): never reuse it.
      // Set once the agent assigns the socket, which resets the flag otherwise.
      outgoing.once('socket', () => {
        outgoing.shouldKeepAlive = false;
      });
    }
    let upgraded: Duplex | undefined;
    const response = new Promise<UpstreamResponse>((resolve, reject) => {
      // Only for a request that asked to upgrade: node's client parsed the 101
      // and hands over the socket (taken out of the agent) and what followed the head.
      outgoing.once('upgrade', (incoming: IncomingMessage, socket: Duplex, head: Buffer) => {
        upgraded = socket;
        resolve({
          status: incoming.statusCode ?? 101,
          headers: incoming.headers,
          body: incoming,
          trailers: () => ({}),
          endedCleanly: () => true,
          upgrade: { socket, head },
        });
      });
      outgoing.once('response', (incoming) => {
        resolve({
          status: incoming.statusCode ?? 502,
          headers: incoming.headers,
          body: incoming,
          trailers: () => incoming.trailers,
          endedCleanly: () => incoming.complete,
          takeWholeBody: () => takeWholeBody(incoming),
        });
      });
      // `on`, not `once`: a request can fail again after its response began (a reset mid-body).
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        reject(upstreamError(target, error, failureOf(error)));
      });
    });
    // A rejection nobody awaited yet (aborted before the head) must not crash the process.
    response.catch(() => undefined);
    const abort = (): void => {
      outgoing.destroy();
      upgraded?.destroy();
    };
    return { body: outgoing, response, abort };
  }

  close(): void {
    this.#agent.destroy();
  }
}

export class Http2Pool implements UpstreamPool {
  readonly #sessions = new Map<string, ClientHttp2Session>();
  readonly #connector: UpstreamConnector | undefined;

  /** With `connector`, sessions run over the connections it makes (mesh TLS, ALPN h2). */
  constructor(connector?: UpstreamConnector) {
    this.#connector = connector;
    // session.request() binds each request to an AsyncResource; node 20's bind
    // keeps the request's stream alive through scavenges (lean-async-bind.ts).
    useLeanAsyncBind();
  }
  /** Sessions that completed their connect: a stream failing on one may have been processed. */
  readonly #connected = new WeakSet<ClientHttp2Session>();

  get connections(): number {
    return this.#sessions.size;
  }

  /** Streams are multiplexed: none waits for a connection. */
  readonly pending = 0;

  open(target: UpstreamTarget, request: UpstreamRequest): UpstreamExchange {
    const session = this.#session(target);
    let stream: ClientHttp2Stream;
    try {
      const headers = request.headers;
      headers[h2.HTTP2_HEADER_METHOD] = request.method;
      headers[h2.HTTP2_HEADER_PATH] = request.path;
      headers[h2.HTTP2_HEADER_AUTHORITY] = request.authority;
      headers[h2.HTTP2_HEADER_SCHEME] = this.#connector === undefined ? 'http' : 'https';
      stream = session.request(headers);
    } catch (error) {
      // A session already closing (GOAWAY just arrived) refuses new streams synchronously.
      this.#forget(target.id, session);
      const failed = Promise.reject(
        new UpstreamError('refused-stream', `${target.id}: ${(error as Error).message}`),
      );
      failed.catch(() => undefined);
      return { body: nullWritable(), response: failed, abort: () => undefined };
    }
    let trailers: IncomingHttpHeaders = {};
    stream.once('trailers', (received: IncomingHttpHeaders) => {
      trailers = received;
    });
    const response = new Promise<UpstreamResponse>((resolve, reject) => {
      let settled = false;
      stream.once('response', (headers: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
        settled = true;
        resolve({
          status: Number(headers[h2.HTTP2_HEADER_STATUS] ?? 502),
          headers,
          body: stream,
          trailers: () => trailers,
          // node ends the readable side of a stream its dying session cancels (code 8).
          // (rstCode is unset, or NO_ERROR 0, on a stream that ended normally).
          endedCleanly: () => !(stream.rstCode > h2.NGHTTP2_NO_ERROR),
        });
      });
      const fail = (reason: string, error?: Error): void => {
        // Every stream closes; only one that never answered is a failure (and worth an Error).
        if (settled) return;
        settled = true;
        if (error !== undefined && tlsFailureOf(error) !== undefined) {
          reject(upstreamError(target, error, 'connect-failure'));
          return;
        }
        const failure: UpstreamFailure =
          stream.rstCode === h2.NGHTTP2_REFUSED_STREAM
            ? 'refused-stream'
            : this.#connected.has(session)
              ? 'reset'
              : 'connect-failure';
        reject(new UpstreamError(failure, `${target.id}: ${reason}`));
      };
      stream.on('error', (error: Error) => fail(error.message, error));
      // Closed with no head and no error event: a RST_STREAM with NO_ERROR or a GOAWAY.
      stream.once('close', () => fail('stream closed'));
    });
    response.catch(() => undefined);
    return {
      body: stream,
      response,
      abort: () => stream.close(h2.NGHTTP2_CANCEL),
    };
  }

  retire(target: UpstreamTarget): void {
    const session = this.#sessions.get(target.id);
    if (session === undefined) return;
    this.#sessions.delete(target.id);
    session.close();
  }

  close(): void {
    for (const session of this.#sessions.values()) session.destroy();
    this.#sessions.clear();
  }

  #session(target: UpstreamTarget): ClientHttp2Session {
    const existing = this.#sessions.get(target.id);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const connector = this.#connector;
    const scheme = connector === undefined ? 'http' : 'https';
    const session = http2Connect(`${scheme}://${target.host}:${target.port}`, {
      // The proxy's own limit is the cluster circuit breaker, not the session.
      peerMaxConcurrentStreams: 1000,
      // Many streams' small frames share this socket: send them at once, not after an ACK (Nagle).
      createConnection: () =>
        connector === undefined
          ? netConnect({ host: target.host, port: target.port, noDelay: true })
          : connector(target, ['h2']),
    });
    session.once('connect', () => this.#connected.add(session));
    session.on('error', () => this.#forget(target.id, session));
    session.on('goaway', () => this.#forget(target.id, session));
    session.on('close', () => this.#forget(target.id, session));
    // An idle proxy must not be kept alive by its upstream sessions.
    session.unref();
    this.#sessions.set(target.id, session);
    return session;
  }

  #forget(id: string, session: ClientHttp2Session): void {
    if (this.#sessions.get(id) === session) this.#sessions.delete(id);
  }
}

/** node's Agent.createConnection, which it calls with the request's connect options. */
type AgentConnect = (options: { host?: string | null; port?: number | string | null }) => Socket;

/**
 * node's parser marks a response complete (and ends its stream) while it
 * reads the bytes the head came in; the promise the head resolves is taken
 * up after that, so a body that came with its head is whole by then. Read
 * in paused mode, read() hands over all of it and schedules 'end', which
 * gives the connection back to the agent.
 */
function takeWholeBody(incoming: IncomingMessage): Buffer | undefined {
  if (!incoming.complete || incoming.readableFlowing !== null || incoming.destroyed) {
    return undefined;
  }
  if (incoming.readableLength === 0) {
    // Nothing buffered: resume() lets the already-ended stream emit 'end'.
    incoming.resume();
    return Buffer.alloc(0);
  }
  const whole: unknown = incoming.read();
  return Buffer.isBuffer(whole) ? whole : undefined;
}

/** The prefix of node's Agent.getName() for a host and port (local address and family follow). */
function agentName(host: string, port: number | string): string {
  return `${host}:${port}:`;
}

/** `headers` with `name` set, in place (the caller's object is made for one attempt). */
function withHeader(
  headers: OutgoingHttpHeaders,
  name: string,
  value: string,
): OutgoingHttpHeaders {
  headers[name] = value;
  return headers;
}

/** A body sink for an attempt that never started; whatever is piped in is dropped. */
function nullWritable(): Writable {
  return new Writable({
    write: (_chunk, _encoding, done) => {
      done();
    },
  });
}
