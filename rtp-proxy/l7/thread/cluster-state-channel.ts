/**
 * The cluster state the L7 threads of one proxy share (ClusterStateShare,
 * cluster.ts): a BroadcastChannel whose name the IsolatedHttpService picks
 * for its own threads, so two proxies in one process (tests run several)
 * never hear each other. It goes thread to thread, not through the main
 * thread, which has media to relay. What it carries and how each message is
 * checked: cluster-state-messages.ts.
 *
 * Outlier ejections: a thread's cluster ejects, every other thread's cluster
 * of that name adopts the ejection. A cluster that starts asks (sync, as
 * below) and is sent the ejections in force too.
 *
 * Active health: each endpoint is probed by its owner thread only
 * (health-owner.ts); the owner posts each transition and the others adopt
 * it. A cluster that starts asks (sync) and every other thread answers at
 * once with what its cluster knows, its own endpoints' transitions and
 * those it adopted; the newest stamp of each endpoint wins. Asking on start
 * rather than having owners repeat their state periodically: a restarted
 * thread learns at once instead of up to a period later, and a quiet
 * proxy's threads post nothing at all. An owner that restarts learns its
 * own endpoints' last state the same way and goes on probing from it.
 *
 * While an owner thread is down (crashed, restarting) nobody probes its
 * endpoints: the other threads keep the state it last posted until it is
 * back and its probes decide otherwise. Nothing takes its endpoints over
 * meanwhile: a restart takes a second or so, and a probe of each endpoint
 * from a thread chosen for the gap would be a second owner to reconcile.
 */
import { randomUUID } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import type { ClusterStateShare } from '../cluster/cluster.js';
import type { HealthState } from '../cluster/health-check.js';
import { ownsEndpoint, type ThreadPlace } from '../cluster/health-owner.js';
import type { Ejection } from '../cluster/outlier.js';
import {
  parseClusterStateMessage,
  type ClusterStateMessage,
  type HealthMessage,
} from './cluster-state-messages.js';

/** What a proxy's L7 threads are given to share their clusters' state. */
export interface SharedClusterState {
  /** The BroadcastChannel's name. */
  readonly channel: string;
  /**
   * One 64-bit counter (a BigInt64Array's only element) that every thread
   * stamps its health transitions from: stamps order transitions across
   * threads whatever the wall clock does (a step back cannot make a later
   * transition look older), and a restarted thread gets the same counter.
   */
  readonly stamps: SharedArrayBuffer;
}

export function newSharedClusterState(): SharedClusterState {
  return {
    channel: `streammesh-l7-cluster-state-${randomUUID()}`,
    stamps: new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT),
  };
}

/** What this thread does with what the others post. */
export interface ClusterStatePeer {
  adoptEjection(cluster: string, endpointId: string, ejection: Ejection): void;
  adoptHealth(cluster: string, settings: string, states: readonly HealthState[]): void;
  /** What this thread's cluster knows, to answer another thread's sync. */
  decidedHealth(cluster: string, settings: string): readonly HealthState[];
  /** The ejections in force in this thread's cluster, to answer another thread's sync. */
  currentEjections(
    cluster: string,
  ): readonly { readonly endpointId: string; readonly ejection: Ejection }[];
}

export class ClusterStateChannel implements ClusterStateShare {
  readonly #channel: BroadcastChannel;
  readonly #place: ThreadPlace;
  readonly #stamps: BigInt64Array;

  constructor(shared: SharedClusterState, place: ThreadPlace, peer: ClusterStatePeer) {
    this.#place = place;
    this.#stamps = new BigInt64Array(shared.stamps);
    this.#channel = new BroadcastChannel(shared.channel);
    // The channel must not keep a thread alive that has closed everything else.
    this.#channel.unref();
    this.#channel.onmessage = (event) => {
      const message = parseClusterStateMessage(event.data);
      if (message === undefined) return;
      switch (message.kind) {
        case 'ejection':
          peer.adoptEjection(message.cluster, message.endpoint, {
            until: message.until,
            ejections: message.ejections,
          });
          return;
        case 'health':
          peer.adoptHealth(message.cluster, message.settings, message.states);
          return;
        case 'sync': {
          const states = peer.decidedHealth(message.cluster, message.settings);
          if (states.length > 0) this.publishHealth(message.cluster, message.settings, states);
          for (const { endpointId, ejection } of peer.currentEjections(message.cluster)) {
            this.publishEjection(message.cluster, endpointId, ejection);
          }
          return;
        }
      }
    };
  }

  owns(cluster: string, endpointId: string): boolean {
    return ownsEndpoint(this.#place, cluster, endpointId);
  }

  /** The next stamp of the proxy's counter: later than every stamp any thread took before. */
  stamp(): number {
    return Number(Atomics.add(this.#stamps, 0, 1n) + 1n);
  }

  publishEjection(cluster: string, endpointId: string, ejection: Ejection): void {
    this.#post({ kind: 'ejection', cluster, endpoint: endpointId, ...ejection });
  }

  publishHealth(cluster: string, settings: string, states: readonly HealthState[]): void {
    const message: HealthMessage = { kind: 'health', cluster, settings, states };
    this.#post(message);
  }

  requestSync(cluster: string, settings: string): void {
    this.#post({ kind: 'sync', cluster, settings });
  }

  close(): void {
    this.#channel.close();
  }

  #post(message: ClusterStateMessage): void {
    this.#channel.postMessage(message);
  }
}
