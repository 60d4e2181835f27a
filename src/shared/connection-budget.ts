/**
 * The budget every TCP listener keeps (STYLE.md habit 12): connections in
 * total and per source address, and a head timeout, so that idle or slow
 * sockets can never hold every slot. Over budget is refused at once (the
 * socket destroyed before a byte is read) and counted by reason; a socket
 * that has not completed a request head (or handshake) in time is closed and
 * counted. One mechanism for RTSP, signaling, admin, L7 and gRPC listeners.
 */
import type { Socket } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';

export interface ConnectionBudgetLimits {
  /** Connections open at once on this listener. */
  readonly maxConnections: number;
  /** Connections open at once from one source address. */
  readonly maxPerSource: number;
  /** A connection must complete its first request head (or handshake) within this. */
  readonly headTimeoutMs: number;
}

export const defaultConnectionBudget: ConnectionBudgetLimits = {
  maxConnections: 1024,
  maxPerSource: 256,
  headTimeoutMs: 10_000,
};

export type RefusalReason = 'max_connections' | 'max_per_source' | 'head_timeout';

interface BudgetMetrics {
  readonly refused: Counter<'listener' | 'reason'>;
  readonly open: Gauge<'listener'>;
}

// One set of series per registry, shared by every listener of the process.
const metricsByRegistry = new WeakMap<Registry, BudgetMetrics>();

function budgetMetrics(registry: Registry): BudgetMetrics {
  let metrics = metricsByRegistry.get(registry);
  if (metrics === undefined) {
    metrics = {
      refused: new Counter({
        name: 'streammesh_listener_refused_connections_total',
        help: 'Connections refused or closed by a listener budget, by listener and reason (max_connections, max_per_source, head_timeout).',
        labelNames: ['listener', 'reason'],
        registers: [registry],
      }),
      open: new Gauge({
        name: 'streammesh_listener_connections',
        help: 'Connections open on a listener.',
        labelNames: ['listener'],
        registers: [registry],
      }),
    };
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

/** A connection's head timer: cancel it once the connection has sent a complete head. */
export interface HeadDeadline {
  met(): void;
}

export class ConnectionBudget {
  readonly #listener: string;
  readonly #limits: ConnectionBudgetLimits;
  readonly #metrics: BudgetMetrics | undefined;
  readonly #perSource = new Map<string, number>();
  #open = 0;

  constructor(listener: string, limits: ConnectionBudgetLimits, registry?: Registry) {
    this.#listener = listener;
    this.#limits = limits;
    this.#metrics = registry === undefined ? undefined : budgetMetrics(registry);
    this.#metrics?.open.set({ listener }, 0);
  }

  get open(): number {
    return this.#open;
  }

  /**
   * Takes a slot for a new connection, released when the socket closes; or
   * refuses it: destroys the socket, counts why, and returns false.
   */
  admit(socket: Socket): boolean {
    const source = socket.remoteAddress ?? 'unknown';
    const fromSource = this.#perSource.get(source) ?? 0;
    let refusal: RefusalReason | undefined;
    if (this.#open >= this.#limits.maxConnections) refusal = 'max_connections';
    else if (fromSource >= this.#limits.maxPerSource) refusal = 'max_per_source';
    if (refusal !== undefined) {
      this.#count(refusal);
      socket.destroy();
      return false;
    }
    this.#open += 1;
    this.#perSource.set(source, fromSource + 1);
    this.#metrics?.open.set({ listener: this.#listener }, this.#open);
    socket.once('close', () => {
      this.#open -= 1;
      const left = (this.#perSource.get(source) ?? 1) - 1;
      if (left === 0) this.#perSource.delete(source);
      else this.#perSource.set(source, left);
      this.#metrics?.open.set({ listener: this.#listener }, this.#open);
    });
    return true;
  }

  /**
   * Starts the head timer of an admitted connection: unless met() is called
   * within headTimeoutMs, the socket is destroyed and counted. The timer does
   * not hold the process open.
   */
  headDeadline(socket: Socket): HeadDeadline {
    const timer = setTimeout(() => {
      if (socket.destroyed) return;
      this.#count('head_timeout');
      socket.destroy();
    }, this.#limits.headTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    return { met: () => clearTimeout(timer) };
  }

  #count(reason: RefusalReason): void {
    this.#metrics?.refused.inc({ listener: this.#listener, reason });
  }
}
