/**
 * A proxy as the control plane sees it, scripted: it registers (with a
 * `hop` listen address), holds a resource stream over real gRPC, heartbeats,
 * applies and ACKs updates (or holds its ACKs back when told), keeps what it
 * was sent, and returns it in its Hello when it reconnects, as a real node
 * does. It records every update with the time it arrived, so a test can
 * state the order in which nodes saw things. It has no media plane: the
 * tests that use it are about what the control plane decides and sends.
 */
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import { parseHopBody, type HopBody } from '../../../src/config/index.js';
import {
  createMeshControlClient,
  type HopRequest,
  type MeshControlClient,
  type NodeMessageOut,
  type ResourceUpdate,
  type WireResource,
} from '../../../src/protocol/mesh/index.js';

/** One update as it arrived. */
export interface ReceivedUpdate {
  /** performance.now() at arrival. */
  readonly at: number;
  readonly update: ResourceUpdate;
}

export interface ScriptedProxyOptions {
  readonly id: string;
  /** The control plane's gRPC address (host:port). */
  readonly grpc: string;
  readonly hopAddress: string;
  readonly heartbeatIntervalMs: number;
}

const NON_CONFIG = new Set(['PLACEMENT', 'MEDIA_KEY']);

export class ScriptedProxy {
  readonly options: ScriptedProxyOptions;
  readonly updates: ReceivedUpdate[] = [];
  /** Per ACK sent: its nonce and when (performance.now()). */
  readonly acks: { readonly nonce: string; readonly at: number }[] = [];
  /** What it holds, by `type/name`. */
  readonly held = new Map<string, WireResource>();
  #systemVersion = '';
  #client: MeshControlClient | undefined;
  #stream: grpc.ClientDuplexStream<NodeMessageOut, ResourceUpdate> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #holdAcks = false;
  readonly #heldBack: ResourceUpdate[] = [];
  #requests: HopRequest[] = [];

  constructor(options: ScriptedProxyOptions) {
    this.options = options;
  }

  /** Registers and opens the stream with a Hello naming what it holds. */
  async connect(): Promise<void> {
    const client = createMeshControlClient(this.options.grpc);
    this.#client = client;
    await new Promise<void>((resolve, reject) => {
      client.register(
        {
          identity: { id: this.options.id, node: 'scripted', role: 'ROLE_PROXY' },
          capabilities: ['rtp'],
          listenAddresses: { hop: this.options.hopAddress },
          currentVersion: this.#systemVersion,
        },
        { deadline: Date.now() + 5_000 },
        (error) => (error === null ? resolve() : reject(error)),
      );
    });
    const stream = client.streamResources();
    this.#stream = stream;
    // The stream's end (a test closes it, or the control plane goes) is not under test.
    stream.on('error', () => undefined);
    stream.on('data', (update: ResourceUpdate) => {
      this.updates.push({ at: performance.now(), update });
      if (this.#holdAcks) this.#heldBack.push(update);
      else this.#apply(update);
    });
    const held = [...this.held.values()];
    stream.write({
      hello: {
        id: this.options.id,
        systemVersion: this.#systemVersion,
        resources: held
          .filter((resource) => !NON_CONFIG.has(resource.type))
          .map(({ type, name, version }) => ({ type, name, version })),
        placements: held.filter((resource) => NON_CONFIG.has(resource.type)),
      },
    });
    this.#heartbeat = setInterval(() => {
      stream.write({ heartbeat: { sentAtMs: Date.now() } });
    }, this.options.heartbeatIntervalMs);
  }

  /** Sends its whole set of hop requests (again after each Hello, as a proxy does). */
  request(requests: HopRequest[]): void {
    this.#requests = requests;
    this.#stream?.write({ hops: { sentAtMs: Date.now(), requests } });
  }

  /** Sends the last set again (after a reconnect). */
  requestAgain(): void {
    this.request(this.#requests);
  }

  sendStats(stats: unknown): void {
    this.#stream?.write({ stats: { sentAtMs: Date.now(), statsJson: JSON.stringify(stats) } });
  }

  /** Applies updates as they come but holds its ACKs back until released. */
  holdAcks(): void {
    this.#holdAcks = true;
  }

  releaseAcks(): void {
    this.#holdAcks = false;
    for (const update of this.#heldBack.splice(0)) this.#apply(update);
  }

  /** The hops it holds, bodies read back. */
  hops(): HopBody[] {
    return [...this.held.values()]
      .filter((resource) => resource.type === 'MEDIA_KEY')
      .map((resource) => {
        const body = parseHopBody(JSON.parse(resource.bodyJson));
        if (typeof body === 'string')
          throw new Error(`a MEDIA_KEY it holds does not parse: ${body}`);
        return body;
      })
      .sort((a, b) => (a.hopId < b.hopId ? -1 : 1));
  }

  /** Every MEDIA_KEY it was sent (changed) or told to remove, in arrival order. */
  hopUpdates(): { at: number; changed: HopBody[]; removed: string[] }[] {
    return this.updates.flatMap(({ at, update }) => {
      const changed = update.resources
        .filter((resource) => resource.type === 'MEDIA_KEY')
        .map((resource) => parseHopBody(JSON.parse(resource.bodyJson)) as HopBody);
      const removed = update.removed
        .filter((ref) => ref.type === 'MEDIA_KEY')
        .map((ref) => ref.name);
      return changed.length + removed.length === 0 ? [] : [{ at, changed, removed }];
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

  #apply(update: ResourceUpdate): void {
    for (const resource of update.resources) {
      this.held.set(`${resource.type}/${resource.name}`, resource);
    }
    for (const ref of update.removed) this.held.delete(`${ref.type}/${ref.name}`);
    this.#systemVersion = update.systemVersion;
    this.#stream?.write({
      ack: {
        nonce: update.nonce,
        systemVersion: update.systemVersion,
        applied: update.resources.map(({ type, name, version }) => ({ type, name, version })),
      },
    });
    this.acks.push({ nonce: update.nonce, at: performance.now() });
  }
}
