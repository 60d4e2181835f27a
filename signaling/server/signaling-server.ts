/**
 * The signaling node's HTTP listener: WebSocket signaling at /ws (subprotocol
 * streammesh.v1, frames up to MAX_MESSAGE_BYTES); later WHIP/WHEP and the
 * demo page. Owns the sessions, the rooms and the heartbeat; the WorkerPool
 * is the caller's.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import type { HostPort } from '../../src/shared/address.js';
import type { Logger } from '../../src/shared/log.js';
import { MAX_MESSAGE_BYTES, SUBPROTOCOL } from '../protocol/index.js';
import type { RtcSettings, WorkerPool } from '../sfu/index.js';
import type { PeerLimits } from './peer-media.js';
import type { RequestBudgetOptions } from './request-budget.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, Heartbeat } from './heartbeat.js';
import { registerSignalingMetrics, type SignalingMetrics } from './metrics.js';
import { Rooms } from './rooms.js';
import { SignalingConnection } from './signaling-connection.js';

export const WEBSOCKET_PATH = '/ws';

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
  /** Where WebRTC transports listen. */
  readonly rtc: RtcSettings;
  readonly peerLimits: PeerLimits;
  readonly log: Logger;
  /** The node's registry; the server's metrics are registered in it. */
  readonly metrics: Registry;
  /** HTTP handlers beside /ws (WHIP, WHEP, the demo page), given the rooms. */
  readonly routes?: (rooms: Rooms) => readonly HttpRoute[];
  /** Requests allowed per connection (default 200 at once, 50/s sustained). */
  readonly requestBudget?: RequestBudgetOptions;
  /** ws ping interval (default 10 s); a connection missing 2 pongs is terminated. */
  readonly heartbeatIntervalMs?: number;
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
  #peerLimits: PeerLimits;
  #address: HostPort | undefined;
  #nextConnection = 1;

  private constructor(options: SignalingServerOptions) {
    this.#log = options.log.child({ component: 'signaling-server' });
    this.#rtc = options.rtc;
    this.#requestBudget = options.requestBudget;
    this.#peerLimits = options.peerLimits;
    this.#rooms = new Rooms({
      pool: options.pool,
      maxPeersPerRoom: options.maxPeersPerRoom,
      log: options.log,
    });
    this.#metrics = registerSignalingMetrics(options.metrics, this.#rooms, options.pool);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_MESSAGE_BYTES,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    const routes = [...(options.routes?.(this.#rooms) ?? [])].sort(
      (a, b) => b.prefix.length - a.prefix.length,
    );
    this.#http = createServer((request, response) => {
      this.#route(routes, request, response);
    });
    this.#http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#upgrade(request, socket, head);
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

  set maxPeersPerRoom(value: number) {
    this.#rooms.maxPeersPerRoom = value;
  }

  /** Applies to transports, producers and consumers created from now on. */
  set peerLimits(value: PeerLimits) {
    this.#peerLimits = value;
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
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      this.#accept(ws, request);
    });
  }

  #accept(ws: WebSocket, request: IncomingMessage): void {
    const connection = this.#nextConnection;
    this.#nextConnection += 1;
    const remote = request.socket.remoteAddress;
    const log = this.#log.child({ connection, remote });
    const session = new SignalingConnection({
      socket: ws,
      rooms: this.#rooms,
      rtc: this.#rtc,
      peerLimits: this.#peerLimits,
      ...(this.#requestBudget === undefined ? {} : { requestBudget: this.#requestBudget }),
      log,
      onBadMessage: (code) => {
        this.#metrics.badMessage(code);
      },
    });
    this.#sessions.set(ws, session);
    ws.on('close', () => {
      this.#sessions.delete(ws);
    });
    log.debug('websocket connected');
  }
}

function refuse(socket: Duplex, status: number, reason: string, body = ''): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
