/**
 * What every node role (rtp-proxy, signaling) shares: an admin listener with
 * /config_dump, readiness that waits for the first config, and the control
 * client that keeps the config current. A role supplies how a new config is
 * put in force, which may refuse it (can this node bind that address?).
 */
import { hostname } from 'node:os';
import { Counter, Gauge, type Registry } from 'prom-client';
import { formatHostPort, validHostPort, type HostPort } from '../shared/address.js';
import { AdminServer } from '../shared/admin/index.js';
import { validateConfig, type MeshConfig } from '../config/index.js';
import { StreammeshError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import type { ConfigSnapshot, Role } from '../protocol/mesh/index.js';
import { applyConfigTransaction, type ConfigParticipant } from './config-transaction.js';
import { ControlClient } from './control-client.js';

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
  #client: ControlClient | undefined;
  #adminAddress: HostPort | undefined;
  readonly #applies: Counter;

  constructor(options: MeshNodeOptions) {
    this.#options = options;
    this.id = options.section.id ?? defaultId(options.roleName);
    this.metrics = createMetricsRegistry(options.roleName);
    this.#applies = new Counter({
      name: 'streammesh_node_config_applies_total',
      help: 'Config snapshots received, by result (ack or nack).',
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
      readiness: () =>
        this.#applied === undefined
          ? { ready: false, reason: 'no config received from the control plane yet' }
          : { ready: true },
    });
    this.admin.route('GET', '/config_dump', () => ({
      status: 200,
      body: this.#applied ?? { version: null, config: null },
    }));
  }

  get applied(): AppliedConfig | undefined {
    return this.#applied;
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
      apply: (snapshot) => this.#apply(snapshot),
      metrics: this.metrics,
      log,
      ...(this.#options.stats === undefined ? {} : { stats: this.#options.stats }),
    });
    this.#client.start();
  }

  async close(): Promise<void> {
    this.#client?.close();
    await this.admin.close();
  }

  async #apply(snapshot: ConfigSnapshot): Promise<void> {
    if (snapshot.version === this.#applied?.version) {
      this.#applies.inc({ result: 'ack' });
      return;
    }
    let config: MeshConfig;
    try {
      let raw: unknown;
      try {
        raw = JSON.parse(snapshot.configJson);
      } catch {
        throw new SnapshotRejectedError(`snapshot ${snapshot.version}: config is not valid JSON`);
      }
      config = validateConfig(raw, `snapshot ${snapshot.version}`);
      await applyConfigTransaction(this.#options.participants ?? [], config);
    } catch (error) {
      this.#applies.inc({ result: 'nack' });
      throw error;
    }
    this.#applied = { version: snapshot.version, config, appliedAt: new Date().toISOString() };
    this.#applies.inc({ result: 'ack' });
    // The mesh-wide level applies unless this process was given its own.
    if (process.env['STREAMMESH_LOG_LEVEL'] === undefined)
      this.#options.log.level = config.logLevel;
    this.#options.log.info({ version: snapshot.version }, 'config applied');
  }
}

function defaultId(roleName: string): string {
  const host = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 40);
  return `${roleName}-${host}-${process.pid}`.replace(/^-+|-+$/g, '');
}
