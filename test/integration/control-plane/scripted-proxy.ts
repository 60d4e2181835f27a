/**
 * A proxy as the control plane sees it, scripted: a ScriptedNode
 * (scripted-node.ts: registration, stream, heartbeats, Hello, ACKs) that
 * registers with a `hop` listen address, sends hop requests, stats and
 * DrainRequests, and holds its ACKs back when told. It records every update with the time it
 * arrived, so a test can state the order in which nodes saw things. It has
 * no media plane: the tests that use it are about what the control plane
 * decides and sends.
 */
import { performance } from 'node:perf_hooks';
import { parseHopBody, type HopBody } from '../../../src/config/index.js';
import type { HopRequest, ResourceUpdate, WireResource } from '../../../src/protocol/mesh/index.js';
import { ScriptedNode } from './scripted-node.js';

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

/** Held resources returned in a Hello's `placements`. */
const NON_CONFIG = new Set(['PLACEMENT', 'MEDIA_KEY']);

export class ScriptedProxy {
  readonly options: ScriptedProxyOptions;
  readonly updates: ReceivedUpdate[] = [];
  /** Per ACK sent: its nonce and when (performance.now()). */
  readonly acks: { readonly nonce: string; readonly at: number }[] = [];
  readonly #node: ScriptedNode;
  #holdAcks = false;
  readonly #heldBack: ResourceUpdate[] = [];
  #requests: HopRequest[] = [];

  constructor(options: ScriptedProxyOptions) {
    this.options = options;
    this.#node = new ScriptedNode({
      id: options.id,
      grpc: options.grpc,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      role: 'ROLE_PROXY',
      capabilities: ['rtp'],
      listenAddresses: { hop: options.hopAddress },
      returnedInHello: NON_CONFIG,
      received: (update) => {
        this.updates.push({ at: performance.now(), update });
        if (this.#holdAcks) this.#heldBack.push(update);
        else this.#apply(update);
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

  /** Sends its whole set of hop requests (again after each Hello, as a proxy does). */
  request(requests: HopRequest[]): void {
    this.#requests = requests;
    this.#node.send({ hops: { sentAtMs: Date.now(), requests } });
  }

  /** Sends the last set again (after a reconnect). */
  requestAgain(): void {
    this.request(this.#requests);
  }

  /** Asks to be drained until `deadlineMs` (Unix ms), as a proxy does on SIGTERM. */
  drain(deadlineMs: number): void {
    this.#node.send({ drain: { deadlineMs } });
  }

  sendStats(stats: unknown): void {
    this.#node.send({ stats: { sentAtMs: Date.now(), statsJson: JSON.stringify(stats) } });
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
    this.#node.close();
  }

  #apply(update: ResourceUpdate): void {
    this.#node.apply(update);
    this.acks.push({ nonce: update.nonce, at: performance.now() });
  }
}
