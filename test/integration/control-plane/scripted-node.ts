/**
 * A node as the control plane sees it, scripted, the part every role
 * shares: it registers, holds a resource stream over real gRPC (plaintext,
 * or mutual TLS when given credentials), heartbeats, applies and ACKs the
 * updates its owner hands back, keeps what it holds, and returns it in its
 * Hello when it reconnects, as a real node does. ScriptedProxy
 * (scripted-proxy.ts) and ScriptedSignaling (rooms-scripted-signaling.ts)
 * are built on it and add what their role sends and reads back.
 */
import type * as grpc from '@grpc/grpc-js';
import {
  createMeshControlClient,
  type MeshControlClient,
  type NodeMessageOut,
  type ResourceUpdate,
  type Role,
  type WireResource,
} from '../../../src/protocol/mesh/index.js';

export interface ScriptedNodeOptions {
  readonly id: string;
  /** The control plane's gRPC address (host:port). */
  readonly grpc: string;
  readonly heartbeatIntervalMs: number;
  readonly role: Role;
  readonly capabilities: readonly string[];
  readonly listenAddresses: Readonly<Record<string, string>>;
  /** Mutual TLS; default plaintext. */
  readonly credentials?: grpc.ChannelCredentials | undefined;
  /** Held resource types its Hello returns in `placements` rather than as config it runs. */
  readonly returnedInHello: ReadonlySet<string>;
  /**
   * Each update as it arrives. Nothing is applied or ACKed until the owner
   * calls apply(update), so an owner can hold its ACKs back.
   */
  readonly received: (update: ResourceUpdate) => void;
}

export class ScriptedNode {
  readonly #options: ScriptedNodeOptions;
  /** What it holds, by `type/name`. */
  readonly held = new Map<string, WireResource>();
  #systemVersion = '';
  #client: MeshControlClient | undefined;
  #stream: grpc.ClientDuplexStream<NodeMessageOut, ResourceUpdate> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #ended = false;

  constructor(options: ScriptedNodeOptions) {
    this.#options = options;
  }

  /** Registers and opens the stream with a Hello naming what it holds. */
  async connect(): Promise<void> {
    const { id, role, capabilities, listenAddresses } = this.#options;
    const client = createMeshControlClient(this.#options.grpc, this.#options.credentials);
    this.#client = client;
    await new Promise<void>((resolve, reject) => {
      client.register(
        {
          identity: { id, node: 'scripted', role },
          capabilities: [...capabilities],
          listenAddresses: { ...listenAddresses },
          currentVersion: this.#systemVersion,
        },
        { deadline: Date.now() + 5_000 },
        (error) => (error === null ? resolve() : reject(error)),
      );
    });
    const stream = client.streamResources();
    this.#stream = stream;
    this.#ended = false;
    // The stream's end (a test closes it, or the control plane goes) is recorded, not thrown.
    stream.on('error', () => {
      this.#ended = true;
    });
    stream.on('end', () => {
      this.#ended = true;
    });
    stream.on('data', (update: ResourceUpdate) => this.#options.received(update));
    const held = [...this.held.values()];
    const returned = this.#options.returnedInHello;
    stream.write({
      hello: {
        id,
        systemVersion: this.#systemVersion,
        resources: held
          .filter((resource) => !returned.has(resource.type))
          .map(({ type, name, version }) => ({ type, name, version })),
        placements: held.filter((resource) => returned.has(resource.type)),
      },
    });
    this.#heartbeat = setInterval(() => {
      stream.write({ heartbeat: { sentAtMs: Date.now() } });
    }, this.#options.heartbeatIntervalMs);
  }

  /** Whether the control plane ended its stream. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Sends a node message on the stream (nothing without one). */
  send(message: NodeMessageOut): void {
    this.#stream?.write(message);
  }

  /** Applies an update to what it holds and ACKs it. */
  apply(update: ResourceUpdate): void {
    for (const resource of update.resources) {
      this.held.set(`${resource.type}/${resource.name}`, resource);
    }
    for (const ref of update.removed) this.held.delete(`${ref.type}/${ref.name}`);
    this.#systemVersion = update.systemVersion;
    this.send({
      ack: {
        nonce: update.nonce,
        systemVersion: update.systemVersion,
        applied: update.resources.map(({ type, name, version }) => ({ type, name, version })),
      },
    });
  }

  /** Goes silent as a crashed node does: no heartbeat, stream gone. */
  close(): void {
    clearInterval(this.#heartbeat);
    this.#stream?.cancel();
    this.#client?.close();
    this.#stream = undefined;
    this.#client = undefined;
  }
}
