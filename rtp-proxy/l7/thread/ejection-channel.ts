/**
 * The outlier ejections the L7 threads of one proxy share (EjectionShare,
 * cluster.ts): a BroadcastChannel whose name the IsolatedHttpService picks
 * for its own threads, so two proxies in one process (tests run several)
 * never hear each other. A message is one ejection a thread's cluster
 * decided; every other thread's cluster of that name adopts it. It goes
 * thread to thread, not through the main thread, which has media to relay.
 *
 * Only these threads post on the channel; a message of another shape is
 * still checked for and dropped (a version skew would be a bug, not input).
 */
import { BroadcastChannel } from 'node:worker_threads';
import type { EjectionShare } from '../cluster/cluster.js';
import type { Ejection } from '../cluster/outlier.js';

interface EjectionMessage {
  readonly cluster: string;
  readonly endpoint: string;
  readonly until: number;
  readonly ejections: number;
}

function isEjectionMessage(data: unknown): data is EjectionMessage {
  if (data === null || typeof data !== 'object') return false;
  const message = data as Record<string, unknown>;
  return (
    typeof message['cluster'] === 'string' &&
    typeof message['endpoint'] === 'string' &&
    Number.isFinite(message['until']) &&
    Number.isInteger(message['ejections'])
  );
}

export type PeerEjection = (cluster: string, endpointId: string, ejection: Ejection) => void;

export class EjectionChannel implements EjectionShare {
  readonly #channel: BroadcastChannel;

  constructor(name: string, onPeerEjection: PeerEjection) {
    this.#channel = new BroadcastChannel(name);
    // The channel must not keep a thread alive that has closed everything else.
    this.#channel.unref();
    this.#channel.onmessage = (event) => {
      const data: unknown = event.data;
      if (!isEjectionMessage(data)) return;
      onPeerEjection(data.cluster, data.endpoint, {
        until: data.until,
        ejections: data.ejections,
      });
    };
  }

  publish(cluster: string, endpointId: string, ejection: Ejection): void {
    const message: EjectionMessage = { cluster, endpoint: endpointId, ...ejection };
    this.#channel.postMessage(message);
  }

  close(): void {
    this.#channel.close();
  }
}
