/**
 * The signaling node's HTTP listener: WebSocket signaling at /ws (subprotocol
 * streammesh.v1, frames up to MAX_MESSAGE_BYTES); later WHIP/WHEP and the
 * demo page. Owns the sessions, the rooms, the heartbeat and the budgets;
 * the WorkerPool is the caller's.
 *
 * Budgets (issue 14): the listener's ConnectionBudget (connections in total
 * and per source; a connection without a complete request head within the
 * head timeout is closed, counted under listener="signaling"), and the
 * WebRtcBudget of WebSocket connections, rooms, transports and WHIP/WHEP
 * sessions, in total and per source address.
 *
 * Requests per source address (issue 17, point 7): every HTTP request and
 * every upgrade takes a token of its source's bucket at the listener's
 * entry, before routing, so WHIP, WHEP, /ws and the demo page are limited
 * in one place (signaling.connections.requestsPerSecondPerSource); one over
 * the rate is answered 429 with Retry-After and counted in
 * streammesh_rate_limited_requests_total{listener="signaling"}. Messages on
 * an open WebSocket have their own budget per connection (RequestBudget).
 *
 * Drain (signaling/CASCADE.md, "Drain"): askToMove() asks every joined
 * WebSocket peer, and each one joined later, to `move` to another node;
 * `participants` is what the drain waits for to be gone; closeAtDeadline()
 * closes who is left when the drain's deadline passes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import {
  carriedToken,
  failureStatus,
  type EdgeTokenClaims,
  type EdgeTokenGate,
  type EdgeTokenVerdict,
} from '../../src/shared/edge-token/index.js';
import { WebSocketServer, type WebSocket } from 'ws';
import type { HostPort } from '../../src/shared/address.js';
import {
  ConnectionBudget,
  defaultConnectionBudget,
  type ConnectionBudgetLimits,
  type HeadDeadline,
} from '../../src/shared/connection-budget.js';
import type { Logger } from '../../src/shared/log.js';
import { SourceRateLimiter, type RateLimit } from '../../src/shared/rate-limit/index.js';
import { MAX_MESSAGE_BYTES, SUBPROTOCOL } from '../protocol/index.js';
import type { RtcSettings, WorkerPool } from '../sfu/index.js';
import type { PeerLimits } from './peer-media.js';
import type { RequestBudgetOptions } from './request-budget.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, Heartbeat } from './heartbeat.js';
import { registerSignalingMetrics, type SignalingMetrics } from './metrics.js';
import { Rooms } from './rooms.js';
import { SignalingConnection } from './signaling-connection.js';
import {
  DEFAULT_WEBRTC_BUDGET,
  OverBudgetError,
  WebRtcBudget,
  type WebRtcBudgetLimits,
} from './webrtc-budget.js';

export const WEBSOCKET_PATH = '/ws';

/**
 * signaling.connections' defaults: a page load or a WHEP session with its
 * trickle is well within, and so is a burst of a few hundred from one NAT.
 */
export const DEFAULT_REQUEST_RATE: RateLimit = { perSecond: 100, burst: 400 };

/**
 * An HTTP handler mounted on the listener: requests whose path starts with
 * `prefix` go to it (the longest prefix wins; "/" takes what no other does).
 * A throw or rejection is answered 500 if nothing was sent yet.
 */
export interface HttpRoute {
  readonly prefix: string;
  handle(request: IncomingMessage, response: ServerResponse): void | Promise<void>;
}

export interface SignalingServerOptions {
  readonly listen: HostPort;
  readonly pool: WorkerPool;
  readonly maxPeersPerRoom: number;
  /** A room's members on this node at most (signaling.maxPeersPerNode); default maxPeersPerRoom. */
  readonly maxPeersPerNode?: number;
  /** Where WebRTC transports listen. */
  readonly rtc: RtcSettings;
  readonly peerLimits: PeerLimits;
  readonly log: Logger;
  /** The node's registry; the server's metrics are registered in it. */
  readonly metrics: Registry;
  /** HTTP handlers beside /ws (WHIP, WHEP, the demo page), given the rooms and the WebRTC budget. */
  readonly routes?: (rooms: Rooms, budget: WebRtcBudget) => readonly HttpRoute[];
  /** The listener's connections and head timeout (default defaultConnectionBudget: 1024, 256, 10 s). */
  readonly connectionBudget?: ConnectionBudgetLimits;
  /** WebSocket connections, rooms, transports, WHIP/WHEP sessions (default DEFAULT_WEBRTC_BUDGET). */
  readonly budget?: WebRtcBudgetLimits;
  /** Requests allowed per connection (default 200 at once, 50/s sustained). */
  readonly requestBudget?: RequestBudgetOptions;
  /** HTTP requests and upgrades allowed per source address (default DEFAULT_REQUEST_RATE). */
  readonly requestRate?: RateLimit;
  /** ws ping interval (default 10 s); a connection missing 2 pongs is terminated. */
  readonly heartbeatIntervalMs?: number;
  /**
   * Checks edge tokens (signaling.requireToken): an upgrade to /ws needs a
   * genuine, unexpired token (`?access_token=`, as browsers cannot set
   * headers on a WebSocket, or Authorization: Bearer), else it is refused
   * before upgrading; the room is checked at join.
   */
  readonly edgeTokens?: EdgeTokenGate | undefined;
}

export class SignalingServer {
  readonly #log: Logger;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #rooms: Rooms;
  readonly #sessions = new Map<WebSocket, SignalingConnection>();
  readonly #metrics: SignalingMetrics;
  readonly #heartbeat: Heartbeat;
  readonly #rtc: RtcSettings;
  readonly #requestBudget: RequestBudgetOptions | undefined;
  readonly #connections: ConnectionBudget;
  readonly #budget: WebRtcBudget;
  readonly #requestRate: SourceRateLimiter;
  readonly #edgeTokens: EdgeTokenGate | undefined;
  /** Head timers of connections that have not sent their first request head yet. */
  readonly #heads = new WeakMap<Socket, HeadDeadline>();
  #peerLimits: PeerLimits;
  #address: HostPort | undefined;
  /** The drain deadline (Unix ms) peers are asked to move by; 0 while not draining. */
  #moveDeadlineMs = 0;
  #nextConnection = 1;

  private constructor(options: SignalingServerOptions) {
    this.#log = options.log.child({ component: 'signaling-server' });
    this.#rtc = options.rtc;
    this.#requestBudget = options.requestBudget;
    this.#peerLimits = options.peerLimits;
    const connectionLimits = options.connectionBudget ?? defaultConnectionBudget;
    this.#connections = new ConnectionBudget('signaling', connectionLimits, options.metrics);
    this.#budget = new WebRtcBudget(options.budget ?? DEFAULT_WEBRTC_BUDGET, options.metrics);
    this.#edgeTokens = options.edgeTokens;
    this.#requestRate = new SourceRateLimiter({
      listener: 'signaling',
      limit: options.requestRate ?? DEFAULT_REQUEST_RATE,
      registry: options.metrics,
    });
    this.#rooms = new Rooms({
      pool: options.pool,
      maxPeersPerRoom: options.maxPeersPerRoom,
      ...(options.maxPeersPerNode === undefined
        ? {}
        : { maxPeersPerNode: options.maxPeersPerNode }),
      log: options.log,
      budget: this.#budget,
    });
    this.#metrics = registerSignalingMetrics(options.metrics, this.#rooms, options.pool);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_MESSAGE_BYTES,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    const routes = [...(options.routes?.(this.#rooms, this.#budget) ?? [])].sort(
      (a, b) => b.prefix.length - a.prefix.length,
    );
    this.#http = createServer(
      {
        // The first head is bounded by the budget's own timer (counted); node's
        // check, a second later, bounds the heads of later keep-alive requests.
        headersTimeout: connectionLimits.headTimeoutMs + 1000,
        requestTimeout: Math.max(30_000, connectionLimits.headTimeoutMs + 1000),
        connectionsCheckingInterval: 1000,
      },
      (request, response) => {
        this.#headComplete(request);
        const retryAfterSec = this.#overRate(request);
        if (retryAfterSec === undefined) {
          this.#route(routes, request, response);
          return;
        }
        // Its body is not read: the connection cannot carry another request.
        response
          .writeHead(429, {
            'content-type': 'text/plain',
            'retry-after': String(retryAfterSec),
            connection: 'close',
          })
          .end('too many requests from this address\n');
        request.resume();
      },
    );
    this.#http.on('connection', (socket: Socket) => {
      if (!this.#connections.admit(socket)) return;
      this.#heads.set(socket, this.#connections.headDeadline(socket));
    });
    this.#http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#headComplete(request);
      const retryAfterSec = this.#overRate(request);
      if (retryAfterSec === undefined) {
        this.#upgrade(request, socket, head);
        return;
      }
      refuse(socket, 429, 'Too Many Requests', 'too many requests from this address\n', {
        'Retry-After': String(retryAfterSec),
      });
    });
    this.#heartbeat = new Heartbeat(
      () => this.#sessions.values(),
      options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    );
  }

  /** Starts listening; rejects if the address cannot be bound. */
  static async start(options: SignalingServerOptions): Promise<SignalingServer> {
    const server = new SignalingServer(options);
    try {
      await new Promise<void>((resolve, reject) => {
        server.#http.once('error', reject);
        server.#http.listen(options.listen.port, options.listen.host, () => {
          server.#http.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      server.#heartbeat.stop();
      server.#rooms.close();
      throw error;
    }
    const bound = server.#http.address() as AddressInfo;
    server.#address = { host: options.listen.host, port: bound.port };
    server.#log.info({ listen: server.#address }, 'signaling server listening');
    return server;
  }

  get address(): HostPort {
    if (this.#address === undefined) throw new Error('signaling server not started');
    return this.#address;
  }

  get rooms(): Rooms {
    return this.#rooms;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#sessions.size;
  }

  /** The WebRTC budget: WebSocket connections, rooms, transports and WHIP/WHEP sessions. */
  get budget(): WebRtcBudget {
    return this.#budget;
  }

  /** Applies to slots taken from now on; what is held stays held. */
  set budgetLimits(value: WebRtcBudgetLimits) {
    this.#budget.limits = value;
  }

  set maxPeersPerRoom(value: number) {
    this.#rooms.maxPeersPerRoom = value;
  }

  get maxPeersPerRoom(): number {
    return this.#rooms.maxPeersPerRoom;
  }

  set maxPeersPerNode(value: number) {
    this.#rooms.maxPeersPerNode = value;
  }

  get maxPeersPerNode(): number {
    return this.#rooms.maxPeersPerNode;
  }

  /** Applies to transports, producers and consumers created from now on. */
  set peerLimits(value: PeerLimits) {
    this.#peerLimits = value;
  }

  /**
   * Who is still served here: WebSocket peers in a room or joining one (a
   * join may wait for the room's members on other nodes: cut then, it would
   * be lost), and WHIP/WHEP sessions (open or starting). A drain ends when
   * none is left.
   */
  get participants(): number {
    let peers = 0;
    for (const session of this.#sessions.values()) if (session.joiningOrJoined) peers += 1;
    return peers + this.#budget.inUse('sessions');
  }

  /**
   * This node drains until `deadlineMs` (Unix ms): every joined WebSocket
   * peer not asked yet is asked to `move` (SignalingConnection.askToMove),
   * and so is each peer whose join is answered from now on (it passed the
   * door before the drain began). Call again when the directory changes: a
   * peer with nowhere to go before may have somewhere now. 0 ends it (peers
   * joined later are not asked). Answers how many were asked now.
   */
  askToMove(deadlineMs: number): number {
    this.#moveDeadlineMs = deadlineMs;
    if (deadlineMs <= 0) return 0;
    let asked = 0;
    for (const session of this.#sessions.values()) if (session.askToMove(deadlineMs)) asked += 1;
    if (asked > 0) this.#log.info({ asked }, 'peers asked to move: this node drains');
    return asked;
  }

  /**
   * The drain's deadline passed: whoever is still served here is closed, as
   * a proxy closes its viewers at its drain's deadline, and the node stays
   * up (empty, draining) until its process is stopped. WebSocket peers are
   * told to `reconnect` and leave (a client joins again through the doors);
   * then the rooms close with what is left in them (WHIP publishers, WHEP
   * viewers of rooms: their sessions end). A WHEP viewer of a camera is in
   * no room and plays on. Answers how many were closed.
   */
  closeAtDeadline(reason: string): number {
    let closed = 0;
    for (const session of this.#sessions.values()) {
      if (session.leaveAtDeadline(reason)) closed += 1;
    }
    return closed + this.#rooms.dropAll(reason);
  }

  /** Closes every connection (their peers leave) and the listener. */
  async close(): Promise<void> {
    this.#heartbeat.stop();
    for (const socket of this.#sessions.keys()) socket.terminate();
    this.#rooms.close();
    this.#wss.close();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.#http.close(() => {
        resolve();
      });
    });
  }

  #route(routes: readonly HttpRoute[], request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '').split('?')[0] ?? '';
    const route = routes.find((candidate) => path.startsWith(candidate.prefix));
    if (route === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      request.resume();
      return;
    }
    const failed = (error: unknown): void => {
      this.#log.error({ err: error, path, method: request.method }, 'HTTP handler failed');
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'text/plain' }).end('internal error\n');
      } else {
        response.destroy();
      }
    };
    try {
      const result = route.handle(request, response);
      if (result instanceof Promise) result.catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (request.url ?? '').split('?')[0];
    if (path !== WEBSOCKET_PATH) {
      refuse(socket, 404, 'Not Found');
      return;
    }
    const offered = (request.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((text) => text.trim());
    if (!offered.includes(SUBPROTOCOL)) {
      refuse(socket, 400, 'Bad Request', `ask for the subprotocol ${SUBPROTOCOL}\n`);
      return;
    }
    const token = this.#token(request);
    if (token !== undefined && !token.ok) {
      const status = failureStatus(token.reason);
      this.#metrics.tokenRefused(token.reason);
      const [reason, headers] =
        status === 401
          ? ['Unauthorized', { 'WWW-Authenticate': 'Bearer realm="streammesh"' }]
          : status === 403
            ? ['Forbidden', {}]
            : ['Service Unavailable', { 'Retry-After': '5' }];
      refuse(socket, status, reason, `edge token refused: ${token.reason}\n`, headers);
      return;
    }
    const source = request.socket.remoteAddress ?? 'unknown';
    let lease;
    try {
      lease = this.#budget.take('webSockets', source);
    } catch (error) {
      if (!(error instanceof OverBudgetError)) throw error;
      const [status, reason] =
        error.scope === 'per_source' ? [429, 'Too Many Requests'] : [503, 'Service Unavailable'];
      refuse(socket, status, reason, `over_budget: ${error.message}\n`, { 'Retry-After': '5' });
      return;
    }
    // Held until the socket closes, whether or not the handshake completes.
    socket.once('close', lease.release);
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      this.#accept(ws, request, source, token?.ok === true ? token.claims : undefined);
    });
  }

  /** The upgrade's edge token checked (no room yet); undefined when none is required. */
  #token(request: IncomingMessage): EdgeTokenVerdict | undefined {
    const gate = this.#edgeTokens;
    if (gate === undefined) return undefined;
    const header = request.headers.authorization;
    const carried = carriedToken(
      header === undefined ? [] : [header],
      request.url ?? '',
      'access_token',
    );
    if (carried.kind === 'malformed') return { ok: false, reason: 'malformed' };
    return gate.verify(carried.kind === 'given' ? carried.token : undefined);
  }

  /** Takes a token of the request's source: undefined when it may go on, else Retry-After seconds. */
  #overRate(request: IncomingMessage): number | undefined {
    const decision = this.#requestRate.take(request.socket.remoteAddress ?? 'unknown');
    return decision.allowed ? undefined : decision.retryAfterSec;
  }

  /** The connection sent a complete request head: its head timer stops. */
  #headComplete(request: IncomingMessage): void {
    this.#heads.get(request.socket)?.met();
    this.#heads.delete(request.socket);
  }

  #accept(
    ws: WebSocket,
    request: IncomingMessage,
    source: string,
    token: EdgeTokenClaims | undefined,
  ): void {
    const connection = this.#nextConnection;
    this.#nextConnection += 1;
    const log = this.#log.child({ connection, remote: source });
    const session = new SignalingConnection({
      socket: ws,
      rooms: this.#rooms,
      rtc: this.#rtc,
      peerLimits: this.#peerLimits,
      budget: this.#budget,
      source,
      token,
      ...(this.#requestBudget === undefined ? {} : { requestBudget: this.#requestBudget }),
      log,
      onBadMessage: (code) => {
        this.#metrics.badMessage(code);
      },
      joined: (joinedSession) => {
        if (this.#moveDeadlineMs > 0) joinedSession.askToMove(this.#moveDeadlineMs);
      },
    });
    this.#sessions.set(ws, session);
    ws.on('close', () => {
      this.#sessions.delete(ws);
    });
    log.debug('websocket connected');
  }
}

function refuse(
  socket: Duplex,
  status: number,
  reason: string,
  body = '',
  headers: Readonly<Record<string, string>> = {},
): void {
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
