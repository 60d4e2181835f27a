/**
 * What one room on this node knows of its members on other signaling nodes
 * (issue 18): their peers and producers, each owned by the node that reported
 * it. The cascade feeds it from the link's messages (a `sync` replaces a
 * node's whole share, the other messages change one entry), and every call
 * answers the changes as the protocol's events, so the room tells its local
 * members of a remote peer or producer exactly as of a local one.
 *
 * A node changes only what it reported: a peer or producer id already held
 * for another node is left alone (a clash, or a stale message), so one node
 * cannot close or rename another's. The other nodes are authenticated but
 * still input: past the roster's bounds (`limits`) a new peer or producer
 * is left out (and counted in `refused`), so no node can grow a room here
 * without end. Pure: no I/O, no mediasoup object.
 */
import type { types } from 'mediasoup';

/** A member of the room on another node. */
export interface RemotePeer {
  readonly peer: string;
  readonly displayName: string | null;
  readonly node: string;
}

/** A producer of another node, as clients see it (ProducerInfo), with its node. */
export interface RemoteProducer {
  readonly node: string;
  readonly peer: string;
  readonly producerId: string;
  readonly kind: types.MediaKind;
  readonly paused: boolean;
  readonly appData: types.AppData;
}

/** One change to tell the room's local members, as the protocol's event. */
export type RosterChange =
  | { readonly event: 'peerJoined'; readonly peer: RemotePeer }
  | { readonly event: 'peerLeft'; readonly peer: RemotePeer }
  | { readonly event: 'newProducer'; readonly producer: RemoteProducer }
  | {
      readonly event: 'producerPaused' | 'producerResumed' | 'producerClosed';
      readonly producer: RemoteProducer;
    };

export type RemoteProducerInput = Omit<RemoteProducer, 'node'>;

/** Bounds of what other nodes may hold in one room here (read at each addition). */
export interface RosterLimits {
  readonly maxPeers: () => number;
  readonly maxProducers: () => number;
}

export class RemoteRoster {
  readonly #peers = new Map<string, RemotePeer>();
  readonly #producers = new Map<string, RemoteProducer>();
  readonly #limits: RosterLimits | undefined;
  /** Peers and producers left out for the bounds. */
  refused = 0;

  constructor(limits?: RosterLimits) {
    this.#limits = limits;
  }

  get peers(): ReadonlyMap<string, RemotePeer> {
    return this.#peers;
  }

  get producers(): ReadonlyMap<string, RemoteProducer> {
    return this.#producers;
  }

  joinPeer(node: string, peer: string, displayName: string | null): RosterChange[] {
    const held = this.#peers.get(peer);
    if (held !== undefined) {
      if (held.node === node && held.displayName !== displayName) {
        this.#peers.set(peer, { ...held, displayName });
      }
      return [];
    }
    if (this.#limits !== undefined && this.#peers.size >= this.#limits.maxPeers()) {
      this.refused += 1;
      return [];
    }
    const entry: RemotePeer = { peer, displayName, node };
    this.#peers.set(peer, entry);
    return [{ event: 'peerJoined', peer: entry }];
  }

  /** The peer leaves; producers of its node it still had close first. */
  leavePeer(node: string, peer: string): RosterChange[] {
    const held = this.#peers.get(peer);
    if (held?.node !== node) return [];
    const changes: RosterChange[] = [];
    for (const producer of [...this.#producers.values()]) {
      if (producer.node === node && producer.peer === peer) {
        changes.push(...this.closeProducer(node, producer.producerId));
      }
    }
    this.#peers.delete(peer);
    changes.push({ event: 'peerLeft', peer: held });
    return changes;
  }

  addProducer(node: string, input: RemoteProducerInput): RosterChange[] {
    const held = this.#producers.get(input.producerId);
    if (held !== undefined) {
      return held.node === node ? this.setPaused(node, input.producerId, input.paused) : [];
    }
    if (this.#limits !== undefined && this.#producers.size >= this.#limits.maxProducers()) {
      this.refused += 1;
      return [];
    }
    const entry: RemoteProducer = { ...input, node };
    this.#producers.set(entry.producerId, entry);
    return [{ event: 'newProducer', producer: entry }];
  }

  setPaused(node: string, producerId: string, paused: boolean): RosterChange[] {
    const held = this.#producers.get(producerId);
    if (held?.node !== node || held.paused === paused) return [];
    const entry = { ...held, paused };
    this.#producers.set(producerId, entry);
    return [{ event: paused ? 'producerPaused' : 'producerResumed', producer: entry }];
  }

  closeProducer(node: string, producerId: string): RosterChange[] {
    const held = this.#producers.get(producerId);
    if (held?.node !== node) return [];
    this.#producers.delete(producerId);
    return [{ event: 'producerClosed', producer: held }];
  }

  /**
   * `node`'s whole share is now `peers` and `producers`: what it no longer
   * has closes and leaves, what is new joins and is added, a changed pause
   * state is told. Ids held for another node are skipped.
   */
  sync(
    node: string,
    peers: readonly { readonly peer: string; readonly displayName: string | null }[],
    producers: readonly RemoteProducerInput[],
  ): RosterChange[] {
    const changes: RosterChange[] = [];
    const keptProducers = new Set(producers.map((producer) => producer.producerId));
    for (const held of [...this.#producers.values()]) {
      if (held.node === node && !keptProducers.has(held.producerId)) {
        changes.push(...this.closeProducer(node, held.producerId));
      }
    }
    const keptPeers = new Set(peers.map((entry) => entry.peer));
    for (const held of [...this.#peers.values()]) {
      if (held.node === node && !keptPeers.has(held.peer)) {
        changes.push(...this.leavePeer(node, held.peer));
      }
    }
    for (const entry of peers) changes.push(...this.joinPeer(node, entry.peer, entry.displayName));
    for (const producer of producers) changes.push(...this.addProducer(node, producer));
    return changes;
  }

  /** `node` is gone (its link went down, the pipe went): its producers close, its peers leave. */
  drop(node: string): RosterChange[] {
    return this.sync(node, [], []);
  }
}
