/**
 * A signaling node as the control plane sees it, scripted (the rooms
 * counterpart of scripted-proxy.ts): a ScriptedNode (scripted-node.ts:
 * registration, stream over plaintext or mutual TLS with a certificate of
 * the mesh CA, heartbeats, Hello, ACKs) that registers with the listen
 * addresses a signaling node gives for the cascade (`signaling`,
 * `cascade`), returns its room PLACEMENTs and PIPEs in its Hello when it
 * reconnects, and sends RoomReports and PipeEndpoints when told. It has no
 * mediasoup: the tests that use it are about what the control plane decides
 * and to whom it sends it.
 */
import { randomBytes } from 'node:crypto';
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
import type {
  NodeMessageOut,
  PipeEndpoint,
  ResourceUpdate,
  Role,
  RoomReport,
  WireResource,
} from '../../../src/protocol/mesh/index.js';
import { getJson, getText } from '../../helpers/http.js';
import { waitFor } from '../../helpers/process.js';
import { ScriptedNode } from './scripted-node.js';

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
  readonly #node: ScriptedNode;

  constructor(options: ScriptedSignalingOptions) {
    this.options = options;
    this.#node = new ScriptedNode({
      id: options.id,
      grpc: options.grpc,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      role: options.role ?? 'ROLE_SIGNALING',
      capabilities: ['sfu'],
      listenAddresses: {
        signaling: options.listen,
        ...(options.cascade === undefined ? {} : { cascade: options.cascade }),
      },
      credentials: options.credentials,
      returnedInHello: NON_CONFIG,
      received: (update) => {
        this.updates.push(update);
        this.#node.apply(update);
      },
    });
  }

  /** What it holds, by `type/name`. */
  get held(): Map<string, WireResource> {
    return this.#node.held;
  }

  /** Registers and opens the stream with a Hello naming what it holds. */
  connect(): Promise<void> {
    return this.#node.connect();
  }

  /** Whether the control plane ended its stream. */
  get ended(): boolean {
    return this.#node.ended;
  }

  /** Sends its whole set of rooms. */
  reportRooms(rooms: RoomReport[]): void {
    this.#node.send({ rooms: { sentAtMs: Date.now(), rooms } });
  }

  /** Sends its whole set of pipe ends. */
  reportPipes(endpoints: PipeEndpoint[]): void {
    this.#node.send({ pipes: { sentAtMs: Date.now(), endpoints } });
  }

  /** Sends any node message (a hostile or broken node). */
  send(message: NodeMessageOut): void {
    this.#node.send(message);
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
    this.#node.close();
  }
}

/** A node's end of `pipeId` at `address`, with a fresh key (AEAD_AES_256_GCM, 44 bytes). */
export function keyedEndpoint(pipeId: string, address: string): PipeEndpoint {
  return {
    pipeId,
    address,
    srtpCryptoSuite: 'AEAD_AES_256_GCM',
    srtpKeyBase64: randomBytes(44).toString('base64'),
  };
}

/**
 * A scripted signaling node on 127.0.0.<last>, as a real one registers:
 * its `signaling` listener on port 8080, its `cascade` one on 8444.
 */
export function signalingAt(
  id: string,
  last: number,
  grpc: string,
  heartbeatIntervalMs: number,
): ScriptedSignaling {
  return new ScriptedSignaling({
    id,
    grpc,
    heartbeatIntervalMs,
    listen: `127.0.0.${last}:8080`,
    cascade: `127.0.0.${last}:8444`,
  });
}

/** What the rooms tests read from a control plane's admin at `adminUrl`. */
export function roomsAdmin(adminUrl: string): {
  roomPlacements(): Promise<RoomPlacementsView>;
  /** Resolves once the room placement's grace is over (10 s at most). */
  pastGrace(): Promise<void>;
  /** The count of a metric's series with `reason`, 0 when it has none. */
  metric(name: string, reason: string): Promise<number>;
} {
  const roomPlacements = async (): Promise<RoomPlacementsView> =>
    (await getJson<{ rooms: RoomPlacementsView }>(`${adminUrl}/placements`)).body.rooms;
  return {
    roomPlacements,
    pastGrace: async () => {
      await waitFor(
        async () => ((await roomPlacements()).restoring ? undefined : true),
        10_000,
        () => 'room placement past its grace',
      );
    },
    metric: async (name, reason) => {
      const { text } = await getText(`${adminUrl}/metrics`);
      const line = text
        .split('\n')
        .find((row) => row.startsWith(`${name}{`) && row.includes(`reason="${reason}"`));
      return line === undefined ? 0 : Number(line.split(' ')[1]);
    },
  };
}
