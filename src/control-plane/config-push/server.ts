/**
 * The MeshControl gRPC service: nodes register, then hold a config stream.
 * Every connected node gets the current snapshot at once and each new one as
 * the store changes; its ACKs and NACKs land in the registry.
 */
import * as grpc from '@grpc/grpc-js';
import { Counter, Gauge, type Registry as MetricsRegistry } from 'prom-client';
import type { HostPort } from '../../shared/address.js';
import { formatHostPort } from '../../shared/address.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import {
  MAX_STATS_JSON_LENGTH,
  meshControlService,
  type ConfigSnapshot,
  type MeshControlHandlers,
  type NodeMessage,
  type RegisterRequest,
  type StatsReport,
} from '../../protocol/mesh/index.js';
import type { Registry } from '../registry/registry.js';
import type { ConfigStore, VersionedConfig } from './config-store.js';

const NODE_ID = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;
const MAX_REASON_LENGTH = 2048;

export interface ConfigPushServerOptions {
  readonly listen: HostPort;
  readonly store: ConfigStore;
  readonly registry: Registry;
  readonly heartbeatIntervalMs: number;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
}

export class ConfigPushServer {
  readonly #options: ConfigPushServerOptions;
  readonly #server = new grpc.Server({
    // Nodes send small answers and stats reports of at most
    // MAX_STATS_JSON_LENGTH; a peer sending more is not a node.
    'grpc.max_receive_message_length': MAX_STATS_JSON_LENGTH + 16 * 1024,
  });
  readonly #streams = new Map<string, grpc.ServerDuplexStream<NodeMessage, ConfigSnapshot>>();
  readonly #pushes: Counter;
  readonly #acks: Counter;
  readonly #nacks: Counter;
  readonly #badStats: Counter;
  #port = 0;

  constructor(options: ConfigPushServerOptions) {
    this.#options = options;
    const registers = [options.metrics];
    this.#pushes = new Counter({
      name: 'streammesh_control_plane_config_pushes_total',
      help: 'Config snapshots sent to nodes.',
      registers,
    });
    this.#acks = new Counter({
      name: 'streammesh_control_plane_config_acks_total',
      help: 'Snapshots nodes applied.',
      registers,
    });
    this.#nacks = new Counter({
      name: 'streammesh_control_plane_config_nacks_total',
      help: 'Snapshots nodes rejected.',
      registers,
    });
    this.#badStats = new Counter({
      name: 'streammesh_control_plane_bad_stats_reports_total',
      help: 'Stats reports from nodes dropped, by reason (too_large, bad_json).',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: 'streammesh_control_plane_nodes',
      help: 'Registered nodes by role and state.',
      labelNames: ['node_role', 'state'],
      registers,
      collect() {
        this.reset();
        for (const node of options.registry.list()) {
          this.inc({ node_role: node.role, state: node.state });
        }
      },
    });
    const handlers: MeshControlHandlers = {
      register: (call, callback) => {
        this.#register(call.request, callback);
      },
      streamConfig: (call) => {
        this.#streamConfig(call);
      },
    };
    this.#server.addService(meshControlService(), handlers);
    options.store.on('change', (snapshot) => {
      for (const [id, stream] of this.#streams) this.#send(id, stream, snapshot);
    });
  }

  async listen(): Promise<HostPort> {
    const address = formatHostPort(this.#options.listen);
    this.#port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, port) => {
        if (error === null) resolve(port);
        else reject(error);
      });
    });
    return { host: this.#options.listen.host, port: this.#port };
  }

  async close(): Promise<void> {
    for (const stream of this.#streams.values()) stream.end();
    this.#streams.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 1000);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #register(
    request: RegisterRequest,
    callback: grpc.sendUnaryData<{ heartbeatIntervalMs: number }>,
  ) {
    const { id } = request.identity;
    if (!NODE_ID.test(id) || request.identity.role === 'ROLE_UNSPECIFIED') {
      callback({
        code: grpc.status.INVALID_ARGUMENT,
        details: 'identity.id must be a DNS label and identity.role must be set',
      });
      return;
    }
    try {
      this.#options.registry.register(request);
    } catch (error) {
      callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: errorMessage(error) });
      return;
    }
    this.#options.log.info(
      { node: id, nodeRole: request.identity.role, version: request.currentVersion },
      'node registered',
    );
    callback(null, { heartbeatIntervalMs: this.#options.heartbeatIntervalMs });
  }

  #streamConfig(call: grpc.ServerDuplexStream<NodeMessage, ConfigSnapshot>): void {
    let id: string | undefined;
    call.on('data', (message: NodeMessage) => {
      if (id === undefined) {
        id = this.#hello(call, message);
        return;
      }
      this.#onNodeMessage(id, message);
    });
    const closed = (): void => {
      if (id === undefined || this.#streams.get(id) !== call) return;
      this.#streams.delete(id);
      this.#options.registry.streamClosed(id);
      this.#options.log.info({ node: id }, 'node config stream closed');
    };
    call.on('end', () => {
      closed();
      call.end();
    });
    call.on('error', closed);
    call.on('cancelled', closed);
  }

  /** The first message must be a Hello from a registered node. */
  #hello(
    call: grpc.ServerDuplexStream<NodeMessage, ConfigSnapshot>,
    message: NodeMessage,
  ): string | undefined {
    if (message.kind !== 'hello' || this.#options.registry.get(message.hello.id) === undefined) {
      // grpc-js ends a server stream with a status when 'error' is emitted on it.
      const refusal: Partial<grpc.StatusObject> = {
        code: grpc.status.FAILED_PRECONDITION,
        details: 'first message must be a hello from a registered node',
      };
      call.emit('error', refusal);
      return undefined;
    }
    const { id } = message.hello;
    // A node that reconnects replaces its previous stream.
    this.#streams.get(id)?.end();
    this.#streams.set(id, call);
    this.#options.registry.streamOpened(id);
    this.#send(id, call, this.#options.store.current);
    return id;
  }

  #onNodeMessage(id: string, message: NodeMessage): void {
    const registry = this.#options.registry;
    switch (message.kind) {
      case 'ack':
        this.#acks.inc();
        registry.acked(id, message.ack.version);
        this.#options.log.debug({ node: id, version: message.ack.version }, 'config ACK');
        break;
      case 'nack': {
        this.#nacks.inc();
        const reason = message.nack.reason.slice(0, MAX_REASON_LENGTH);
        registry.nacked(id, message.nack.version, reason);
        this.#options.log.warn({ node: id, version: message.nack.version, reason }, 'config NACK');
        break;
      }
      case 'heartbeat':
        registry.seen(id);
        break;
      case 'stats':
        this.#onStats(id, message.stats);
        break;
      case 'hello':
        break;
    }
  }

  /** A report that is too large or not JSON is dropped and counted; the stream stays. */
  #onStats(id: string, report: StatsReport): void {
    if (Buffer.byteLength(report.statsJson) > MAX_STATS_JSON_LENGTH) {
      this.#badStats.inc({ reason: 'too_large' });
      return;
    }
    let stats: unknown;
    try {
      stats = JSON.parse(report.statsJson);
    } catch {
      this.#badStats.inc({ reason: 'bad_json' });
      this.#options.log.warn({ node: id }, 'stats report is not JSON; dropped');
      return;
    }
    this.#options.registry.reported(id, report.sentAtMs, stats);
  }

  #send(
    id: string,
    stream: grpc.ServerDuplexStream<NodeMessage, ConfigSnapshot>,
    snapshot: VersionedConfig,
  ): void {
    this.#pushes.inc();
    this.#options.log.debug({ node: id, version: snapshot.version }, 'pushing config');
    stream.write({ version: snapshot.version, configJson: snapshot.json });
  }
}
