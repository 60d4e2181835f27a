/**
 * What every node role (rtp-proxy, signaling) shares: an admin listener with
 * /config_dump, readiness that waits for the first config, and the control
 * client that keeps the config current. The node holds its config as typed
 * resources (src/config/resources.ts): each update from the control plane is
 * applied to a copy of that set, assembled and validated as a whole, and put
 * in force by the role's participants as one transaction; a refusal names the
 * resources at fault and leaves the set exactly as it was.
 */
import { hostname } from 'node:os';
import { Counter, Gauge, type Registry } from 'prom-client';
import { formatHostPort, validHostPort, type HostPort } from '../shared/address.js';
import { AdminCredentials, AdminServer } from '../shared/admin/index.js';
import {
  assembleConfig,
  resourceKey,
  resourcesNamedByRefusal,
  ResourcesRefusedError,
  resourceTypes,
  type MeshConfig,
  type MeshResource,
  type ResourceIssue,
  type ResourceRef,
  type ResourceType,
} from '../config/index.js';
import { errorMessage, StreammeshError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import type { ResourceUpdate, Role } from '../protocol/mesh/index.js';
import {
  applyConfigTransaction,
  ConfigRefusedError,
  type ConfigParticipant,
} from './config-transaction.js';
import { ControlClient } from './control-client.js';
import { CpuSampler, type LoadSource } from './load-source.js';

export interface AppliedConfig {
  readonly version: string;
  readonly config: MeshConfig;
  readonly appliedAt: string;
}

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
}

export class SnapshotRejectedError extends StreammeshError {
  constructor(message: string) {
    super('ERR_SNAPSHOT_REJECTED', message);
  }
}

export class MeshNode {
  readonly #options: MeshNodeOptions;
  readonly id: string;
  readonly metrics: Registry;
  readonly admin: AdminServer;
  #applied: AppliedConfig | undefined;
  /** The resources the applied config was assembled from, by resourceKey. */
  #resources: ReadonlyMap<string, MeshResource> = new Map();
  #client: ControlClient | undefined;
  #adminAddress: HostPort | undefined;
  readonly #applies: Counter;

  constructor(options: MeshNodeOptions) {
    this.#options = options;
    this.id = options.section.id ?? defaultId(options.roleName);
    this.metrics = createMetricsRegistry(options.roleName);
    this.#applies = new Counter({
      name: 'streammesh_node_config_applies_total',
      help: 'Config updates received, by result (ack or nack).',
      labelNames: ['result'],
      registers: [this.metrics],
    });
    const appliedVersion = (): string | undefined => this.#applied?.version;
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
      readiness: () =>
        this.#applied === undefined
          ? { ready: false, reason: 'no config received from the control plane yet' }
          : { ready: true },
    });
    this.admin.route('GET', '/config_dump', () => ({
      status: 200,
      body:
        this.#applied === undefined
          ? { version: null, config: null, resources: [] }
          : { ...this.#applied, resources: this.heldResources() },
    }));
  }

  get applied(): AppliedConfig | undefined {
    return this.#applied;
  }

  /** The resources the node holds, by type and name. */
  heldResources(): ResourceRef[] {
    return [...this.#resources.values()].map(({ type, name, version }) => ({
      type,
      name,
      version,
    }));
  }

  get adminAddress(): HostPort {
    if (this.#adminAddress === undefined) throw new Error('admin listener not started');
    return this.#adminAddress;
  }

  async start(): Promise<void> {
    const { config, log } = this.#options;
    this.#adminAddress = await this.admin.listen();
    this.#client = new ControlClient({
      address: config.controlPlane.address ?? config.controlPlane.grpc,
      identity: {
        id: this.id,
        node: this.#options.section.node ?? hostname(),
        role: this.#options.role,
      },
      capabilities: this.#options.capabilities,
      listenAddresses: { admin: formatHostPort(this.#adminAddress) },
      currentVersion: () => this.#applied?.version ?? '',
      heldResources: () => this.heldResources(),
      apply: (update) => this.#apply(update),
      metrics: this.metrics,
      log,
      ...(this.#options.stats === undefined ? {} : { stats: this.#options.stats }),
      ...(this.#options.load === undefined ? {} : { load: this.#loadReporter(this.#options.load) }),
    });
    this.#client.start();
  }

  /**
   * Stops taking config updates and waits for the transaction in flight, if
   * any, to commit or abort: the role closes its services after this, so no
   * transaction runs on a closed service.
   */
  async close(): Promise<void> {
    await this.#client?.close();
    await this.admin.close();
  }

  #loadReporter(source: LoadSource) {
    const cpu = new CpuSampler();
    return () => ({
      ...source.measure(),
      cpuCores: cpu.cores(),
      capacity: source.capacity(this.#applied?.config ?? this.#options.config),
    });
  }

  async #apply(update: ResourceUpdate): Promise<readonly ResourceRef[]> {
    const source = `update ${update.systemVersion}`;
    try {
      const candidate = candidateResources(this.#resources, update, source);
      const refs = update.resources.flatMap(({ type, name, version }) =>
        isConfigType(type) ? [{ type, name, version }] : [],
      );
      const unchanged =
        this.#applied !== undefined &&
        candidate.size === this.#resources.size &&
        [...candidate].every(([key, item]) => this.#resources.get(key)?.version === item.version);
      let config = this.#applied?.config;
      if (!unchanged || config === undefined) {
        config = assembleConfig([...candidate.values()], source);
        await this.#transaction(config, update, candidate, source);
      }
      this.#resources = candidate;
      this.#applied = {
        version: update.systemVersion,
        config,
        appliedAt: new Date().toISOString(),
      };
      this.#applies.inc({ result: 'ack' });
      // The mesh-wide level applies unless this process was given its own.
      if (process.env['STREAMMESH_LOG_LEVEL'] === undefined) {
        this.#options.log.level = config.logLevel;
      }
      this.#options.log.info(
        { version: update.systemVersion, resources: refs.length, removed: update.removed.length },
        'config applied',
      );
      return refs;
    } catch (error) {
      this.#applies.inc({ result: 'nack' });
      throw error;
    }
  }

  /** Runs the transaction; a participant's refusal is traced to the resources it names. */
  async #transaction(
    config: MeshConfig,
    update: ResourceUpdate,
    candidate: ReadonlyMap<string, MeshResource>,
    source: string,
  ): Promise<void> {
    try {
      await applyConfigTransaction(this.#options.participants ?? [], config);
    } catch (error) {
      if (!(error instanceof ConfigRefusedError)) throw error;
      // The update's resources with their bodies (a removed one has none), so
      // a refusal that quotes a listen address can be traced to its resource.
      const inUpdate = [...update.resources, ...update.removed].flatMap((ref) =>
        isConfigType(ref.type)
          ? [
              {
                type: ref.type,
                name: ref.name,
                version: ref.version,
                body: candidate.get(resourceKey(ref))?.body,
              },
            ]
          : [],
      );
      const named = resourcesNamedByRefusal(error.participant, error.message, inUpdate);
      throw new ResourcesRefusedError(
        source,
        named.map(({ type, name }) => ({ type, name, reason: error.message })),
        error.message,
      );
    }
  }
}

const configTypes: ReadonlySet<string> = new Set(resourceTypes);

function isConfigType(type: string): type is ResourceType {
  return configTypes.has(type);
}

/**
 * The node's set with the update applied: removals dropped, resources added
 * or replaced. A body that is not JSON, or of a type this node does not
 * serve, is an issue of that resource.
 */
function candidateResources(
  current: ReadonlyMap<string, MeshResource>,
  update: ResourceUpdate,
  source: string,
): Map<string, MeshResource> {
  const candidate = new Map(current);
  const issues: ResourceIssue[] = [];
  for (const ref of update.removed) candidate.delete(resourceKey(ref));
  for (const wire of update.resources) {
    if (!isConfigType(wire.type)) {
      const type = wire.type as ResourceType;
      issues.push({ type, name: wire.name, reason: `${wire.type} is not served by this node` });
      continue;
    }
    let body: unknown;
    try {
      body = JSON.parse(wire.bodyJson);
    } catch (error) {
      issues.push({
        type: wire.type,
        name: wire.name,
        reason: `body is not JSON: ${errorMessage(error)}`,
      });
      continue;
    }
    candidate.set(resourceKey(wire), {
      type: wire.type,
      name: wire.name,
      version: wire.version,
      order: wire.order,
      body,
    });
  }
  if (issues.length > 0) throw new ResourcesRefusedError(source, issues);
  return candidate;
}

function defaultId(roleName: string): string {
  const host = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 40);
  return `${roleName}-${host}-${process.pid}`.replace(/^-+|-+$/g, '');
}
