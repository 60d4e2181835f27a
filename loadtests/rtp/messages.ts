/** What the benchmark's orchestrator and its child processes say over IPC. */
import type { LatencySummary } from './stats.js';

export interface StreamSpec {
  /** Source port (fixed, so relays that latch on a sender keep working). */
  readonly src: number;
  /** Where this stream is sent: the target's ingress port. */
  readonly dst: number;
  readonly ssrc: number;
  /**
   * The first sequence number; default random (a new sender). A generator
   * that replaces another passes the last one's `next`, so the stream goes
   * on as its one sender's would: a relay keeps per-SSRC state (an SRTP
   * sender's highest index), and a stream that jumped back under the same
   * SSRC would measure its slow path (libsrtp-transform.ts) instead.
   */
  readonly sequence?: number;
}

export interface GeneratorConfig {
  readonly size: number;
  readonly streams: readonly StreamSpec[];
}

export type GeneratorRequest =
  | { readonly type: 'run'; readonly ratePps: number; readonly durationMs: number }
  | { readonly type: 'exit' };

export interface GeneratorRun {
  readonly type: 'run';
  readonly sent: number;
  readonly sendErrors: number;
  readonly durationMs: number;
  readonly achievedPps: number;
  /** Each stream's next sequence number, in the order of GeneratorConfig.streams. */
  readonly next: readonly number[];
}

export interface ReceiverConfig {
  readonly ports: readonly number[];
}

export type ReceiverRequest =
  { readonly type: 'reset' } | { readonly type: 'collect' } | { readonly type: 'exit' };

export interface ReceiverCollect {
  readonly type: 'collect';
  /** Our packets (with a send time) per port. */
  readonly received: readonly number[];
  /** Datagrams that were not ours (RTCP from a relay, stray packets). */
  readonly foreign: number;
  readonly bytes: number;
  readonly latency: LatencySummary;
  /**
   * Per port, from the RTP sequence numbers (the C sink only): packets older
   * than the highest seen, repeats, and gaps in the numbering.
   */
  readonly reordered?: readonly number[];
  readonly duplicates?: readonly number[];
  readonly seqLost?: readonly number[];
}

export interface Ready {
  readonly type: 'ready';
  readonly pid: number;
}

/** Children end by themselves after this long, whatever happens to the orchestrator. */
export const CHILD_MAX_LIFETIME_MS = 30 * 60_000;
