/**
 * A signaling node as the control plane sees it, scripted (the rooms
 * counterpart of scripted-proxy.ts): it registers with the listen addresses
 * a signaling node gives for the cascade (`signaling`, `cascade`), holds a
 * resource stream over real gRPC (plaintext, or mutual TLS with a
 * certificate of the mesh CA), heartbeats, applies and ACKs updates, keeps
 * what it holds, returns its room PLACEMENTs and PIPEs in its Hello when it
 * reconnects, and sends RoomReports and PipeEndpoints when told. It has no
 * mediasoup: the tests that use it are about what the control plane decides
 * and to whom it sends it.
 */
import type * as grpc from '@grpc/grpc-js';
import type { RoomPlacementsView } from '../../../src/control-plane/rooms/index.js';
import {
  parsePipeBody,
  parsePlacementBody,
  parseSignalingNodeBody,
  type PipeBody,
  type PlacementBody,
  type SignalingNodeBody,
} from '../../../src/config/index.js';
import {
  createMeshControlClient,
  type MeshControlClient,
  type NodeMessageOut,
  type PipeEndpoint,
  type ResourceUpdate,
  type Role,
  type RoomReport,
  type WireResource,
} from '../../../src/protocol/mesh/index.js';
import { getJson, getText } from '../../helpers/http.js';

export interface ScriptedSignalingOptions {
  readonly id: string;
  /** The control plane's gRPC address (host:port). */
  readonly grpc: string;
  readonly heartbeatIntervalMs: number;
  /** Its `signaling` listen address (host:port). */
  readonly listen: string;
  /** Its `cascade` listen address; none: it registers no cascade address. */
  readonly cascade?: string;
  /** Default ROLE_SIGNALING; ROLE_PROXY plays a proxy that sends what only signaling nodes may. */
  readonly role?: Role;
  /** Mutual TLS; default plaintext. */
  readonly credentials?: grpc.ChannelCredentials;
}

/** Held resources returned in a Hello's `placements`. */
const NON_CONFIG = new Set(['PLACEMENT', 'PIPE', 'SIGNALING_NODE', 'MEDIA_KEY']);

export class ScriptedSignaling {
  readonly options: ScriptedSignalingOptions;
  readonly updates: ResourceUpdate[] = [];
  /** What it holds, by `type/name`. */
  readonly held = new Map<string, WireResource>();
  #systemVersion = '';
  #client: MeshControlClient | undefined;
  #stream: grpc.ClientDuplexStream<NodeMessageOut, ResourceUpdate> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #ended = false;

  constructor(options: ScriptedSignalingOptions) {
    this.options = options;
  }

  /** Registers and opens the stream with a Hello naming what it holds. */
  async connect(): Promise<void> {
    const client = createMeshControlClient(this.options.grpc, this.options.credentials);
    this.#client = client;
    await new Promise<void>((resolve, reject) => {
      client.register(
        {
          identity: {
            id: this.options.id,
            node: 'scripted',
            role: this.options.role ?? 'ROLE_SIGNALING',
          },
          capabilities: ['sfu'],
          listenAddresses: {
            signaling: this.options.listen,
            ...(this.options.cascade === undefined ? {} : { cascade: this.options.cascade }),
          },
          currentVersion: this.#systemVersion,
        },
        { deadline: Date.now() + 5_000 },
        (error) => (error === null ? resolve() : reject(error)),
      );
    });
    const stream = client.streamResources();
    this.#stream = stream;
    this.#ended = false;
    stream.on('error', () => {
      this.#ended = true;
    });
    stream.on('end', () => {
      this.#ended = true;
    });
    stream.on('data', (update: ResourceUpdate) => {
      this.updates.push(update);
      this.#apply(update);
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

  /** Whether the control plane ended its stream. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Sends its whole set of rooms. */
  reportRooms(rooms: RoomReport[]): void {
    this.#stream?.write({ rooms: { sentAtMs: Date.now(), rooms } });
  }

  /** Sends its whole set of pipe ends. */
  reportPipes(endpoints: PipeEndpoint[]): void {
    this.#stream?.write({ pipes: { sentAtMs: Date.now(), endpoints } });
  }

  /** Sends any node message (a hostile or broken node). */
  send(message: NodeMessageOut): void {
    this.#stream?.write(message);
  }

  /** The PIPEs it holds, bodies read back, by pipe id. */
  pipes(): Map<string, PipeBody> {
    const pipes = new Map<string, PipeBody>();
    for (const resource of this.held.values()) {
      if (resource.type !== 'PIPE') continue;
      const body = parsePipeBody(resource.name, JSON.parse(resource.bodyJson));
      if (typeof body === 'string') throw new Error(`a PIPE it holds does not parse: ${body}`);
      pipes.set(body.pipeId, body);
    }
    return pipes;
  }

  /** Every resource of `type` it was ever sent (names). */
  everSent(type: string): string[] {
    return this.updates.flatMap((update) =>
      update.resources.filter((resource) => resource.type === type).map(({ name }) => name),
    );
  }

  /** The PLACEMENT of `key` it holds, read back, or undefined. */
  placementOf(key: string): PlacementBody | undefined {
    const resource = this.held.get(`PLACEMENT/${key}`);
    if (resource === undefined) return undefined;
    const body = parsePlacementBody(JSON.parse(resource.bodyJson));
    if (typeof body === 'string') throw new Error(`a PLACEMENT it holds does not parse: ${body}`);
    return body;
  }

  /** The SIGNALING_NODE of `id` it holds, read back, or undefined. */
  signalingNodeOf(id: string): SignalingNodeBody | undefined {
    const resource = this.held.get(`SIGNALING_NODE/${id}`);
    if (resource === undefined) return undefined;
    const body = parseSignalingNodeBody(id, JSON.parse(resource.bodyJson));
    if (typeof body === 'string')
      throw new Error(`a SIGNALING_NODE it holds does not parse: ${body}`);
    return body;
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
  }
}

/** What the rooms tests read from a control plane's admin at `adminUrl`. */
export function roomsAdmin(adminUrl: string): {
  roomPlacements(): Promise<RoomPlacementsView>;
  /** The count of a metric's series with `reason`, 0 when it has none. */
  metric(name: string, reason: string): Promise<number>;
} {
  return {
    roomPlacements: async () =>
      (await getJson<{ rooms: RoomPlacementsView }>(`${adminUrl}/placements`)).body.rooms,
    metric: async (name, reason) => {
      const { text } = await getText(`${adminUrl}/metrics`);
      const line = text
        .split('\n')
        .find((row) => row.startsWith(`${name}{`) && row.includes(`reason="${reason}"`));
      return line === undefined ? 0 : Number(line.split(' ')[1]);
    },
  };
}
