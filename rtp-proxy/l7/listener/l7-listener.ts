/**
 * One L7 listener: a TCP port that speaks HTTP/1.1, cleartext HTTP/2 (prior
 * knowledge, or Upgrade: h2c) and gRPC, by `protocol`. In `auto` it reads the
 * first bytes of each connection: the HTTP/2 preface goes to the HTTP/2
 * server, anything else to the HTTP/1.1 one. WebSocket (and other) upgrades
 * go to the router like any request, with their connection.
 *
 * What the parsers refuse (smuggling shapes, oversized heads, slow clients,
 * invalid HTTP/2 frames) is answered or reset here, counted by reason, and
 * never reaches a router or an upstream. Invalid HTTP/2 frames are caught
 * as checkHttp2Frames says: by nghttp2 on node's native socket path, its
 * refusals noticed by H2RefusalWatch (the default), or by the frame guard
 * reading every frame header first (H2FrameGuard).
 *
 * Budgets (issue 14): a ConnectionBudget (connections in total and per source
 * address, refused at accept; a connection that has not sent its first
 * request head, or opened its first HTTP/2 stream, within headTimeoutMs is
 * closed), counted in streammesh_listener_refused_connections_total under
 * listener "l7:<name>"; HTTP/2 streams per connection bounded by the
 * maxConcurrentStreams setting (a connection over it is ended: by the frame
 * guard, counted as max_concurrent_streams, or by nghttp2, counted as
 * node's session error); and requests
 * in flight in the listener bounded by maxPendingRequests: one more is
 * answered 503 at once, counted as listener_overloaded, so a flood cannot
 * queue unbounded work.
 * Memory: the request-body copies kept for retries and mirrors are charged
 * to the listener's BodyBufferBudget (maxBufferedBodyBytes; a copy that does
 * not fit is dropped, its request proxied unretried, see BodyRecorder), and
 * each HTTP/2 session's native memory is capped by maxSessionMemoryMb.
 *
 * TLS (tls-termination.ts): with `tls`, each admitted connection is a TLS
 * handshake first (mutual TLS with the node's workload certificate in mode
 * "mesh", a certificate from files in mode "server"), and its decrypted
 * socket goes to HTTP/2 or HTTP/1.1 by ALPN (sniffed as above when the
 * client offered none). A mesh peer's verified identity is kept on its
 * connection (PEER_IDENTITY) for authorization and the upstream header.
 *
 * A listener bound by a config transaction's prepare is not in force until
 * commit: the router it would serve with is still the old config's. Until
 * open() it holds the connections it accepts, unread (a bounded number; more
 * are refused and counted), serves them from open() on, and destroys them if
 * it is closed instead (the config was refused).
 */
import {
  STATUS_CODES,
  createServer as createHttp1Server,
  type ServerResponse,
  type IncomingMessage,
  type Server as Http1Server,
} from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { Socket, createServer as createTcpServer, type Server, type AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { type HostPort, validHostPort } from '../../../src/shared/address.js';
import { ConnectionBudget, type HeadDeadline } from '../../../src/shared/connection-budget.js';
import type { Http2FrameCheck, HttpListenerConfig } from '../../../src/config/index.js';
import type { Logger } from '../../../src/shared/log.js';
import { BodyBufferBudget, attachBodyBudget } from './body-budget.js';
import { SourceRateLimiter } from '../../../src/shared/rate-limit/index.js';
import {
  CLIENT_ADDRESS,
  ENCRYPTED,
  PEER_IDENTITY,
  clientAddressOf,
  localReply,
  upgradeResponse,
  type DownstreamRequest,
  type DownstreamResponse,
} from './downstream.js';
import { GrpcStatus, isGrpcRequest } from '../grpc.js';
import { Http2Request, Http2Response } from './h2-exchange.js';
import { H2FrameGuard } from './h2-frame-guard.js';
import { H2RefusalWatch } from './h2-refusal-watch.js';
import { upgradeToH2c, wantsH2cUpgrade } from './h2c-upgrade.js';
import { TlsTermination, type SecuredConnection } from './tls-termination.js';
import { listenTcp, type SharedPort } from './shared-listen.js';
import type { MeshCredentials } from '../../../src/shared/identity/index.js';
import type { HttpMetrics } from '../l7-metrics.js';
import type { HttpRouter } from '../router/http-router.js';

/**
 * On an HTTP/1.1 connection: its newest response, while that is open. A
 * connection's responses go out in the order of its requests, so closing it
 * after the newest one answers every pipelined request before it.
 */
const NEWEST_RESPONSE = Symbol('streammesh.newestResponse');

type Http1Connection = Duplex & { [NEWEST_RESPONSE]?: ServerResponse | undefined };

/** Connections a listener not yet in force holds for its commit; more are refused. */
const MAX_HELD_CONNECTIONS = 128;

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Parser errors and the status the client gets for them; other refusals get 400. */
const REFUSAL_STATUS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

export interface L7ListenerOptions {
  readonly config: HttpListenerConfig;
  /** The router in force; read per request so a pushed config applies to the next one. */
  readonly router: () => HttpRouter;
  readonly metrics: HttpMetrics;
  readonly log: Logger;
  /** The node's workload certificate, for a listener with tls.mode "mesh". */
  readonly credentials?: MeshCredentials | undefined;
  /** Set when several L7 threads serve the port, each on its own socket (shared-listen.ts). */
  readonly sharedPort?: SharedPort | undefined;
}

export class L7Listener {
  readonly config: HttpListenerConfig;
  /** The bound port; another listener of the same address may take it over (takeOver). */
  #tcp: Server;
  readonly #http1: Http1Server;
  readonly #http2: Http2Server;
  readonly #sessions = new Set<Http2Session>();
  readonly #sockets = new Set<Socket>();
  /**
   * HTTP/1.1 connections (TCP, or the decrypted side of TLS), so that a
   * retiring listener can close them after their newest response. Kept per
   * connection: a set of every response in flight cost the HTTP/1.1 request
   * path 5-10% of its CPU (README, "Where a proxied request's CPU goes").
   */
  readonly #http1Connections = new Set<Http1Connection>();
  #retiring = false;
  /** Set when a removed listener drains: the router of its own config. */
  #keptRouter: HttpRouter | undefined;
  #drainTimer: NodeJS.Timeout | undefined;
  /** Connections accepted before open(), waiting for it; undefined once open. */
  #held: Set<Socket> | undefined = new Set();
  readonly #options: L7ListenerOptions;
  readonly #budget: ConnectionBudget;
  /** Head deadlines of admitted connections that have not yet sent a request head. */
  readonly #heads = new WeakMap<Socket, HeadDeadline>();
  /** Requests in flight in this listener (HTTP/1.1 and HTTP/2), bounded by maxPendingRequests. */
  #pending = 0;
  /** Bytes of request-body copies (for retries and mirrors) held by this listener's requests. */
  readonly #bodyBudget: BodyBufferBudget;
  readonly #unwatchBodyBudget: () => void;
  /** The TLS handshake in front of the HTTP servers, when the listener has `tls`. */
  readonly #tls: TlsTermination | undefined;
  /** Requests per source (requestsPerSecondPerSource), when the listener limits them. */
  readonly #requestRate: SourceRateLimiter | undefined;
  /** Sessions on node's native path that nghttp2 ends for an invalid frame (checkHttp2Frames 'nghttp2'). */
  readonly #refusals = new H2RefusalWatch(() => this.#count('h2_refused_by_nghttp2'));
  /** How this listener catches invalid HTTP/2 frames (its checkHttp2Frames). */
  readonly #frameCheck: Http2FrameCheck;

  private constructor(options: L7ListenerOptions) {
    this.#options = options;
    this.config = options.config;
    this.#frameCheck = frameCheck(options.config.checkHttp2Frames);
    const { config } = options;
    const name = config.name;
    const perSecond = config.requestsPerSecondPerSource;
    this.#requestRate =
      perSecond === undefined
        ? undefined
        : new SourceRateLimiter({
            listener: 'l7',
            limit: { perSecond, burst: config.requestBurstPerSource ?? 2 * perSecond },
            registry: options.metrics.registry,
          });
    // First: a listener whose TLS cannot be set up refuses its config before it holds anything.
    this.#tls =
      config.tls === undefined
        ? undefined
        : new TlsTermination(config.tls, {
            config,
            credentials: options.credentials,
            onSecure: (connection) => this.#secured(connection),
            onRefused: (reason) => this.#count(reason),
          });
    this.#budget = new ConnectionBudget(
      `l7:${name}`,
      {
        maxConnections: config.maxConnections,
        maxPerSource: config.maxConnectionsPerSource,
        headTimeoutMs: config.headTimeoutMs,
      },
      options.metrics.registry,
    );
    this.#bodyBudget = new BodyBufferBudget(config.maxBufferedBodyBytes);
    this.#unwatchBodyBudget = options.metrics.watchBodyBudget(name, this.#bodyBudget);
    // Default parser settings on purpose: no insecureHTTPParser, so smuggling shapes are refused.
    this.#http1 = createHttp1Server({
      maxHeaderSize: config.maxHeaderBytes,
      headersTimeout: config.headersTimeoutMs,
      // The route timeouts bound requests; this one would cut long uploads and streams.
      requestTimeout: 0,
      keepAliveTimeout: config.idleTimeoutMs,
      // Slow-client checks run this often; node's default (30 s) is too coarse for short timeouts.
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, config.headersTimeoutMs / 4)),
    });
    // node starts its slow-client checks when the server listens; this one never
    // does (connections come from #tcp), so start them as 'listening' would.
    this.#http1.emit('listening');
    this.#http1.on('connection', (connection: Http1Connection) => {
      this.#http1Connections.add(connection);
      connection.once('close', () => this.#http1Connections.delete(connection));
    });
    this.#http1.on('request', (req, res) => {
      const connection: Http1Connection = req.socket;
      this.#headMet(connection);
      connection[NEWEST_RESPONSE] = res;
      if (this.#retiring) res.shouldKeepAlive = false;
      if (!this.#withinRate(req, res)) return;
      if (!this.#takePending(res, connection)) {
        localReply(res, 503, 'listener overloaded', undefined);
        return;
      }
      attachBodyBudget(req, this.#bodyBudget);
      this.#router().handle(name, req, res);
    });
    this.#http1.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
      this.#refuseHttp1(error, socket),
    );
    this.#http1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#upgrade(req, socket, head),
    );
    this.#http2 = createHttp2Server({
      settings: {
        maxConcurrentStreams: config.maxConcurrentStreams,
        maxHeaderListSize: config.maxHeaderBytes,
        enablePush: false,
      },
      // Per connection; maxConnections of them bound what nghttp2 may hold for the listener.
      maxSessionMemory: config.maxSessionMemoryMb,
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
    });
    // Streams, not 'request': node's compatibility layer is not set up (h2-exchange.ts says why).
    this.#http2.on('stream', this.#onStream as (...args: Http2StreamArgs) => void);
    // Session errors are counted once, by the session's own 'error' listener (#watchSession).
    this.#http2.on('session', (session) => this.#watchSession(session));
    this.#tcp = createTcpServer();
    this.#tcp.on('connection', this.#onConnection);
  }

  /** node passes the stream's header list as received (repeats kept) fourth; its types omit it. */
  readonly #onStream = (...[stream, headers, , rawHeaders]: Http2StreamEvent): void => {
    // Errors of a stream (a reset, a write after one) end it; none may reach the process.
    stream.on('error', ignoreStreamError);
    const req = new Http2Request(stream, headers, rawHeaders);
    const res = new Http2Response(stream);
    // nghttp2 advertises the limit but does not enforce it on what it receives.
    if (headerListSize(rawHeaders) > this.config.maxHeaderBytes) {
      this.#count('h2_header_list_too_large');
      localReply(res, 431, 'request header list too large', undefined);
      return;
    }
    if (!this.#routable(req, res)) return;
    if (!this.#withinRate(req, res)) return;
    if (!this.#takePending(res)) {
      localReply(res, 503, 'listener overloaded', undefined);
      return;
    }
    attachBodyBudget(req, this.#bodyBudget);
    this.#router().handle(this.config.name, req, res);
  };

  /**
   * What node's compatibility layer answered before a request reached us,
   * false when answered here: CONNECT (no extended CONNECT is offered) 405,
   * an Expect other than 100-continue 417; 100-continue is granted at once.
   */
  #routable(req: Http2Request, res: Http2Response): boolean {
    if (req.method === 'CONNECT') {
      localReply(res, 405, 'CONNECT is not proxied over HTTP/2', undefined);
      return false;
    }
    const expect = req.headers.expect;
    if (expect === undefined) return true;
    if (expect !== '100-continue') {
      localReply(res, 417, `expectation "${expect}" not supported`, undefined);
      req.stream.resume();
      return false;
    }
    req.stream.additionalHeaders({ ':status': 100 });
    return true;
  }

  readonly #onConnection = (socket: Socket): void => {
    // Over budget: destroyed before a byte is read, and counted by the budget.
    if (!this.#budget.admit(socket)) return;
    this.#heads.set(socket, this.#budget.headDeadline(socket));
    if (this.#held === undefined) {
      this.#accept(socket);
      return;
    }
    if (this.#held.size >= MAX_HELD_CONNECTIONS) {
      this.#count('not_in_force');
      socket.destroy();
      return;
    }
    const held = this.#held;
    held.add(socket);
    socket.once('close', () => held.delete(socket));
    // A reset while held must not become an uncaught 'error'.
    socket.on('error', () => socket.destroy());
  };

  /**
   * Puts the listener in force (its config's commit): from now on it serves
   * what it accepts, starting with the connections it held until now.
   */
  open(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    for (const socket of held) {
      if (!socket.destroyed) this.#accept(socket);
    }
  }

  /**
   * A listener that binds nothing yet: it is to take over the port of one
   * with the same address (takeOver), or be closed unused.
   */
  static unbound(options: L7ListenerOptions): L7Listener {
    return new L7Listener(options);
  }

  static async start(options: L7ListenerOptions): Promise<L7Listener> {
    const listener = new L7Listener(options);
    const { host, port } = validHostPort(options.config.listen);
    try {
      await listenTcp(listener.#tcp, host, port, options.sharedPort);
    } catch (error) {
      // Stops the slow-client check timer started in the constructor.
      listener.#http1.close(() => undefined);
      throw error;
    }
    return listener;
  }

  /** The bound address (the real port when the config said 0). */
  get address(): HostPort {
    const info = this.#tcp.address() as AddressInfo;
    return { host: info.address, port: info.port };
  }

  /**
   * Takes over the bound port of `previous` (same address, other settings),
   * with no moment when the port is closed: new connections come here from
   * now on, and the previous listener's connections are closed, as when a
   * listener's settings change. Synchronous; cannot fail.
   */
  takeOver(previous: L7Listener): void {
    const port = previous.#tcp;
    port.off('connection', previous.#onConnection);
    port.on('connection', this.#onConnection);
    // The unbound server this listener was made with, and one for `previous` to close harmlessly.
    this.#tcp = port;
    previous.#tcp = createTcpServer();
  }

  /**
   * Stops taking connections (unless its port was taken over) and lets what
   * is in flight finish, as Envoy drains a listener: every HTTP/1.1 response
   * not yet under way says "Connection: close" and closes its connection
   * after it (an idle keep-alive connection is not closed under a client
   * that may be sending on it right now: it closes after its next response,
   * or at its idle timeout); HTTP/2 sessions get a GOAWAY. Whatever is still
   * open after `drainMs` (a long stream, a WebSocket tunnel) is closed.
   * With `routes`, what still arrives is routed by them (the config the
   * listener was removed from: the one in force has no routes for it).
   */
  retire(drainMs: number, routes?: HttpRouter): void {
    if (this.#retiring) return;
    this.#retiring = true;
    this.#keptRouter = routes;
    this.#tcp.close(() => undefined);
    // Only the newest: marking an earlier one would close the connection
    // under the pipelined responses queued behind it.
    for (const connection of this.#http1Connections) {
      const res = connection[NEWEST_RESPONSE];
      if (res !== undefined && !res.headersSent) res.shouldKeepAlive = false;
    }
    for (const session of this.#sessions) session.close();
    this.#drainTimer = setTimeout(() => void this.close(), drainMs);
    this.#drainTimer.unref();
  }

  async close(): Promise<void> {
    clearTimeout(this.#drainTimer);
    this.#unwatchBodyBudget();
    this.#refusals.close();
    this.#tls?.close();
    for (const socket of this.#held ?? []) socket.destroy();
    const closed = new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
    this.#http1.closeAllConnections();
    // Stops the slow-client check timer; "not running" is expected and ignored.
    this.#http1.close(() => undefined);
    await closed;
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    if (this.#tls !== undefined) {
      this.#tls.accept(socket);
      return;
    }
    this.#serve(socket, undefined);
  }

  /**
   * Hands a connection (TCP, or the decrypted side of TLS) to the HTTP server
   * its protocol says: by the listener's protocol, by ALPN, or by sniffing.
   */
  #serve(socket: Socket, alpn: string | false | null | undefined): void {
    switch (this.config.protocol) {
      case 'http1':
        this.#http1.emit('connection', socket);
        return;
      case 'http2':
        this.#serveHttp2(socket);
        return;
      case 'auto':
        if (alpn === 'h2') this.#serveHttp2(socket);
        else if (alpn === 'http/1.1') this.#http1.emit('connection', socket);
        else this.#sniff(socket);
    }
  }

  /** A TLS handshake succeeded: the connection is served, its head deadline and identity with it. */
  #secured({ socket, raw, identity }: SecuredConnection): void {
    if (raw !== undefined) {
      const deadline = this.#heads.get(raw);
      if (deadline !== undefined) this.#heads.set(socket, deadline);
    }
    if (identity !== undefined) (socket as TlsWithIdentity)[PEER_IDENTITY] = identity.spiffeId;
    this.#serve(socket, socket.alpnProtocol);
  }

  /** Waits for enough bytes to tell the HTTP/2 preface from an HTTP/1.1 request line. */
  #sniff(socket: Socket): void {
    let seen: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      this.#count('headers_timeout');
      socket.destroy();
    }, this.config.headersTimeoutMs);
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const compared = Math.min(seen.length, HTTP2_PREFACE.length);
      const http2 = seen.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
      if (http2 && seen.length < HTTP2_PREFACE.length) return;
      socket.off('data', onData);
      socket.off('close', stop);
      clearTimeout(timer);
      if (http2) {
        // Put back for the frame guard, which reads the socket from the start.
        socket.pause();
        socket.unshift(seen);
        this.#serveHttp2(socket);
        return;
      }
      // node's HTTP/1.1 server reads the wire straight into its parser, past any
      // buffered bytes; its own 'data' handler feeds the parser what we already read.
      this.#http1.emit('connection', socket);
      socket.emit('data', seen);
    };
    const stop = (): void => clearTimeout(timer);
    socket.on('data', onData);
    socket.once('close', stop);
  }

  /** Hands a connection to the HTTP/2 server, with the frame check the listener's config names. */
  #serveHttp2(socket: Socket): void {
    // 'session' is emitted synchronously inside emit('connection'); its first stream meets the head deadline.
    this.#connectingSocket = socket;
    try {
      this.#handOverHttp2(socket);
    } finally {
      this.#connectingSocket = undefined;
    }
  }

  #handOverHttp2(socket: Socket): void {
    if (this.#frameCheck !== 'guard') {
      // Natively: #watchSession puts the session under the refusal watch ('nghttp2').
      this.#http2.emit('connection', socket);
      return;
    }
    const guard = new H2FrameGuard(
      socket,
      (violation) => {
        this.#count(violation.reason);
        this.#options.log.debug(
          { listener: this.config.name, reason: violation.reason },
          'refused HTTP/2 connection',
        );
      },
      {
        maxConcurrentStreams: this.config.maxConcurrentStreams,
        onStreamRefused: (reason) => this.#count(reason),
      },
    );
    // 'session' is emitted synchronously inside emit('connection').
    this.#connectingAddress = socket.remoteAddress;
    this.#http2.emit('connection', guard);
    this.#connectingAddress = undefined;
  }

  #connectingAddress: string | undefined;
  #connectingSocket: Socket | undefined;

  #watchSession(session: ServerHttp2Session): void {
    const socket = this.#connectingSocket;
    if (socket !== undefined) session.once('stream', () => this.#headMet(socket));
    // The session owns `socket` natively unless the guard stands between them.
    if (socket !== undefined && this.#frameCheck === 'nghttp2')
      this.#refusals.watch(session, socket);
    if (this.#connectingAddress !== undefined) {
      (session as { [CLIENT_ADDRESS]?: string })[CLIENT_ADDRESS] = this.#connectingAddress;
    }
    if (socket instanceof TLSSocket) (session as { [ENCRYPTED]?: boolean })[ENCRYPTED] = true;
    const identity = (socket as TlsWithIdentity | undefined)?.[PEER_IDENTITY];
    if (identity !== undefined) {
      (session as { [PEER_IDENTITY]?: string })[PEER_IDENTITY] = identity;
    }
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    session.setTimeout(this.config.idleTimeoutMs, () => session.close());
    session.on('frameError', () => this.#count('h2_frame_error'));
    session.on('error', (error: NodeJS.ErrnoException) => {
      this.#count(`h2_${error.code ?? 'session_error'}`);
    });
    // A client that resets streams in a flood (CVE-2023-44487) is cut off by node's own limits;
    // a GOAWAY with an error code from the peer is its notice that we sent something it refused.
    session.on('goaway', (code: number) => {
      if (code !== 0) this.#count('h2_goaway_received');
    });
  }

  #refuseHttp1(error: NodeJS.ErrnoException, socket: Duplex): void {
    const code = error.code ?? 'unknown';
    // A peer that resets mid-request is not a refusal; there is no one to answer.
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    this.#count(code);
    // A response already on its way (a bad pipelined request behind it): an
    // answer now would be spliced into its body, so the connection just closes.
    const inProgress = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (inProgress?.headersSent === true) {
      socket.destroy();
      return;
    }
    this.#options.log.debug(
      { listener: this.config.name, reason: code },
      'refused HTTP/1.1 request',
    );
    const status = REFUSAL_STATUS[code] ?? 400;
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    );
  }

  /** Bytes of request-body copies held by this listener's requests now. */
  get bufferedBodyBytes(): number {
    return this.#bodyBudget.usedBytes;
  }

  /** The router in force, or the one a removed listener keeps while it drains. */
  #router(): HttpRouter {
    return this.#keptRouter ?? this.#options.router();
  }

  /** HTTP/2 sessions on node's native path watched for nghttp2's refusals now. */
  get watchedHttp2Sessions(): number {
    return this.#refusals.size;
  }

  /** Requests in flight in this listener now. */
  get pendingRequests(): number {
    return this.#pending;
  }

  /**
   * Takes a pending-request slot, given back when the response closes; or,
   * over maxPendingRequests, counts the refusal and returns false. An
   * HTTP/1.1 connection forgets the response then, if it is still its newest
   * (one close listener per request for both).
   */
  #takePending(
    res: { once(event: 'close', listener: () => void): unknown },
    connection?: Http1Connection,
  ): boolean {
    if (this.#pending >= this.config.maxPendingRequests) {
      this.#count('listener_overloaded');
      return false;
    }
    this.#pending += 1;
    res.once('close', () => {
      this.#pending -= 1;
      if (connection !== undefined && connection[NEWEST_RESPONSE] === res) {
        connection[NEWEST_RESPONSE] = undefined;
      }
    });
    return true;
  }

  /**
   * Whether the request's source is within its rate; else it is answered
   * 429 with Retry-After (gRPC: RESOURCE_EXHAUSTED, Trailers-Only) and
   * counted, before it takes a pending slot or reaches a route.
   */
  #withinRate(req: DownstreamRequest, res: DownstreamResponse): boolean {
    // The client's address, also where the frame guard stands between the session and its socket.
    const rate = this.#requestRate?.take(clientAddressOf(req) ?? 'unknown');
    if (rate === undefined || rate.allowed) return true;
    this.#count('rate_limited');
    res.setHeader('retry-after', String(rate.retryAfterSec));
    const grpc = isGrpcRequest(req.headers) ? { status: GrpcStatus.RESOURCE_EXHAUSTED } : undefined;
    localReply(res, 429, 'too many requests from this source', grpc);
    return false;
  }

  /** The connection has sent a complete request head: its head timer stops. */
  #headMet(socket: Socket | Duplex | null): void {
    if (!(socket instanceof Socket)) return;
    this.#heads.get(socket)?.met();
    this.#heads.delete(socket);
  }

  #count(reason: string): void {
    this.#options.metrics.refused.inc({ listener: this.config.name, reason });
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#headMet(socket);
    socket.on('error', () => socket.destroy());
    // node:http hands over the net.Socket it accepted (never another Duplex here).
    if (!(socket instanceof Socket)) {
      socket.destroy();
      return;
    }
    const router = this.#router();
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'h2c') {
      // h2c is cleartext HTTP/2 only (RFC 9113 section 3.1); over TLS, ALPN chose the protocol.
      if (this.config.protocol === 'auto' && this.#tls === undefined && wantsH2cUpgrade(req)) {
        upgradeToH2c(req, socket, head, this.#http2, {
          // node:http's upgrade socket is the connection's own net.Socket (cleartext: no TLS here).
          handOff: (upgraded) => {
            if (upgraded instanceof Socket) this.#serveHttp2(upgraded);
            else this.#http2.emit('connection', upgraded);
          },
        });
        return;
      }
      // RFC 9113 section 3.1: a server may ignore the upgrade and answer over HTTP/1.1.
      attachBodyBudget(req, this.#bodyBudget);
      router.handle(this.config.name, req, upgradeResponse(req, socket));
      return;
    }
    // WebSocket and other upgrades: routed like any request. The client's bytes
    // wait until the upstream has said 101: before that the upstream connection
    // is still HTTP, and early bytes could be read there as a second, unrouted request.
    socket.pause();
    router.handle(this.config.name, req, upgradeResponse(req, socket), { socket, head });
  }
}

/** A decrypted mesh connection carries its peer's SPIFFE ID. */
type TlsWithIdentity = TLSSocket & { [PEER_IDENTITY]?: string };

type Http2StreamEvent = [
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  flags: number,
  rawHeaders: string[],
];
type Http2StreamArgs = [stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number];

function ignoreStreamError(): void {}

/** HPACK's size of a header list (RFC 7541 section 4.1): name + value + 32 per field. */
function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (const field of rawHeaders) size += field.length;
  return size + (rawHeaders.length / 2) * 32;
}

/** checkHttp2Frames as a mode: true and false are its older spellings of 'guard' and 'off'. */
function frameCheck(setting: HttpListenerConfig['checkHttp2Frames']): Http2FrameCheck {
  if (setting === true) return 'guard';
  if (setting === false) return 'off';
  return setting;
}
