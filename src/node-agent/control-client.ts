/**
 * A node's side of MeshControl: register, hold the resource stream (its Hello
 * names the resources it holds), apply each update and answer ACK or NACK
 * (naming the refused resources), send heartbeats, stats and a load report
 * every second, and the whole sets the control plane plans from: a proxy's
 * hop requests, a signaling node's rooms and pipe ends (after each Hello and
 * when they change, rooms and pipe ends at most once per 50 ms). When the control plane is unreachable the node keeps its last
 * good config and retries with jittered exponential backoff, so a restarted
 * control plane is not stampeded.
 */
import type * as grpc from '@grpc/grpc-js';
import { Counter, Gauge, type Registry as MetricsRegistry } from 'prom-client';
import { Backoff } from '../shared/backoff.js';
import {
  resourceKey,
  ResourcesRefusedError,
  type PushedResourceRef,
  type ResourceRef,
} from '../config/index.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import {
  MAX_PIPE_ENDPOINTS,
  MAX_REASON_LENGTH,
  MAX_RESOURCE_ERRORS,
  MAX_ROOM_REPORTS,
  MAX_STATS_JSON_LENGTH,
  createMeshControlClient,
  type HopRequest,
  type LoadReport,
  type MeshControlClient,
  type NodeIdentity,
  type NodeMessageOut,
  type PipeEndpoint,
  type RegisterResponse,
  type ResourceError,
  type ResourceUpdate,
  type RoomReport,
  type WireResource,
  type WireResourceRef,
} from '../protocol/mesh/index.js';
import { Coalescer } from './coalescer.js';

/** How often a node reports its load. */
export const LOAD_REPORT_INTERVAL_MS = 1_000;

/** The least time between two room reports, or two pipe end reports, of a node. */
export const REPORT_COALESCE_MS = 50;

type ResourceStream = grpc.ClientDuplexStream<NodeMessageOut, ResourceUpdate>;

export interface ControlClientOptions {
  readonly address: string;
  readonly identity: NodeIdentity;
  readonly capabilities: readonly string[];
  readonly listenAddresses: Readonly<Record<string, string>>;
  /** The system version the node runs now ('' for none), reported on every (re)connect. */
  readonly currentVersion: () => string;
  /** The config resources the node holds, named in every Hello. */
  readonly heldResources: () => readonly ResourceRef[];
  /** The PLACEMENT resources the node holds, returned with their bodies in every Hello. */
  readonly heldPlacements?: () => readonly WireResource[];
  /**
   * Applies an update; returns the resources now held from it, or throws
   * with the reason (a ResourcesRefusedError names the resources at fault).
   */
  readonly apply: (update: ResourceUpdate) => Promise<readonly PushedResourceRef[]>;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  readonly backoff?: Backoff;
  /** What the node reports with each heartbeat (JSON-serializable); undefined sends none. */
  readonly stats?: () => unknown;
  /** The node's load, reported every second; undefined sends none. */
  readonly load?: () => Omit<LoadReport, 'sentAtMs'>;
  /** The camera streams the node wants over hops; sent after each Hello and on sendHopRequests(). */
  readonly hopRequests?: () => readonly HopRequest[];
  /** A signaling node's rooms; sent after each Hello and on sendRooms(). */
  readonly rooms?: () => readonly RoomReport[];
  /** A signaling node's pipe ends (with their keys); sent after each Hello and on sendPipeEndpoints(). */
  readonly pipeEndpoints?: () => readonly PipeEndpoint[];
  /** Each update's drain deadline (Unix ms; 0: not draining), before the update is applied. */
  readonly onDrainDeadline?: (deadlineMs: number) => void;
  /**
   * The channel's credentials: mutual TLS with the node's workload
   * certificate (identity/certificate-provider.ts) when the control plane
   * runs with controlPlane.mtls; plaintext when absent.
   */
  readonly credentials?: grpc.ChannelCredentials;
}

export class ControlClient {
  readonly #options: ControlClientOptions;
  readonly #client: MeshControlClient;
  readonly #backoff: Backoff;
  readonly #connected: Gauge;
  readonly #reconnects: Counter;
  readonly #received: Counter;
  readonly #dropped: Counter;
  #stream: ResourceStream | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #loadTimer: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  /** Updates are applied one at a time, in the order they arrive. */
  #applying: Promise<void> = Promise.resolve();
  #closed = false;
  /** Whether the control plane last reached places media sessions (its Register answer). */
  #placesSessions = false;
  /** The stream that has had its Hello: only then may other messages go on it. */
  #greeted: ResourceStream | undefined;
  /** The drain this node asked for (Unix ms), sent again after each Hello until the node stops. */
  #drainRequest: number | undefined;
  readonly #roomReports = new Coalescer(REPORT_COALESCE_MS, () => this.#writeRooms());
  readonly #pipeReports = new Coalescer(REPORT_COALESCE_MS, () => this.#writePipeEndpoints());

  constructor(options: ControlClientOptions) {
    this.#options = options;
    this.#client = createMeshControlClient(options.address, options.credentials);
    this.#backoff = options.backoff ?? new Backoff({ baseMs: 200, maxMs: 5_000 });
    this.#connected = new Gauge({
      name: 'streammesh_node_control_plane_connected',
      help: '1 while the config stream to the control plane is open.',
      registers: [options.metrics],
    });
    this.#reconnects = new Counter({
      name: 'streammesh_node_control_plane_reconnects_total',
      help: 'Attempts to reach the control plane again after a failure.',
      registers: [options.metrics],
    });
    this.#received = new Counter({
      name: 'streammesh_node_config_resources_received_total',
      help: 'Resources received from the control plane, by type and change (update, remove).',
      labelNames: ['type', 'change'],
      registers: [options.metrics],
    });
    this.#dropped = new Counter({
      name: 'streammesh_node_config_updates_dropped_total',
      help: 'Updates not applied because their stream failed (or the node closed) before their turn.',
      registers: [options.metrics],
    });
  }

  start(): void {
    this.#connect();
  }

  /**
   * Whether the control plane places media sessions: then a proxy pulls a
   * camera only where a placement names it. False until it has answered.
   */
  get placesSessions(): boolean {
    return this.#placesSessions;
  }

  /** Whether the resource stream is open and has had its Hello. */
  get connected(): boolean {
    return this.#greeted !== undefined && this.#greeted === this.#stream;
  }

  /** Sends the node's hop requests now (they changed); after the next Hello if not connected. */
  sendHopRequests(): void {
    const stream = this.#greeted;
    if (stream !== undefined && stream === this.#stream) this.#writeHopRequests(stream);
  }

  /** Sends the node's rooms (they changed), coalesced; after the next Hello if not connected. */
  sendRooms(): void {
    if (this.connected) this.#roomReports.changed();
  }

  /** Sends the node's pipe ends (they changed), coalesced; after the next Hello if not connected. */
  sendPipeEndpoints(): void {
    if (this.connected) this.#pipeReports.changed();
  }

  /** Asks the control plane to drain this node until `deadlineMs` (now, and after each Hello). */
  requestDrain(deadlineMs: number): void {
    this.#drainRequest = deadlineMs;
    const stream = this.#greeted;
    if (stream !== undefined && stream === this.#stream) {
      stream.write({ drain: { deadlineMs } });
    }
  }

  #writeHopRequests(stream: ResourceStream): void {
    const requests = this.#options.hopRequests?.();
    if (requests === undefined) return;
    stream.write({
      hops: { sentAtMs: Date.now(), requests: requests.map((request) => ({ ...request })) },
    });
  }

  /** The whole room set on the greeted stream. */
  #writeRooms(): void {
    this.#writeWholeSet(
      this.#options.rooms?.(),
      { max: MAX_ROOM_REPORTS, field: 'rooms', what: 'rooms' },
      (rooms) => ({ rooms: { sentAtMs: Date.now(), rooms } }),
    );
  }

  /** The whole pipe end set on the greeted stream (its keys are never logged). */
  #writePipeEndpoints(): void {
    this.#writeWholeSet(
      this.#options.pipeEndpoints?.(),
      { max: MAX_PIPE_ENDPOINTS, field: 'endpoints', what: 'pipe ends' },
      (endpoints) => ({ pipes: { sentAtMs: Date.now(), endpoints } }),
    );
  }

  /**
   * A whole set (of copies) on the greeted stream only; one over `max`
   * would be refused whole, so is not sent but warned of, by its size.
   */
  #writeWholeSet<T extends object>(
    items: readonly T[] | undefined,
    limit: { readonly max: number; readonly field: string; readonly what: string },
    message: (copies: T[]) => NodeMessageOut,
  ): void {
    const stream = this.#greeted;
    if (items === undefined || stream === undefined || stream !== this.#stream) return;
    if (items.length > limit.max) {
      this.#options.log.warn(
        { [limit.field]: items.length, max: limit.max },
        `too many ${limit.what} to report; not sent`,
      );
      return;
    }
    stream.write(message(items.map((item) => ({ ...item }))));
  }

  /**
   * Stops taking updates; resolves once the one being applied (if any) has
   * finished its transaction, so the node's services can close after it.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#stopStream();
    this.#client.close();
    await this.#applying;
  }

  #connect(): void {
    if (this.#closed) return;
    const { identity, capabilities, listenAddresses } = this.#options;
    this.#client.register(
      {
        identity,
        capabilities: [...capabilities],
        listenAddresses: { ...listenAddresses },
        currentVersion: this.#options.currentVersion(),
      },
      { deadline: Date.now() + 3_000 },
      (error, response) => {
        if (error !== null || response === undefined) {
          this.#retryLater(error?.details ?? 'no response');
          return;
        }
        this.#openStream(response);
      },
    );
  }

  #openStream(registration: RegisterResponse): void {
    if (this.#closed) return;
    this.#placesSessions = registration.placesSessions;
    const stream = this.#client.streamResources();
    this.#stream = stream;
    let failed = false;
    const fail = (reason: string): void => {
      if (failed || this.#stream !== stream) return;
      failed = true;
      this.#stopStream();
      this.#retryLater(reason);
    };
    stream.on('data', (update: ResourceUpdate) => {
      // An update proves the stream works end to end.
      this.#backoff.reset();
      this.#connected.set(1);
      for (const resource of update.resources) {
        this.#received.inc({ type: resource.type, change: 'update' });
      }
      for (const ref of update.removed) this.#received.inc({ type: ref.type, change: 'remove' });
      this.#options.onDrainDeadline?.(update.drainDeadlineMs ?? 0);
      this.#applying = this.#applying
        .then(() => this.#applyAndAnswer(stream, update))
        .catch((error: unknown) => {
          this.#options.log.error({ err: error }, 'answering a config update failed');
        });
    });
    stream.on('error', (error: grpc.ServiceError) => fail(error.details || error.message));
    stream.on('end', () => fail('stream ended by the control plane'));
    // An update of the previous stream may still be in its transaction: the
    // Hello names what the node holds, so it waits until that has settled
    // (else it would name the old versions and the control plane would count
    // on them). The first message must be the Hello, so the reports wait too.
    void this.#applying.then(() => {
      if (this.#stream === stream) this.#greet(stream, registration);
    });
  }

  #greet(stream: ResourceStream, registration: RegisterResponse): void {
    stream.write({
      hello: {
        id: this.#options.identity.id,
        systemVersion: this.#options.currentVersion(),
        resources: this.#options.heldResources().map((ref) => ({ ...ref })),
        placements: (this.#options.heldPlacements?.() ?? []).map((resource) => ({ ...resource })),
      },
    });
    this.#greeted = stream;
    this.#writeHopRequests(stream);
    this.#roomReports.flush();
    this.#pipeReports.flush();
    if (this.#drainRequest !== undefined)
      stream.write({ drain: { deadlineMs: this.#drainRequest } });
    const interval = Math.max(100, registration.heartbeatIntervalMs);
    this.#heartbeat = setInterval(() => {
      stream.write({ heartbeat: { sentAtMs: Date.now() } });
      this.#reportStats(stream);
    }, interval);
    const { load } = this.#options;
    if (load !== undefined) {
      this.#loadTimer = setInterval(() => {
        stream.write({ load: { sentAtMs: Date.now(), ...load() } });
      }, LOAD_REPORT_INTERVAL_MS);
    }
  }

  #reportStats(stream: ResourceStream): void {
    const stats = this.#options.stats?.();
    if (stats === undefined) return;
    const statsJson = JSON.stringify(stats);
    const bytes = Buffer.byteLength(statsJson);
    if (bytes > MAX_STATS_JSON_LENGTH) {
      this.#options.log.warn(
        { bytes, max: MAX_STATS_JSON_LENGTH },
        'stats report too large; not sent',
      );
      return;
    }
    stream.write({ stats: { sentAtMs: Date.now(), statsJson } });
  }

  async #applyAndAnswer(stream: ResourceStream, update: ResourceUpdate): Promise<void> {
    // An update of a stream that has failed (or of a closed client) is not
    // applied: its answer could not be sent, and the next stream's Hello
    // tells the control plane what the node holds, so it resends what is due.
    if (this.#stream !== stream) {
      this.#dropped.inc();
      return;
    }
    const { nonce, systemVersion } = update;
    let answer: NodeMessageOut;
    try {
      const applied = await this.#options.apply(update);
      answer = { ack: { nonce, systemVersion, applied: applied.map((ref) => ({ ...ref })) } };
    } catch (error) {
      const reason = (
        error instanceof ResourcesRefusedError ? error.summary : errorMessage(error)
      ).slice(0, MAX_REASON_LENGTH);
      const errors = refusedResources(error, update);
      this.#options.log.warn(
        { version: systemVersion, reason, resources: errors.map((e) => e.resource.name) },
        'config rejected (NACK)',
      );
      answer = { nack: { nonce, systemVersion, reason, errors } };
    }
    if (this.#stream === stream) stream.write(answer);
  }

  #stopStream(): void {
    clearInterval(this.#heartbeat);
    clearInterval(this.#loadTimer);
    this.#roomReports.cancel();
    this.#pipeReports.cancel();
    this.#connected.set(0);
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.cancel();
  }

  #retryLater(reason: string): void {
    if (this.#closed) return;
    const delay = this.#backoff.next();
    this.#reconnects.inc();
    this.#options.log.warn(
      { reason, retryInMs: delay, attempt: this.#backoff.attempt },
      'control plane unreachable; keeping the last good config',
    );
    this.#retry = setTimeout(() => this.#connect(), delay);
  }
}

/**
 * The resources a NACK names: those a ResourcesRefusedError names (with the
 * version the update carried), or else every resource of the update, since
 * the refusal cannot be traced to fewer.
 */
function refusedResources(error: unknown, update: ResourceUpdate): ResourceError[] {
  const inUpdate = new Map<string, WireResourceRef>();
  for (const ref of [...update.resources, ...update.removed]) inUpdate.set(resourceKey(ref), ref);
  const named =
    error instanceof ResourcesRefusedError
      ? error.resourceIssues.map((issue) => ({
          resource: {
            type: issue.type,
            name: issue.name,
            version: inUpdate.get(resourceKey(issue))?.version ?? '',
          },
          reason: issue.reason.slice(0, MAX_REASON_LENGTH),
        }))
      : [...inUpdate.values()].map((ref) => ({
          resource: { type: ref.type, name: ref.name, version: ref.version },
          reason: errorMessage(error).slice(0, MAX_REASON_LENGTH),
        }));
  return named.slice(0, MAX_RESOURCE_ERRORS);
}
