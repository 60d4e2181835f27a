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

/** Given to the thread when it starts (workerData). */
export interface L7ThreadData {
  readonly role: string;
  readonly logLevel: LevelWithSilent;
  /** Whether the process's stdout is a terminal (readable log lines then). */
  readonly tty: boolean;
  /** The node's workload certificate at start (a restarted thread gets the latest). */
  readonly certificates: WorkloadCertificates | undefined;
}

export type L7Request =
  /** Prepare `http` (binds new listeners); the thread keeps the change under `id`. */
  | { readonly kind: 'prepare'; readonly id: number; readonly http: HttpConfig }
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
  | { readonly kind: 'close'; readonly id: number };

/** A refusal from the thread, rebuilt on the main thread as an error. */
export interface ThreadFailure {
  readonly code: string;
  readonly message: string;
  /** The resources refused, when the error named them (ResourceRefusal). */
  readonly resources?: readonly RefusedResource[];
}

export interface ListenerAddress {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

export type L7Value = null | number | MetricsJson | readonly ListenerAddress[];

export type L7Reply =
  | { readonly id: number; readonly ok: true; readonly value: L7Value }
  | { readonly id: number; readonly ok: false; readonly failure: ThreadFailure };
