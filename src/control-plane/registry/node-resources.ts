/**
 * What the control plane knows of one node's resources: per resource the
 * version the node holds (acknowledged, or named in its Hello), the version
 * sent and not yet answered, and the last version it refused with the
 * reason. From this it computes the delta a node needs: the resources whose
 * version differs from what it holds (or is about to hold), and removals of
 * those the config no longer has.
 */
import {
  resourceKey,
  type MeshResource,
  type ResourceRef,
  type ResourceType,
} from '../../config/index.js';

export interface ResourceNack {
  readonly version: string;
  readonly reason: string;
  readonly at: string;
}

interface InFlight {
  readonly nonce: string;
  /** The version sent, or null for a removal. */
  readonly version: string | null;
}

interface ResourceState {
  readonly type: ResourceType;
  readonly name: string;
  acked: string | undefined;
  inFlight: InFlight | undefined;
  nacked: ResourceNack | undefined;
}

/** One resource as GET /nodes shows it. */
export interface ResourceStateView {
  readonly type: ResourceType;
  readonly name: string;
  /** The version the node holds; null when it holds none. */
  readonly acked: string | null;
  /** Sent and not answered yet: the version, or "(removal)". */
  readonly pending: string | null;
  readonly nacked: ResourceNack | null;
}

export interface Delta {
  readonly changed: readonly MeshResource[];
  readonly removed: readonly ResourceRef[];
}

interface SentUpdate {
  readonly systemVersion: string;
  readonly keys: ReadonlySet<string>;
}

/** Updates a node may leave unanswered before the oldest is forgotten (and resent later). */
const MAX_IN_FLIGHT = 64;

export class NodeResources {
  readonly #states = new Map<string, ResourceState>();
  readonly #inFlight = new Map<string, SentUpdate>();

  /** The node's (re)connect: what it holds now replaces what was known. */
  hello(held: readonly ResourceRef[]): void {
    const nacks = new Map([...this.#states].map(([key, state]) => [key, state.nacked]));
    this.#states.clear();
    this.#inFlight.clear();
    for (const ref of held) {
      const key = resourceKey(ref);
      this.#states.set(key, {
        type: ref.type,
        name: ref.name,
        acked: ref.version,
        inFlight: undefined,
        nacked: nacks.get(key),
      });
    }
  }

  /** The resources to send so the node holds `desired`, and those it must drop. */
  delta(desired: readonly MeshResource[]): Delta {
    const wanted = new Set<string>();
    const changed: MeshResource[] = [];
    for (const resource of desired) {
      const key = resourceKey(resource);
      wanted.add(key);
      const state = this.#states.get(key);
      if (state?.acked === resource.version) continue;
      if (state?.inFlight?.version === resource.version) continue;
      changed.push(resource);
    }
    const removed: ResourceRef[] = [];
    for (const [key, state] of this.#states) {
      if (wanted.has(key)) continue;
      const held = state.acked !== undefined || (state.inFlight?.version ?? null) !== null;
      const removing = state.inFlight !== undefined && state.inFlight.version === null;
      if (held && !removing) removed.push({ type: state.type, name: state.name, version: '' });
      else if (!held && state.inFlight === undefined && state.nacked === undefined) {
        this.#states.delete(key);
      }
    }
    return { changed, removed };
  }

  /** Records an update as sent under `nonce`. */
  sent(nonce: string, systemVersion: string, delta: Delta): void {
    const keys = new Set<string>();
    const mark = (ref: ResourceRef, version: string | null): void => {
      const key = resourceKey(ref);
      keys.add(key);
      const state = this.#states.get(key) ?? {
        type: ref.type,
        name: ref.name,
        acked: undefined,
        inFlight: undefined,
        nacked: undefined,
      };
      state.inFlight = { nonce, version };
      this.#states.set(key, state);
    };
    for (const resource of delta.changed) mark(resource, resource.version);
    for (const ref of delta.removed) mark(ref, null);
    this.#inFlight.set(nonce, { systemVersion, keys });
    if (this.#inFlight.size > MAX_IN_FLIGHT) {
      const [oldest] = this.#inFlight.keys();
      if (oldest !== undefined) this.#settle(oldest);
    }
  }

  /**
   * The node applied the update `nonce`: its versions are now held. Returns
   * the update's system version, or undefined for a nonce not in flight
   * (answered already, or of an earlier stream).
   */
  acked(nonce: string): string | undefined {
    const update = this.#inFlight.get(nonce);
    if (update === undefined) return undefined;
    for (const key of update.keys) {
      const state = this.#states.get(key);
      if (state?.inFlight?.nonce !== nonce) continue;
      const { version } = state.inFlight;
      state.inFlight = undefined;
      if (version === null) {
        this.#states.delete(key);
      } else {
        state.acked = version;
        state.nacked = undefined;
      }
    }
    this.#inFlight.delete(nonce);
    return update.systemVersion;
  }

  /**
   * The node refused the update `nonce` and holds what it held before. Each
   * refused resource keeps the version and reason; resources of the update
   * it did not name were simply not applied. Returns the system version, or
   * undefined for a nonce not in flight.
   */
  nacked(
    nonce: string,
    refused: readonly {
      readonly type: ResourceType;
      readonly name: string;
      readonly reason: string;
    }[],
    at: string,
  ): string | undefined {
    const update = this.#inFlight.get(nonce);
    if (update === undefined) return undefined;
    for (const { type, name, reason } of refused) {
      const state = this.#states.get(resourceKey({ type, name }));
      if (state?.inFlight?.nonce !== nonce) continue;
      state.nacked = { version: state.inFlight.version ?? '(removal)', reason, at };
    }
    this.#settle(nonce);
    return update.systemVersion;
  }

  /** What was sent under `nonce` counts as not sent: the node keeps its previous versions. */
  #settle(nonce: string): void {
    const update = this.#inFlight.get(nonce);
    if (update === undefined) return;
    for (const key of update.keys) {
      const state = this.#states.get(key);
      if (state?.inFlight?.nonce === nonce) state.inFlight = undefined;
    }
    this.#inFlight.delete(nonce);
  }

  /** Whether the update `nonce` is in flight and carried this resource. */
  carried(nonce: string, ref: { readonly type: string; readonly name: string }): boolean {
    return this.#inFlight.get(nonce)?.keys.has(resourceKey(ref)) ?? false;
  }

  /** Every resource the node holds (or is sent or refused), sorted by type and name. */
  view(): ResourceStateView[] {
    return [...this.#states.values()]
      .map((state) => ({
        type: state.type,
        name: state.name,
        acked: state.acked ?? null,
        pending: state.inFlight === undefined ? null : (state.inFlight.version ?? '(removal)'),
        nacked: state.nacked ?? null,
      }))
      .sort((a, b) => (a.type === b.type ? (a.name < b.name ? -1 : 1) : a.type < b.type ? -1 : 1));
  }
}
