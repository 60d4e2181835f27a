/**
 * Every node (rtp-proxy, signaling) that registered: who it is, where it
 * listens, which config version it runs, the last NACK it sent, and whether it
 * is alive. A node is `connected` while its config stream is open and its
 * heartbeats arrive, `stale` after it missed the configured number of
 * heartbeats, `disconnected` while it has no stream. Nodes silent for longer
 * than `forgetAfterMs` are forgotten, and the registry holds at most
 * `maxNodes`, so registrations cannot grow it without bound.
 *
 * Each node also keeps its last error (`lastError`, the shape /streams uses
 * too: src/shared/last-error.ts): today a NACK, with its reason and time. A
 * later ACK marks it resolved but keeps it, as does a reconnect (an ACK of
 * only the non-config part of a push, while a config refusal is in force,
 * neither resolves it nor moves `ackedVersion`: the config push calls
 * seen() then); per resource,
 * `resources[].nacked` is the refusal in force and is cleared by an ACK of
 * that resource, as Envoy's error_state is.
 *
 * A node may be draining (`streammesh drain`, or its own DrainRequest on
 * SIGTERM) until a deadline: placement moves its sessions away and puts no
 * new one on it, and the config push tells it. It stays draining after the
 * deadline (it then holds no sessions) until it registers again as a new
 * process (a Register while it has no stream: a restart) or is forgotten.
 * With mutual TLS on the gRPC channel, each node's record keeps the SPIFFE
 * ID its certificate names (hops name both ends' IDs in their keys).
 * A node id keeps its role until the registry forgets it: registering it
 * under another role is refused (RoleChangeError).
 * The registry emits 'registered' and 'drain' so the push and the admin
 * routes react at once instead of polling.
 *
 * On Kubernetes (controlPlane.registry: kubernetes) a node also keeps the
 * Pod it runs in, as the Pod watch last saw it (a node's id is its Pod's
 * name): GET /nodes shows it, and a node whose Pod was deleted is stale at
 * once rather than after missed heartbeats, until a new Pod of that name
 * appears. A Pod that is only terminating is not gone: its process drains.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../../shared/clock.js';
import { StreammeshError } from '../../shared/errors.js';
import { LastErrorRecord, type LastError } from '../../shared/last-error.js';
import type { Capacity, RegisterRequest, Role } from '../../protocol/mesh/index.js';
import { NodeResources, type ResourceStateView } from './node-resources.js';

export type NodeState = 'connected' | 'stale' | 'disconnected';

export interface NackRecord {
  readonly version: string;
  readonly reason: string;
  readonly at: string;
}

export interface NodeRecord {
  readonly id: string;
  readonly node: string;
  readonly role: Role;
  readonly capabilities: readonly string[];
  readonly listenAddresses: Readonly<Record<string, string>>;
  readonly registeredAt: string;
  /**
   * The SPIFFE ID of the client certificate the node registered with
   * (controlPlane.mtls), null without one. Only the ID: GET /nodes shows it.
   */
  readonly spiffeId: string | null;
  lastSeenMs: number;
  streamOpen: boolean;
  ackedVersion: string;
  lastNack: NackRecord | undefined;
  /** The node's last error and when; kept across ACKs (marked resolved) and reconnects. */
  readonly lastError: LastErrorRecord;
  /** The node's latest stats report, kept out of `list()` (it can be large). */
  stats: StatsRecord | undefined;
  /** Per resource: the version the node holds, the one in flight, the last refused. */
  readonly resources: NodeResources;
  /** The node's latest load report (validated). */
  load: LoadRecord | undefined;
  /** Whether and until when the node is draining; undefined when it is not. */
  draining: DrainRecord | undefined;
  /** The node's Pod on Kubernetes; undefined elsewhere, or before the Pod watch saw it. */
  pod: PodRecord | undefined;
}

/** A node's Pod as the control plane's Pod watch saw it. */
export interface PodRecord {
  readonly name: string;
  readonly uid: string;
  /** The Kubernetes node it is scheduled on; null while unscheduled. */
  readonly nodeName: string | null;
  readonly podIP: string | null;
  /** Since when it is terminating (its deletionTimestamp); null otherwise. */
  readonly terminatingSince: string | null;
  /** When the watch saw it deleted: the node is stale from then on. */
  readonly deletedAt: string | null;
}

/** A drain in force: since when and until when (Unix ms). */
export interface DrainRecord {
  readonly sinceMs: number;
  readonly deadlineMs: number;
}

/** A drain as GET /nodes shows it. */
export interface DrainView {
  readonly since: string;
  readonly deadline: string;
}

/** A node's load as it reported it, with its declared capacity. */
export interface LoadRecord {
  readonly sentAt: string;
  readonly receivedAt: string;
  readonly packetsPerSecond: number;
  readonly bitrateBps: number;
  readonly cpuCores: number;
  readonly sessions: number;
  readonly capacity: Capacity;
  /** Signaling nodes: mediasoup producers and consumers, and the busiest worker's cores. */
  readonly producers?: number;
  readonly consumers?: number;
  readonly workerCpuCores?: number;
}

export interface StatsRecord {
  /** When the node sent it, by the node's clock. */
  readonly sentAt: string;
  readonly receivedAt: string;
  readonly stats: unknown;
}

/** One node's latest report, for GET /stats. */
export interface NodeStatsView extends StatsRecord {
  readonly id: string;
  readonly role: Role;
  readonly state: NodeState;
}

export interface NodeView extends Omit<
  NodeRecord,
  'lastSeenMs' | 'streamOpen' | 'stats' | 'resources' | 'load' | 'lastError' | 'draining' | 'pod'
> {
  readonly state: NodeState;
  readonly lastError: LastError | null;
  readonly lastSeen: string;
  readonly resources: ResourceStateView[];
  readonly load: LoadRecord | null;
  readonly draining: DrainView | null;
  readonly pod: PodRecord | null;
}

export interface RegistryEvents {
  /** A node registered (first time or again). */
  registered: [id: string];
  /** A node's drain started, moved its deadline, or ended. */
  drain: [id: string];
}

export interface RegistryOptions {
  readonly clock: Clock;
  readonly heartbeatIntervalMs: number;
  readonly staleAfterMissedHeartbeats: number;
  readonly maxNodes: number;
  readonly forgetAfterMs: number;
}

/** The longest drain: a drain is a handover, not a way to park a node. */
export const MAX_DRAIN_MS = 60 * 60_000;

/** lastError's code for a NACK: the node's own error codes do not travel in the Nack message. */
const NACK_CODE = 'ERR_CONFIG_NACKED';

export class RegistryFullError extends StreammeshError {
  constructor(max: number) {
    super('ERR_REGISTRY_FULL', `the registry holds its maximum of ${max} nodes`);
  }
}

/**
 * A node id registered under one role registers again under another: the
 * record (and what was planned for it: placements, pipes, hops) is the old
 * role's until the registry forgets it, and a role is never a node's to
 * switch (review finding 2).
 */
export class RoleChangeError extends StreammeshError {
  constructor(id: string, registered: Role) {
    super(
      'ERR_ROLE_CHANGE',
      `node ${JSON.stringify(id.slice(0, 64))} is registered as ${registered} until it is forgotten`,
    );
  }
}

export class Registry extends EventEmitter<RegistryEvents> {
  readonly #options: RegistryOptions;
  readonly #nodes = new Map<string, NodeRecord>();

  constructor(options: RegistryOptions) {
    super();
    this.#options = options;
  }

  /**
   * `spiffeId`: what the node's verified client certificate names (mutual
   * TLS), if any. Throws RegistryFullError, and RoleChangeError for an id
   * registered under another role.
   */
  register(request: RegisterRequest, spiffeId?: string): NodeRecord {
    const now = this.#options.clock.now();
    const previous = this.#nodes.get(request.identity.id);
    if (previous !== undefined && previous.role !== request.identity.role) {
      throw new RoleChangeError(request.identity.id, previous.role);
    }
    if (previous === undefined) {
      this.forgetSilentNodes();
      if (this.#nodes.size >= this.#options.maxNodes)
        throw new RegistryFullError(this.#options.maxNodes);
    }
    const record: NodeRecord = {
      id: request.identity.id,
      node: request.identity.node,
      role: request.identity.role,
      capabilities: [...request.capabilities],
      listenAddresses: { ...request.listenAddresses },
      registeredAt: new Date(now).toISOString(),
      spiffeId: spiffeId ?? null,
      lastSeenMs: now,
      streamOpen: previous?.streamOpen ?? false,
      ackedVersion: request.currentVersion,
      lastNack: previous?.lastNack,
      lastError: previous?.lastError ?? new LastErrorRecord(this.#options.clock),
      stats: previous?.stats,
      resources: previous?.resources ?? new NodeResources(),
      load: previous?.load,
      // A process that runs no config yet is a new one (a restart): whatever
      // drained the old one does not hold for it. One that reconnects after
      // its stream dropped runs its config still, and stays drained.
      draining: request.currentVersion === '' ? undefined : previous?.draining,
      pod: previous?.pod,
    };
    this.#nodes.set(record.id, record);
    this.emit('registered', record.id);
    if (previous?.draining !== undefined && record.draining === undefined) {
      this.emit('drain', record.id);
    }
    return record;
  }

  /**
   * Drains a registered node until `deadlineMs` (Unix ms); a second drain
   * moves the deadline and keeps `since`. False for an unknown node.
   */
  drain(id: string, deadlineMs: number): boolean {
    const record = this.#nodes.get(id);
    if (record === undefined) return false;
    if (record.draining?.deadlineMs === deadlineMs) return true;
    record.draining = {
      sinceMs: record.draining?.sinceMs ?? this.#options.clock.now(),
      deadlineMs,
    };
    this.emit('drain', id);
    return true;
  }

  /** The deadline a node is drained until (Unix ms), 0 when it is not draining. */
  drainDeadlineOf(id: string): number {
    return this.#nodes.get(id)?.draining?.deadlineMs ?? 0;
  }

  /** Keeps the Pod node `id` runs in (a deleted one makes it stale); false for an unknown node. */
  podSeen(id: string, pod: PodRecord): boolean {
    const record = this.#nodes.get(id);
    if (record === undefined) return false;
    record.pod = pod;
    return true;
  }

  /** Drops nodes without a stream that have been silent for forgetAfterMs. */
  forgetSilentNodes(): void {
    const cutoff = this.#options.clock.now() - this.#options.forgetAfterMs;
    for (const [id, record] of this.#nodes) {
      if (!record.streamOpen && record.lastSeenMs < cutoff) this.#nodes.delete(id);
    }
  }

  get(id: string): NodeRecord | undefined {
    return this.#nodes.get(id);
  }

  seen(id: string): void {
    const record = this.#nodes.get(id);
    if (record !== undefined) record.lastSeenMs = this.#options.clock.now();
  }

  streamOpened(id: string): void {
    const record = this.#nodes.get(id);
    if (record === undefined) return;
    record.streamOpen = true;
    record.lastSeenMs = this.#options.clock.now();
  }

  streamClosed(id: string): void {
    const record = this.#nodes.get(id);
    if (record !== undefined) record.streamOpen = false;
  }

  acked(id: string, version: string): void {
    const record = this.#nodes.get(id);
    if (record === undefined) return;
    record.ackedVersion = version;
    record.lastError.succeeded();
    record.lastSeenMs = this.#options.clock.now();
  }

  nacked(id: string, version: string, reason: string): void {
    const record = this.#nodes.get(id);
    if (record === undefined) return;
    record.lastNack = { version, reason, at: new Date(this.#options.clock.now()).toISOString() };
    record.lastError.failed(`config ${version} refused: ${reason}`, NACK_CODE);
    record.lastSeenMs = this.#options.clock.now();
  }

  /** Keeps a node's latest stats report (already parsed and size-checked). */
  reported(id: string, sentAtMs: number, stats: unknown): void {
    const record = this.#nodes.get(id);
    if (record === undefined) return;
    const now = this.#options.clock.now();
    record.stats = {
      sentAt: new Date(sentAtMs).toISOString(),
      receivedAt: new Date(now).toISOString(),
      stats,
    };
    record.lastSeenMs = now;
  }

  /** Keeps a node's latest load report (already validated). */
  loaded(id: string, load: Omit<LoadRecord, 'receivedAt'>): void {
    const record = this.#nodes.get(id);
    if (record === undefined) return;
    const now = this.#options.clock.now();
    record.load = { ...load, receivedAt: new Date(now).toISOString() };
    record.lastSeenMs = now;
  }

  /** Every node record, for the load gauges. */
  records(): IterableIterator<NodeRecord> {
    return this.#nodes.values();
  }

  /** Every node's latest stats report. */
  stats(): NodeStatsView[] {
    return [...this.#nodes.values()].flatMap((record) =>
      record.stats === undefined
        ? []
        : [{ id: record.id, role: record.role, state: this.stateOf(record), ...record.stats }],
    );
  }

  stateOf(record: NodeRecord): NodeState {
    if (record.pod !== undefined && record.pod.deletedAt !== null) return 'stale';
    const silentFor = this.#options.clock.now() - record.lastSeenMs;
    const limit = this.#options.heartbeatIntervalMs * this.#options.staleAfterMissedHeartbeats;
    if (silentFor > limit) return 'stale';
    return record.streamOpen ? 'connected' : 'disconnected';
  }

  list(): NodeView[] {
    return [...this.#nodes.values()].map((record) => {
      const {
        lastSeenMs,
        streamOpen: _,
        stats: __,
        resources,
        load,
        lastError,
        draining,
        pod,
        ...rest
      } = record;
      return {
        ...rest,
        draining:
          draining === undefined
            ? null
            : {
                since: new Date(draining.sinceMs).toISOString(),
                deadline: new Date(draining.deadlineMs).toISOString(),
              },
        lastError: lastError.value,
        state: this.stateOf(record),
        lastSeen: new Date(lastSeenMs).toISOString(),
        resources: resources.view(),
        load: load ?? null,
        pod: pod ?? null,
      };
    });
  }
}
