/**
 * What readers of the relay's routes (admin /streams and /keys, metrics, the
 * load and stats reports) need of it. The sharded relay (MediaWorkers) and a
 * single in-thread MediaRouteTable both provide it: snapshots are plain
 * data, so they are the same whether they crossed a thread or not.
 */
import type { MediaRouteTable } from '../relay/index.js';

/** One route as /streams shows it: plain data, the same on either side of a thread. */
export type MediaRouteSnapshot = ReturnType<MediaRouteTable['snapshot']>[number];
/** One SRTP leg's key as GET /keys shows it. */
export type MediaRouteKeys = ReturnType<MediaRouteTable['keys']>[number];

type MaybePromise<T> = T | Promise<T>;

/** Routes asked of the workers, and the workers that did not answer (their routes are missing). */
export interface RoutesReport {
  readonly routes: readonly MediaRouteSnapshot[];
  readonly missingWorkers: readonly number[];
}

/** Keys asked of the workers, and the workers that did not answer (their legs are missing). */
export interface KeysReport {
  readonly keys: readonly MediaRouteKeys[];
  readonly missingWorkers: readonly number[];
}

/** Every route as of now (fresh: workers are asked). */
export interface RouteSnapshotSource {
  snapshot(): MaybePromise<readonly MediaRouteSnapshot[]>;
  /** The sharded relay: the routes and which workers did not answer (a restart, a busy loop). */
  snapshotReport?(): Promise<RoutesReport>;
}

/** The SRTP keys of every leg. */
export interface RouteKeySource {
  keys(): MaybePromise<readonly MediaRouteKeys[]>;
  /** The sharded relay: the keys and which workers did not answer. */
  keysReport?(): Promise<KeysReport>;
}

/** For readers that cannot wait (the node's load and stats callbacks are synchronous). */
export interface LatestRouteSource {
  /** The routes as last fetched from the workers: at most about a second old. */
  latestRoutes(): readonly MediaRouteSnapshot[];
}

export type RelayView = RouteSnapshotSource & RouteKeySource & LatestRouteSource;
