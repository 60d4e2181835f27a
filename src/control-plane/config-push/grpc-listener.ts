/**
 * The control plane's gRPC listener under a connection budget (issue 14,
 * STYLE.md habit 12). grpc-js's bindAsync gives no hook per connection, so
 * our own node:net server accepts each socket, takes its slot in a
 * ConnectionBudget named "grpc" (in total and per source address, refusals
 * counted), starts its head deadline, and only then hands it to grpc-js
 * through a connection injector.
 *
 * The head is met when the connection opens its first MeshControl call (its
 * first HEADERS frame reaching a handler), not merely when the 24-byte
 * HTTP/2 preface has arrived. Why: node's http2 layer reads an injected
 * socket natively, so the preface cannot be watched byte by byte without
 * putting every byte of every node through JavaScript; and a connection
 * that sends the preface and SETTINGS but never calls holds a slot just as
 * an idle one does. A real node opens a connection only to call (grpc-js
 * connects on a call's behalf; the node agent's first call is Register),
 * so its first HEADERS follows its preface within milliseconds. Once met,
 * the deadline is gone for the connection's life: a node's long-lived
 * resource stream is never cut by it. A connection that called once and
 * then holds no call is closed by grpc-js after IDLE_CONNECTION_MS
 * (grpc.max_connection_idle_ms), which never fires while a call is open.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { ServerInterceptingCall } from '@grpc/grpc-js';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { HostPort } from '../../shared/address.js';
import {
  ConnectionBudget,
  type ConnectionBudgetLimits,
  type HeadDeadline,
} from '../../shared/connection-budget.js';

/**
 * A connection with no call open for this long is closed (GOAWAY) by
 * grpc-js. A node always holds its resource stream open; between its calls
 * (Register, then the stream; or a reconnect's backoff, at most 5 s) it is
 * idle for seconds at most.
 */
export const IDLE_CONNECTION_MS = 60_000;

/**
 * Streams one connection may hold at once. A node holds two at most
 * (Register, then its resource stream; a re-register may overlap the old
 * stream's end); more is not a node.
 */
export const MAX_STREAMS_PER_CONNECTION = 16;

/** A connection as both ends see it; unique among the open connections of one listener. */
function connectionKey(
  local: string | undefined,
  localPort: number | undefined,
  remote: string | undefined,
  remotePort: number | undefined,
): string | undefined {
  if (local === undefined || remote === undefined) return undefined;
  return `${local}:${String(localPort)}|${remote}:${String(remotePort)}`;
}

export interface GrpcListenerOptions {
  readonly listen: HostPort;
  readonly budget: ConnectionBudgetLimits;
  readonly metrics: MetricsRegistry;
}

export class GrpcListener {
  readonly #options: GrpcListenerOptions;
  readonly #budget: ConnectionBudget;
  /** Admitted connections that have not opened a call yet, by connectionKey. */
  readonly #heads = new Map<string, { readonly socket: Socket; readonly deadline: HeadDeadline }>();
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;

  constructor(options: GrpcListenerOptions) {
    this.#options = options;
    this.#budget = new ConnectionBudget('grpc', options.budget, options.metrics);
  }

  /**
   * Give this to the grpc-js Server's `interceptors`: it meets a
   * connection's head deadline when the connection's first call starts.
   */
  readonly interceptor: grpc.ServerInterceptor = (_method, call) => {
    const info = call.getConnectionInfo();
    const key = connectionKey(
      info.localAddress,
      info.localPort,
      info.remoteAddress,
      info.remotePort,
    );
    if (key !== undefined) {
      this.#heads.get(key)?.deadline.met();
      this.#heads.delete(key);
    }
    return new ServerInterceptingCall(call);
  };

  /** Binds the listen address (port 0 picks one) and feeds admitted sockets to `server`. */
  async listen(server: grpc.Server, credentials: grpc.ServerCredentials): Promise<HostPort> {
    const injector = server.createConnectionInjector(credentials);
    const listener = createServer({ noDelay: true }, (socket) => this.#accept(socket, injector));
    this.#server = listener;
    const { host, port } = this.#options.listen;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, host, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    const address = listener.address();
    const bound = typeof address === 'object' && address !== null ? address.port : port;
    return { host, port: bound };
  }

  /**
   * Stops accepting, and closes the connections that never opened a call:
   * nothing on them to finish, and grpc-js's graceful shutdown would wait
   * for them. Those with calls stay until destroyHeld(). Resolves once every
   * connection is closed.
   */
  stopAccepting(): Promise<void> {
    const listener = this.#server;
    if (listener === undefined) return Promise.resolve();
    const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
    for (const { socket } of this.#heads.values()) socket.destroy();
    return closed;
  }

  /** Destroys every socket still held (after grpc-js had its chance to close them gracefully). */
  destroyHeld(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  #accept(socket: Socket, injector: grpc.ConnectionInjector): void {
    if (!this.#budget.admit(socket)) return; // destroyed and counted by the budget
    const key = connectionKey(
      socket.localAddress,
      socket.localPort,
      socket.remoteAddress,
      socket.remotePort,
    );
    this.#sockets.add(socket);
    const deadline = this.#budget.headDeadline(socket);
    if (key !== undefined) this.#heads.set(key, { socket, deadline });
    socket.once('close', () => {
      this.#sockets.delete(socket);
      if (key !== undefined && this.#heads.get(key)?.socket === socket) this.#heads.delete(key);
    });
    injector.injectConnection(socket);
  }
}
