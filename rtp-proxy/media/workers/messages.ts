/**
 * What the proxy's main thread and a media worker say to each other. Every
 * request carries an id; the worker answers each with a reply of that id.
 * Only plain data crosses (structured clone): the worker's share of a
 * config, route snapshots and keys, and refusals as code, message and the
 * resources they name (so a MEDIA_ROUTE refusal still NACKs its route).
 */
import type { MessagePort } from 'node:worker_threads';
import type { MeshConfig, RefusedResource } from '../../../src/config/index.js';
import type { LevelWithSilent } from '../../../src/shared/log.js';
import type { ThreadFailure } from '../../../src/shared/threads/index.js';
import type { MediaRouteKeys, MediaRouteSnapshot } from './relay-view.js';

/** Given to a worker when it starts (workerData). */
export interface MediaWorkerData {
  /** Its index among the relay's workers; null for a spare, which is given one later ('adopt'). */
  readonly index: number | null;
  readonly workers: number;
  readonly logLevel: LevelWithSilent;
  /** Whether the process's stdout is a terminal (readable log lines then). */
  readonly tty: boolean;
  /** proxy.udpIo of the startup config: how this worker's sockets move datagrams. */
  readonly udpIo: MeshConfig['proxy']['udpIo'];
  /** proxy.srtpEngine of the startup config. */
  readonly srtpEngine: MeshConfig['proxy']['srtpEngine'];
  /**
   * The worker's end of its channel for RTSP viewer tracks (packets one way,
   * RTCP and counts the other: rtp-proxy/media/rtsp/viewer-messages.ts).
   */
  readonly viewers: MessagePort;
}

export type MediaWorkerRequest =
  /** A spare becomes worker `index` (it then takes that worker's share). */
  | { readonly kind: 'adopt'; readonly id: number; readonly index: number }
  /**
   * Prepare the worker's share of a candidate; the change is kept under `id`.
   * `wholePorts`: proxy.rtpPorts as configured (the share holds the worker's
   * slice). `generatedKeys`: keys this worker's predecessor generated, for
   * a restart to rebuild the same legs with the same keys.
   */
  | {
      readonly kind: 'prepare';
      readonly id: number;
      readonly config: MeshConfig;
      readonly wholePorts?: { readonly start: number; readonly end: number };
      readonly generatedKeys?: Readonly<Record<string, string>>;
    }
  /** Answered with the generated keys of every leg in force after the commit (MediaRouteKeys[]). */
  | { readonly kind: 'commit'; readonly id: number; readonly change: number }
  | { readonly kind: 'abort'; readonly id: number; readonly change: number }
  /** Every route's snapshot and the worker's packet totals. */
  | { readonly kind: 'snapshot'; readonly id: number }
  /** The SRTP keys of every leg (GET /keys). */
  | { readonly kind: 'keys'; readonly id: number }
  /** The worker's event loop is alive: answered at once. */
  | { readonly kind: 'ping'; readonly id: number }
  /** Close every route; the worker then ends. */
  | { readonly kind: 'close'; readonly id: number }
  /**
   * Test hooks (MediaWorkers.testHooks): 'crash' throws an uncaught
   * exception on the worker's next turn (what a bug would do); 'hang' blocks
   * its event loop for `ms` (what a runaway loop would do).
   */
  | { readonly kind: 'crash'; readonly id: number }
  | { readonly kind: 'hang'; readonly id: number; readonly ms: number };

/** Counters of the worker as a whole: its routes' plus those of routes it has closed. */
export interface WorkerTotals {
  readonly packetsIn: number;
  readonly packetsOut: number;
}

export interface WorkerSnapshot {
  readonly worker: number;
  readonly routes: readonly MediaRouteSnapshot[];
  readonly totals: WorkerTotals;
  /** RTSP UDP viewer tracks whose pair is open on the worker (as the worker counts them). */
  readonly rtspViewerTracks: number;
}

/** A refusal from the worker, rebuilt on the main thread as an error. */
export type WorkerFailure = ThreadFailure<RefusedResource>;

export type MediaWorkerValue =
  null | number | Omit<WorkerSnapshot, 'worker'> | readonly MediaRouteKeys[];
