/**
 * What anonymous clients may hold of the SFU (STYLE.md habit 12, issue 14):
 * WebSocket connections, rooms, WebRTC transports and WHIP/WHEP sessions,
 * each capped in total and per source address. A slot is taken before the
 * thing is made (a transport's slot before a port is bound), so one source
 * cannot fill the port range or the session table and lock everyone else
 * out; it is given back when the thing ends. A refusal is an
 * OverBudgetError (protocol code `over_budget`, HTTP 429 per source or 503
 * in total) and is counted by reason; so is a mediasoup worker that has no
 * port left, the budget's last line.
 */
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import { StreammeshError } from '../../src/shared/errors.js';

export const budgetedResources = ['webSockets', 'rooms', 'transports', 'sessions'] as const;
export type BudgetedResource = (typeof budgetedResources)[number];

export interface ResourceBudget {
  /** Held at once on this node. */
  readonly total: number;
  /** Held at once by one source address. */
  readonly perSource: number;
}

export type WebRtcBudgetLimits = Readonly<Record<BudgetedResource, ResourceBudget>>;

/** The schema's defaults (src/config/signaling-budgets-schema.ts); for servers started without a config. */
export const DEFAULT_WEBRTC_BUDGET: WebRtcBudgetLimits = {
  webSockets: { total: 2000, perSource: 64 },
  rooms: { total: 1000, perSource: 32 },
  transports: { total: 4000, perSource: 128 },
  sessions: { total: 500, perSource: 32 },
};

export type BudgetScope = 'total' | 'per_source';

/** The `reason` label of the refusal counter: a budget and its scope, or no port left. */
export type OverBudgetReason = `${BudgetedResource}_${BudgetScope}` | 'ports_exhausted';

/** A request refused because a budget is spent; clients get code `over_budget`. */
export class OverBudgetError extends StreammeshError {
  declare readonly code: 'over_budget';
  readonly reason: OverBudgetReason;
  /** 'total' when the node is full (503), 'per_source' when this client is (429). */
  readonly scope: BudgetScope;

  constructor(reason: OverBudgetReason, scope: BudgetScope, message: string) {
    super('over_budget', message);
    this.reason = reason;
    this.scope = scope;
  }
}

/** A held slot; release() is idempotent. */
export interface BudgetLease {
  readonly release: () => void;
}

/** What the budget needs of a mediasoup transport: its end. */
interface Closable {
  readonly closed: boolean;
  readonly observer: { once(event: 'close', listener: () => void): unknown };
}

/** mediasoup's PortManager: every port of the worker's range is bound. */
export function isPortExhaustion(error: unknown): boolean {
  return error instanceof Error && /no more available ports/i.test(error.message);
}

interface BudgetMetrics {
  readonly refused: Counter<'reason'>;
  readonly budgets: Set<WebRtcBudget>;
}

// One set of series per registry, summed over the budgets registered in it.
const metricsByRegistry = new WeakMap<Registry, BudgetMetrics>();

function budgetMetrics(registry: Registry): BudgetMetrics {
  let metrics = metricsByRegistry.get(registry);
  if (metrics !== undefined) return metrics;
  const budgets = new Set<WebRtcBudget>();
  new Gauge({
    name: 'streammesh_signaling_budget_in_use',
    help: 'Slots of the WebRTC budgets held now, by resource (webSockets, rooms, transports, sessions).',
    labelNames: ['resource'],
    registers: [registry],
    collect() {
      for (const resource of budgetedResources) {
        let held = 0;
        for (const budget of budgets) held += budget.inUse(resource);
        this.set({ resource }, held);
      }
    },
  });
  metrics = {
    budgets,
    refused: new Counter({
      name: 'streammesh_signaling_over_budget_total',
      help: 'Requests refused by a WebRTC budget (over_budget), by reason: <resource>_total, <resource>_per_source, ports_exhausted.',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
  metricsByRegistry.set(registry, metrics);
  return metrics;
}

const resourceNames: Record<BudgetedResource, string> = {
  webSockets: 'WebSocket connections',
  rooms: 'rooms',
  transports: 'WebRTC transports',
  sessions: 'WHIP/WHEP sessions',
};

export class WebRtcBudget {
  readonly #metrics: BudgetMetrics | undefined;
  readonly #total = new Map<BudgetedResource, number>();
  readonly #bySource = new Map<BudgetedResource, Map<string, number>>();
  #limits: WebRtcBudgetLimits;

  constructor(limits: WebRtcBudgetLimits = DEFAULT_WEBRTC_BUDGET, registry?: Registry) {
    this.#limits = limits;
    this.#metrics = registry === undefined ? undefined : budgetMetrics(registry);
    this.#metrics?.budgets.add(this);
  }

  get limits(): WebRtcBudgetLimits {
    return this.#limits;
  }

  /** New limits apply to the next take(); what is held stays held. */
  set limits(value: WebRtcBudgetLimits) {
    this.#limits = value;
  }

  /** Slots held, on the node or by one source. */
  inUse(resource: BudgetedResource, source?: string): number {
    if (source === undefined) return this.#total.get(resource) ?? 0;
    return this.#bySource.get(resource)?.get(source) ?? 0;
  }

  /** Takes a slot of `resource` for `source`; throws OverBudgetError (counted) when none is left. */
  take(resource: BudgetedResource, source: string): BudgetLease {
    const limit = this.#limits[resource];
    const held = this.inUse(resource);
    const fromSource = this.inUse(resource, source);
    if (held >= limit.total) {
      throw this.#refuse(
        `${resource}_total`,
        'total',
        `over budget: this node holds ${limit.total} ${resourceNames[resource]}; try again later`,
      );
    }
    if (fromSource >= limit.perSource) {
      throw this.#refuse(
        `${resource}_per_source`,
        'per_source',
        `over budget: at most ${limit.perSource} ${resourceNames[resource]} per source address`,
      );
    }
    this.#total.set(resource, held + 1);
    const sources = this.#bySource.get(resource) ?? new Map<string, number>();
    this.#bySource.set(resource, sources);
    sources.set(source, fromSource + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#total.set(resource, (this.#total.get(resource) ?? 1) - 1);
        const left = (sources.get(source) ?? 1) - 1;
        if (left === 0) sources.delete(source);
        else sources.set(source, left);
      },
    };
  }

  /**
   * Creates a WebRTC transport for `source` within the transports budget:
   * the slot is taken before `create` binds a port and given back when the
   * transport closes (or its creation fails). A worker with no port left is
   * refused as over budget (ports_exhausted), never an internal error.
   */
  async transport<T extends Closable>(source: string, create: () => Promise<T>): Promise<T> {
    const lease = this.take('transports', source);
    let transport: T;
    try {
      transport = await create();
    } catch (error) {
      lease.release();
      if (isPortExhaustion(error)) {
        throw this.#refuse(
          'ports_exhausted',
          'total',
          'over budget: no WebRTC port is free on this node; try again later',
        );
      }
      throw error;
    }
    if (transport.closed) lease.release();
    else transport.observer.once('close', lease.release);
    return transport;
  }

  #refuse(reason: OverBudgetReason, scope: BudgetScope, message: string): OverBudgetError {
    this.#metrics?.refused.inc({ reason });
    return new OverBudgetError(reason, scope, message);
  }
}
