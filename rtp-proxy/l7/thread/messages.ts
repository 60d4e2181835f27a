/**
 * What the proxy's main thread and its L7 thread say to each other. Every
 * request carries an id; the thread answers each with a reply of that id,
 * in order. Only plain data crosses (structured clone): configs, metric
 * values, the node's workload certificates, and refusals as code, message
 * and resource refs.
 */
import type { HttpConfig, RefusedResource } from '../../../src/config/index.js';
import type { LevelWithSilent } from '../../../src/shared/log.js';
import type { WorkloadCertificates } from '../../../src/shared/identity/index.js';
import type { MetricsJson } from '../../../src/shared/metrics.js';
import type { ThreadFailure as SharedThreadFailure } from '../../../src/shared/threads/index.js';
import type { PortSharing } from '../l7-service.js';
import type { SharedClusterState } from './cluster-state-channel.js';

/** Given to the thread when it starts (workerData). */
export interface L7ThreadData {
  readonly role: string;
  readonly logLevel: LevelWithSilent;
  /** Whether the process's stdout is a terminal (readable log lines then). */
  readonly tty: boolean;
  /** The node's workload certificate at start (a restarted thread gets the latest). */
  readonly certificates: WorkloadCertificates | undefined;
  /** Which of the L7 threads this is (0..workers-1), for its logs and the endpoints it probes. */
  readonly worker: number;
  /** How many L7 threads the proxy has (which endpoints each probes: health-owner.ts). */
  readonly workers: number;
  /**
   * How this proxy's L7 threads share their clusters' state
   * (cluster-state-channel.ts); absent with one thread.
   */
  readonly clusterState?: SharedClusterState | undefined;
}

export type L7Request =
  /**
   * Prepare `http` (binds new listeners); the thread keeps the change under
   * `id`. With `sharing`, its listeners share their ports with the other L7
   * threads' (HttpService.prepareShared).
   */
  | {
      readonly kind: 'prepare';
      readonly id: number;
      readonly http: HttpConfig;
      readonly sharing?: PortSharing | undefined;
    }
  /** Put in force the change prepared under `change`. */
  | { readonly kind: 'commit'; readonly id: number; readonly change: number }
  /** Release the change prepared under `change`; the config in force stays. */
  | { readonly kind: 'abort'; readonly id: number; readonly change: number }
  | { readonly kind: 'metrics'; readonly id: number }
  /** A renewed workload certificate: new TLS handshakes use it, open connections keep theirs. */
  | {
      readonly kind: 'certificates';
      readonly id: number;
      readonly certificates: WorkloadCertificates;
    }
  /** The thread's event loop is alive: answered at once. */
  | { readonly kind: 'ping'; readonly id: number }
  /** The bound address of every listener in force. */
  | { readonly kind: 'listeners'; readonly id: number }
  /** Close every listener and cluster; the thread then ends. */
  | { readonly kind: 'close'; readonly id: number }
  /**
   * Throw an uncaught exception on the thread's next turn, as a bug would:
   * tests of the supervision use it (no network input can send it).
   */
  | { readonly kind: 'crash'; readonly id: number };

/** A refusal from the thread, rebuilt on the main thread as an error. */
export type ThreadFailure = SharedThreadFailure<RefusedResource>;

export interface ListenerAddress {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/** The answer to a prepare. */
export interface PreparedReply {
  /** The id the change is kept under, for its commit or abort. */
  readonly change: number;
  /** The bound port of each listener of port 0 in the prepared config, by name. */
  readonly ports: Readonly<Record<string, number>>;
}

export type L7Value = null | PreparedReply | MetricsJson | readonly ListenerAddress[];
