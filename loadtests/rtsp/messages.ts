/** What the benchmark driver (run.ts) and its viewer pools (viewer-pool.ts) say over IPC. */

export type ViewerTransport = 'udp' | 'tcp';

export interface PoolConfig {
  readonly transport: ViewerTransport;
  /** GET_PARAMETER keepalive period (the servers' session timeouts are 60 s). */
  readonly keepaliveMs: number;
  /** Bound on one viewer's DESCRIBE + SETUP + PLAY. */
  readonly openTimeoutMs: number;
}

export type PoolRequest =
  /** Opens `count` more viewers of `url`, at most `concurrency` handshakes at a time. */
  | {
      readonly type: 'open';
      readonly url: string;
      readonly count: number;
      readonly concurrency: number;
      /** Stop opening after this many viewers failed to. */
      readonly maxFailures: number;
    }
  | { readonly type: 'snapshot' }
  /** TEARDOWN and close every viewer. */
  | { readonly type: 'close' }
  | { readonly type: 'exit' };

export interface PoolOpened {
  readonly type: 'open';
  readonly opened: number;
  readonly failed: number;
  /** The first few distinct reasons of failed viewers. */
  readonly errors: readonly string[];
  readonly ms: number;
  /** Durations of the successful handshakes (DESCRIBE + SETUP + PLAY), ms. */
  readonly handshakeMs: readonly number[];
}

/** One viewer's counters since it started playing (see sequence.ts). */
export interface ViewerCounters {
  readonly received: number;
  readonly expected: number;
  readonly bytes: number;
  /** Has it received a packet yet. */
  readonly started: boolean;
  /** Still playing: its connection is open. */
  readonly alive: boolean;
  /** Transit (arrival - RTP timestamp, ms) of its latest packet and its smallest (sequence.ts). */
  readonly lastTransitMs: number | null;
  readonly minTransitMs: number | null;
}

export interface PoolSnapshot {
  readonly type: 'snapshot';
  readonly viewers: readonly ViewerCounters[];
  /** RTCP packets received (sender reports). */
  readonly rtcp: number;
  /** Datagrams or frames that were not RTP version 2 of channel 0. */
  readonly foreign: number;
}

export interface PoolClosed {
  readonly type: 'close';
  readonly closed: number;
  readonly ms: number;
}

export interface Ready {
  readonly type: 'ready';
  readonly pid: number;
}

/** Pools end by themselves after this long, whatever happens to the driver. */
export const POOL_MAX_LIFETIME_MS = 30 * 60_000;
