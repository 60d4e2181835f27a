/**
 * What every node role (rtp-proxy, signaling) shares: an admin listener with
 * /config_dump, readiness that waits for the first config, and the control
 * client that keeps the config current. The node holds its config as typed
 * resources (node-config.ts): each update from the control plane is applied
 * to a copy of that set, assembled and validated as a whole, and put in force
 * by the role's participants as one transaction; a refusal names the
 * resources at fault and leaves the set exactly as it was. Updates are
 * applied one at a time (the control client queues them), and close() waits
 * for the one in flight.
 *
 * With controlPlane.mtls (the default) the node first gets its workload
 * certificate (identity/): the control channel is mutual TLS with it, so the
 * control client starts only once it is in hand, and follows its renewals
 * without reconnecting. The role's other mTLS ends (the L7 proxy) use the
 * same identity.
 */
import { hostname } from 'node:os';
import { Gauge, type Registry } from 'prom-client';
import { formatHostPort, validHostPort, type HostPort } from '../shared/address.js';
import { AdminCredentials, AdminServer, type Readiness } from '../shared/admin/index.js';
import { redactSecrets, type MeshConfig, type ResourceRef } from '../config/index.js';
import type { WorkloadIdentitySource } from '../shared/identity/index.js';
import type { Logger } from '../shared/log.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import type { HopRequest, PipeEndpoint, Role, RoomReport } from '../protocol/mesh/index.js';
import type { ConfigParticipant } from './config-transaction.js';
import { ControlClient, type ControlClientOptions } from './control-client.js';
import {
  controlChannelCredentials,
  IdentityClosedError,
  workloadIdentityFromConfig,
  type WorkloadIdentity,
} from './identity/index.js';
import { CpuSampler, type LoadSource } from './load-source.js';
import { NodeConfig, type AppliedConfig } from './node-config.js';
import { MeshState } from './mesh-state.js';
import type { Pipes } from './pipes.js';
import type { Placements } from './placements.js';
import type { SignalingNodes } from './signaling-nodes.js';

export type { AppliedConfig } from './node-config.js';

export interface MeshNodeOptions {
  readonly role: Role;
  /** Used in metric labels and default ids: "proxy", "signaling". */
  readonly roleName: string;
  /** The node's start-up config: its listen addresses and identity. */
  readonly config: MeshConfig;
  readonly section: {
    readonly id?: string | undefined;
    readonly node?: string | undefined;
    readonly admin: string;
    /** The node's SPIFFE ID's parts (proxy.identity, signaling.identity); used with controlPlane.mtls. */
    readonly identity: { readonly namespace: string; readonly serviceAccount: string };
    /** `streammesh up`'s proxies (proxy.instances): the one of this node's id may name its own service account. */
    readonly instances?: readonly {
      readonly id: string;
      readonly serviceAccount?: string | undefined;
    }[];
  };
  readonly capabilities: readonly string[];
  readonly log: Logger;
  /**
   * The node's services, which put a new config in force together as one
   * transaction (config-transaction.ts): any one of them refusing it (NACK)
   * leaves every one on the previous config.
   */
  readonly participants?: readonly ConfigParticipant[];
  /** Reported to the control plane with each heartbeat (JSON-serializable). */
  readonly stats?: () => unknown;
  /** The role's load and declared capacity, reported every second with the process's CPU. */
  readonly load?: LoadSource;
  /** Further listen addresses to register beside admin (a proxy's `hop` socket). */
  readonly listenAddresses?: () => Readonly<Record<string, string>>;
  /** The camera streams the node wants over hops (a proxy's edges); see ControlClient. */
  readonly hopRequests?: () => readonly HopRequest[];
  /** A signaling node's rooms with local participants (the whole set); see roomsChanged(). */
  readonly rooms?: () => readonly RoomReport[];
  /** A signaling node's PipeTransport ends, one per PIPE it holds (the whole set); see pipeEndpointsChanged(). */
  readonly pipeEndpoints?: () => readonly PipeEndpoint[];
}

export class MeshNode {
  readonly #options: MeshNodeOptions;
  readonly id: string;
  readonly metrics: Registry;
  readonly admin: AdminServer;
  readonly #config: NodeConfig;
  /** Placements, hops, pipes and peer signaling nodes, as the control plane last pushed them. */
  readonly meshState: MeshState;
  #client: ControlClient | undefined;
  /** The node's workload certificate, with controlPlane.mtls; undefined without. */
  readonly #identity: WorkloadIdentity | undefined;
  #closed = false;
  #adminAddress: HostPort | undefined;
  /** Drained until (Unix ms) as the control plane says, and as this node asked; 0: not. */
  #drainedByControlPlane = 0;
  #drainAsked = 0;
  readonly #drainListeners = new Set<(deadlineMs: number) => void>();

  constructor(options: MeshNodeOptions) {
    this.#options = options;
    this.id = options.section.id ?? defaultId(options.roleName);
    this.metrics = createMetricsRegistry(options.roleName);
    const { controlPlane } = options.config;
    this.#identity = controlPlane.mtls
      ? workloadIdentityFromConfig({
          controlPlane,
          identity: identityOf(options.section, this.id),
          nodeId: this.id,
          log: options.log,
          metrics: this.metrics,
        })
      : undefined;
    const ownIdentity = this.#identity?.spiffeId;
    this.meshState = new MeshState(
      this.id,
      { ownIdentity: () => ownIdentity, metrics: this.metrics, log: options.log },
      { identity: this.#identity, metrics: this.metrics },
    );
    this.#config = new NodeConfig({
      participants: options.participants ?? [],
      meshState: this.meshState,
      metrics: this.metrics,
      log: options.log,
    });
    const appliedVersion = (): string | undefined => this.#config.applied?.version;
    new Gauge({
      name: 'streammesh_node_config_info',
      help: 'The config version in force (value 1).',
      labelNames: ['version'],
      registers: [this.metrics],
      collect() {
        this.reset();
        const version = appliedVersion();
        if (version !== undefined) this.set({ version }, 1);
      },
    });
    this.admin = new AdminServer({
      listen: validHostPort(options.section.admin),
      metrics: this.metrics,
      log: options.log,
      // Token-only routes (the proxy's /keys) and a bind beyond loopback need the admin token.
      credentials: AdminCredentials.reader({ file: options.config.controlPlane.adminTokenFile }),
      setting: `${options.roleName}.admin`,
      readiness: () => this.#readiness(),
    });
    this.admin.route('GET', '/config_dump', () => ({
      status: 200,
      body:
        this.#config.applied === undefined
          ? { version: null, config: null, resources: [] }
          : {
              ...this.#config.applied,
              // Keys, passwords and camera credentials are not shown on an open port.
              config: redactSecrets(this.#config.applied.config),
              resources: this.heldResources(),
            },
    }));
  }

  get applied(): AppliedConfig | undefined {
    return this.#config.applied;
  }

  /**
   * The node's workload certificates (renewed at half-life), for its other
   * mutual-TLS ends; undefined without controlPlane.mtls.
   */
  get identity(): WorkloadIdentitySource | undefined {
    return this.#identity;
  }

  /** Which node carries each media session, as the control plane last pushed it. */
  get placements(): Placements {
    return this.meshState.placements;
  }

  /** A signaling node's cascade pipes (PIPE), as the control plane last pushed them. */
  get pipes(): Pipes {
    return this.meshState.pipes;
  }

  /** The mesh's signaling nodes (SIGNALING_NODE), as the control plane last pushed them. */
  get signalingNodes(): SignalingNodes {
    return this.meshState.signalingNodes;
  }

  /**
   * Settles with the first config's outcome: resolves once it is in force
   * (every listener it names bound), rejects with its refusal.
   */
  firstConfig(): Promise<void> {
    return this.#config.firstOutcome;
  }

  /** The resources the node holds, by type and name. */
  heldResources(): ResourceRef[] {
    return this.#config.heldResources();
  }

  get adminAddress(): HostPort {
    if (this.#adminAddress === undefined) throw new Error('admin listener not started');
    return this.#adminAddress;
  }

  /**
   * Starts the admin listener, then the control client: at once without
   * mTLS, else once the first workload certificate is in hand (readiness
   * says why the node waits until then).
   */
  async start(): Promise<void> {
    this.#adminAddress = await this.admin.listen();
    const identity = this.#identity;
    if (identity === undefined) {
      this.#startClient();
      return;
    }
    const trustDomain = this.#options.config.controlPlane.trustDomain;
    identity.obtain().then(
      () => this.#startClient(controlChannelCredentials(identity, trustDomain)),
      (error: unknown) => {
        if (!(error instanceof IdentityClosedError)) {
          this.#options.log.error({ err: error }, 'BUG: the workload identity failed');
        }
      },
    );
  }

  #startClient(credentials?: ControlClientOptions['credentials']): void {
    if (this.#closed) return;
    const { config, log } = this.#options;
    const adminAddress = this.adminAddress;
    this.#client = new ControlClient({
      ...(credentials === undefined ? {} : { credentials }),
      address: config.controlPlane.address ?? config.controlPlane.grpc,
      identity: {
        id: this.id,
        node: this.#options.section.node ?? hostname(),
        role: this.#options.role,
      },
      capabilities: this.#options.capabilities,
      listenAddresses: {
        ...this.#options.listenAddresses?.(),
        admin: formatHostPort(adminAddress),
      },
      currentVersion: () => this.#config.applied?.version ?? '',
      heldResources: () => this.heldResources(),
      heldPlacements: () => this.meshState.wire(),
      apply: (update) => this.#config.apply(update),
      metrics: this.metrics,
      log,
      ...(this.#options.stats === undefined ? {} : { stats: this.#options.stats }),
      ...(this.#options.load === undefined ? {} : { load: this.#loadReporter(this.#options.load) }),
      ...(this.#options.hopRequests === undefined
        ? {}
        : { hopRequests: this.#options.hopRequests }),
      ...(this.#options.rooms === undefined ? {} : { rooms: this.#options.rooms }),
      ...(this.#options.pipeEndpoints === undefined
        ? {}
        : { pipeEndpoints: this.#options.pipeEndpoints }),
      onDrainDeadline: (deadlineMs) => {
        const before = this.drainDeadlineMs;
        this.#drainedByControlPlane = deadlineMs;
        this.#drainChanged(before);
      },
    });
    this.#client.start();
  }

  /**
   * Until when (Unix ms) the node drains: takes no new media session and is
   * not ready, as the control plane says (`streammesh drain`) or as it asked
   * itself (drain()); 0 when it does not.
   */
  get drainDeadlineMs(): number {
    return this.#drainAsked > 0 ? this.#drainAsked : this.#drainedByControlPlane;
  }

  /** Drains this node until `deadlineMs` (SIGTERM): tells the control plane, which moves its sessions. */
  drain(deadlineMs: number): void {
    const before = this.drainDeadlineMs;
    this.#drainAsked = deadlineMs;
    this.#client?.requestDrain(deadlineMs);
    this.#drainChanged(before);
  }

  /** Called with the new deadline (0: no drain) whenever it changes. */
  onDrain(listener: (deadlineMs: number) => void): void {
    this.#drainListeners.add(listener);
  }

  #drainChanged(before: number): void {
    const now = this.drainDeadlineMs;
    if (now === before) return;
    this.#options.log.info(
      { until: now === 0 ? null : new Date(now).toISOString() },
      now === 0 ? 'no longer draining' : 'draining',
    );
    for (const listener of this.#drainListeners) listener(now);
  }

  /** Whether the node's stream to the control plane is open now. */
  get controlPlaneConnected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** Whether the control plane places media sessions (false before it has answered). */
  get placesSessions(): boolean {
    return this.#client?.placesSessions ?? false;
  }

  /** The node's hop requests changed: sends them now (or after the next Hello). */
  hopRequestsChanged(): void {
    this.#client?.sendHopRequests();
  }

  /** The node's rooms changed: sends the set (at most once per 50 ms; after the next Hello if not connected). */
  roomsChanged(): void {
    this.#client?.sendRooms();
  }

  /** The node's pipe ends changed: sends the set (at most once per 50 ms; after the next Hello if not connected). */
  pipeEndpointsChanged(): void {
    this.#client?.sendPipeEndpoints();
  }

  /**
   * Stops taking config updates and waits for the transaction in flight, if
   * any, to commit or abort: the role closes its services after this, so no
   * transaction runs on a closed service.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#identity?.close();
    await this.#client?.close();
    await this.#config.close();
    await this.admin.close();
  }

  /** Ready once a config is in force and not draining; if not, why. */
  #readiness(): Readiness {
    const drain = this.drainDeadlineMs;
    if (drain > 0) {
      return { ready: false, reason: `draining until ${new Date(drain).toISOString()}` };
    }
    if (this.#config.applied !== undefined) return { ready: true };
    const refusal = this.#config.lastRefusal;
    if (refusal !== undefined) {
      return { ready: false, reason: `config refused (${refusal.at}): ${refusal.message}` };
    }
    const { address, grpc } = this.#options.config.controlPlane;
    const waiting = this.#identity?.waitingReason();
    if (waiting !== undefined && this.#client === undefined) {
      return { ready: false, reason: `no workload certificate yet: ${waiting}` };
    }
    return {
      ready: false,
      reason: `waiting for the first config from the control plane at ${address ?? grpc}`,
    };
  }

  #loadReporter(source: LoadSource) {
    const cpu = new CpuSampler();
    return () => {
      const { producers = 0, consumers = 0, workerCpuCores = 0, ...figures } = source.measure();
      return {
        ...figures,
        // 0 from a role without mediasoup (a proxy): the report's fields are plain numbers.
        producers,
        consumers,
        workerCpuCores,
        cpuCores: cpu.cores(),
        capacity: source.capacity(this.#config.applied?.config ?? this.#options.config),
      };
    };
  }
}

/**
 * The node's SPIFFE ID's parts: the section's identity, with the service
 * account of its own proxy.instances entry when that names one (`streammesh
 * up` starts each instance with its id, from the one config all share).
 */
function identityOf(
  section: MeshNodeOptions['section'],
  id: string,
): { readonly namespace: string; readonly serviceAccount: string } {
  const own = section.instances?.find((instance) => instance.id === id)?.serviceAccount;
  return own === undefined ? section.identity : { ...section.identity, serviceAccount: own };
}

function defaultId(roleName: string): string {
  const host = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 40);
  return `${roleName}-${host}-${process.pid}`.replace(/^-+|-+$/g, '');
}
