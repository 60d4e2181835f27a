/**
 * The key epochs one end of a hop holds: the current one, the previous one
 * while the overlap lasts, and (at a receiver) up to two next ones, installed
 * by the control plane before the sender switches to them (two, so that a
 * key delivered early, before the sender used the one before it, loses
 * nothing; a third pushes the oldest waiting one out).
 *
 * How a receiver tells the epochs apart: every packet carries its epoch as
 * the SRTP MKI (RFC 3711 §3.1, 4 bytes). The other way, trying the current
 * key and then the previous one and letting GCM's tag decide, would cost a
 * second AES-GCM pass for every old-epoch packet during the overlap and for
 * every forged packet always, could not tell a stale key from garbage, and
 * would run a packet of one epoch through the replay window of the other.
 * With the MKI a packet meets at most one key and costs at most one pass;
 * the price is 4 bytes per packet.
 *
 * The overlap: once the first packet of a new epoch has authenticated, the
 * previous epoch stays usable until `overlapGraceMs` after whichever comes
 * later, that packet or the last packet that authenticated under the previous
 * epoch, but never longer than `maxOverlapMs` after the switch. So old-epoch
 * packets reordered behind new ones, and an SSRC the sender switches late
 * (hop-sender.ts, near a sequence wrap), are still accepted; a sender stuck
 * on the old key is not, for long. After that its packets are `unknown_key`.
 */
import {
  createSrtpSession,
  epochMki,
  hopKeyingMaterial,
  withOwnedPackets,
  type HopKey,
  type SrtpContext,
} from '../../protocol/srtp/index.js';
import { HopKeyRejectedError, HopOptionsError } from './errors.js';
import type { HopEpochsSnapshot, HopPacketKind } from './hop-types.js';

export const defaultOverlapGraceMs = 2000;
export const defaultMaxOverlapMs = 30_000;
export const maxWaitingEpochs = 2;

export interface HopEpoch {
  readonly epoch: number;
  readonly key: HopKey;
  readonly session: SrtpContext;
}

export interface HopEpochsOptions {
  readonly overlapGraceMs?: number;
  readonly maxOverlapMs?: number;
  readonly replayWindow?: number;
}

export class HopEpochs {
  readonly hopId: string;
  readonly #graceMs: number;
  readonly #maxOverlapMs: number;
  readonly #replayWindow: number | undefined;
  #current: HopEpoch | undefined;
  #previous: HopEpoch | undefined;
  /** Installed, not yet seen on the wire; oldest first, at most maxWaitingEpochs. */
  #next: HopEpoch[] = [];
  /** When the current epoch took over, and until when the previous one is accepted. */
  #switchedAtMs = 0;
  #previousUntilMs = 0;

  constructor(hopId: string, options: HopEpochsOptions = {}) {
    this.hopId = hopId;
    this.#graceMs = nonNegative('overlapGraceMs', options.overlapGraceMs, defaultOverlapGraceMs);
    this.#maxOverlapMs = nonNegative('maxOverlapMs', options.maxOverlapMs, defaultMaxOverlapMs);
    this.#replayWindow = options.replayWindow;
  }

  get current(): HopEpoch | undefined {
    return this.#current;
  }

  /**
   * Holds a key: the first one becomes current, a newer one waits as next
   * (replacing a waiting one). Installing the key already held is a no-op.
   * Throws SrtpKeyError for a malformed key and HopKeyRejectedError for one
   * of another hop, of an older epoch, or a different key for a held epoch.
   */
  install(key: HopKey): HopEpoch {
    const material = hopKeyingMaterial(key);
    if (key.hopId !== this.hopId) {
      throw new HopKeyRejectedError(`key for hop ${key.hopId} given to hop ${this.hopId}`);
    }
    const held = this.#find(key.epoch);
    if (held !== undefined) {
      if (held.key.key !== key.key || held.key.profile !== key.profile) {
        throw new HopKeyRejectedError(
          `hop ${this.hopId} already holds another key for epoch ${key.epoch}`,
        );
      }
      return held;
    }
    const current = this.#current;
    if (current !== undefined && key.epoch <= current.epoch) {
      throw new HopKeyRejectedError(
        `hop ${this.hopId}: epoch ${key.epoch} is not newer than the current ${current.epoch}`,
      );
    }
    // A hop's sender never protects an index twice (its source may go back in its numbering).
    const options =
      this.#replayWindow === undefined
        ? { mki: epochMki(key.epoch), freshIndicesOnly: true }
        : { mki: epochMki(key.epoch), replayWindow: this.#replayWindow, freshIndicesOnly: true };
    // On this thread's SRTP engine, with packets the hop's callers own: they go
    // to node:dgram sends and RTSP viewers' sockets, which read them later.
    const session = withOwnedPackets(createSrtpSession(material, options));
    const entry: HopEpoch = { epoch: key.epoch, key, session };
    if (current === undefined) {
      this.#current = entry;
    } else {
      this.#next.push(entry);
      this.#next.sort((a, b) => a.epoch - b.epoch);
      if (this.#next.length > maxWaitingEpochs) this.#next.shift();
    }
    return entry;
  }

  /**
   * Makes `entry` (a waiting epoch) current; the current one becomes previous,
   * and waiting epochs older than `entry` are dropped (the sender skipped them).
   */
  promote(entry: HopEpoch, nowMs: number): void {
    if (entry === this.#current) return;
    this.#previous = this.#current;
    this.#current = entry;
    this.#next = this.#next.filter((waiting) => waiting.epoch > entry.epoch);
    this.#switchedAtMs = nowMs;
    this.#previousUntilMs = nowMs + this.#graceMs;
  }

  /** The epoch whose MKI the packet carries, or undefined: no crypto, a few byte compares. */
  select(packet: Buffer, kind: HopPacketKind, nowMs: number): HopEpoch | undefined {
    if (this.#previous !== undefined && nowMs > this.#previousUntilMs) this.#previous = undefined;
    // Most packets use the current epoch: ask it first. No new array here: this runs per packet.
    const current = this.#current;
    if (current?.session.carriesMki(packet, kind) === true) return current;
    const previous = this.#previous;
    if (previous?.session.carriesMki(packet, kind) === true) return previous;
    for (const waiting of this.#next) {
      if (waiting.session.carriesMki(packet, kind)) return waiting;
    }
    return undefined;
  }

  /** A packet authenticated under `entry`: a first packet of the next epoch switches, an old one extends the overlap. */
  onAuthenticated(entry: HopEpoch, nowMs: number): void {
    if (entry !== this.#current && entry !== this.#previous) {
      this.promote(entry, nowMs);
    } else if (entry === this.#previous) {
      const until = Math.min(nowMs + this.#graceMs, this.#switchedAtMs + this.#maxOverlapMs);
      if (until > this.#previousUntilMs) this.#previousUntilMs = until;
    }
  }

  snapshot(nowMs: number): HopEpochsSnapshot {
    const previous =
      this.#previous !== undefined && nowMs <= this.#previousUntilMs ? this.#previous : undefined;
    return {
      current: this.#current?.epoch ?? null,
      previous: previous?.epoch ?? null,
      next: this.#next[0]?.epoch ?? null,
      notAfter: this.#current?.key.notAfter ?? null,
    };
  }

  #find(epoch: number): HopEpoch | undefined {
    for (const entry of [this.#current, this.#previous, ...this.#next]) {
      if (entry?.epoch === epoch) return entry;
    }
    return undefined;
  }
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) {
    throw new HopOptionsError(name, 'must be a non-negative number of milliseconds');
  }
  return value;
}
