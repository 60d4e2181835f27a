/**
 * One per-packet step of a chain (Pion's interceptors, reduced to what a
 * synchronous UDP loop needs). `process` looks at the packet and either
 * passes it on (returns `PASS`, i.e. undefined), rewrites it in place and
 * passes it on, or drops it by returning the reason. The chain counts the
 * reason; an interceptor never counts drops itself and never throws.
 *
 * Reasons are plain strings (snake_case, stable: they are metric labels), so
 * an interceptor written outside this folder brings its own.
 */
import type { MediaPacket } from './media-packet.js';

/** Why a packet was dropped; a metric label, so from a small fixed set per interceptor. */
export type DropReason = string;

/** What `process` returns to let a packet through. */
export const PASS = undefined;

export interface Interceptor {
  /** Unique within a chain: where others are inserted relative to it. */
  readonly name: string;
  process(packet: MediaPacket): DropReason | undefined;
}
