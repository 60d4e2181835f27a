/**
 * What the control plane knows of one node's resources: per resource the
 * version the node holds (acknowledged, or named in its Hello), the version
 * sent and not yet answered, and the last version it refused with the
 * reason. From this it computes the delta a node needs: the resources whose
 * version differs from what it holds (or is about to hold), and removals of
 * those the config no longer has. Its resources are those pushed to the
 * node: the config's and, for a proxy, the PLACEMENT resources.
 */
import {
  resourceKey,
  type PushedResource as MeshResource,
  type PushedResourceRef as ResourceRef,
  type PushedResourceType as ResourceType,
} from '../../config/index.js';

export interface ResourceNack {
  readonly version: string;
  readonly reason: string;
  readonly at: string;
}

/** The node may or may not hold what a forgotten (never answered) update carried. */
const UNKNOWN = Symbol('unknown');

interface ResourceState {
  readonly type: ResourceType;
  readonly name: string;
  /** The version the node holds: acknowledged or named in its Hello; null for none. */
  held: string | null | typeof UNKNOWN;
  /** The sequence number of the update that set `held` (0 for the Hello). */
  heldBy: number;
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
  /** Order of sending: a node applies updates in the order it receives them. */
  readonly sequence: number;
  /** Per resource key, the version sent, or null for a removal. */
  readonly versions: ReadonlyMap<string, string | null>;
}

/**
 * Updates a node may leave unanswered. Past this the oldest is forgotten and
 * what it carried counts as unknown to the node, so the next delta sends those
 * resources again (a late answer to it is then stale).
 */
export const MAX_IN_FLIGHT = 64;

export class NodeResources {
  readonly #states = new Map<string, ResourceState>();
  /** Updates sent and not answered, oldest first. */
  readonly #inFlight = new Map<string, SentUpdate>();
  /** The versions the last delta() was asked for, by resource key. */
  #desired: ReadonlyMap<string, string> = new Map();
  #sequence = 0;

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
        held: ref.version,
        heldBy: 0,
        nacked: nacks.get(key),
      });
    }
  }

  /**
   * The resources to send so the node holds `desired`, and those it must
   * drop: every one whose desired version differs from the version the node
   * will hold once the updates in flight are applied (the newest in-flight
   * version, else the held one). A resource is sent again when the config
   * moves back to the held version while another is on its way.
   */
  delta(desired: readonly MeshResource[]): Delta {
    this.#desired = new Map(desired.map((resource) => [resourceKey(resource), resource.version]));
    const wanted = new Set<string>();
    const changed: MeshResource[] = [];
    for (const resource of desired) {
      const key = resourceKey(resource);
      wanted.add(key);
      if (this.#next(key) !== resource.version) changed.push(resource);
    }
    const removed: ResourceRef[] = [];
    for (const [key, state] of this.#states) {
      if (wanted.has(key)) continue;
      if (this.#next(key) !== null) {
        removed.push({ type: state.type, name: state.name, version: '' });
      } else if (!this.#isInFlight(key) && state.nacked === undefined) {
        this.#states.delete(key);
      }
    }
    return { changed, removed };
  }

  /** Records an update as sent under `nonce`. */
  sent(nonce: string, systemVersion: string, delta: Delta): void {
    const versions = new Map<string, string | null>();
    const mark = (ref: ResourceRef, version: string | null): void => {
      const key = resourceKey(ref);
      versions.set(key, version);
      if (!this.#states.has(key)) {
        this.#states.set(key, {
          type: ref.type,
          name: ref.name,
          held: null,
          heldBy: 0,
          nacked: undefined,
        });
      }
    };
    for (const resource of delta.changed) mark(resource, resource.version);
    for (const ref of delta.removed) mark(ref, null);
    this.#sequence += 1;
    this.#inFlight.set(nonce, { systemVersion, sequence: this.#sequence, versions });
    if (this.#inFlight.size > MAX_IN_FLIGHT) {
      const [oldest] = this.#inFlight;
      if (oldest !== undefined) this.#forget(...oldest);
    }
  }

  /**
   * The node applied the update `nonce`: its versions are now held (unless a
   * later update's ACK already set them). Returns the update's system
   * version, or undefined for a nonce not in flight (answered already,
   * forgotten, or of an earlier stream).
   */
  acked(nonce: string): string | undefined {
    const update = this.#inFlight.get(nonce);
    if (update === undefined) return undefined;
    this.#inFlight.delete(nonce);
    for (const [key, version] of update.versions) {
      const state = this.#states.get(key);
      if (state === undefined || state.heldBy > update.sequence) continue;
      state.held = version;
      state.heldBy = update.sequence;
      if (version !== null) state.nacked = undefined;
      else if (!this.#isInFlight(key)) this.#states.delete(key);
    }
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
    this.#inFlight.delete(nonce);
    for (const { type, name, reason } of refused) {
      const key = resourceKey({ type, name });
      const state = this.#states.get(key);
      if (state === undefined || !update.versions.has(key)) continue;
      state.nacked = { version: update.versions.get(key) ?? '(removal)', reason, at };
    }
    return update.systemVersion;
  }

  /**
   * The refusals in force: resources whose desired version (as of the last
   * delta) the node refused and does not hold, and removals it refused of
   * resources it still holds. While there is one the node does not hold
   * what the control plane wants, whatever later updates it acknowledges. A
   * refusal of a resource since dropped from what is desired, or put back
   * to the version the node holds, is no longer in force.
   */
  refusals(): ResourceRef[] {
    const refused: ResourceRef[] = [];
    for (const [key, state] of this.#states) {
      if (state.nacked === undefined) continue;
      const desired = this.#desired.get(key);
      const inForce =
        desired === undefined
          ? state.nacked.version === '(removal)' && state.held !== null
          : state.held !== desired;
      if (inForce)
        refused.push({ type: state.type, name: state.name, version: state.nacked.version });
    }
    return refused;
  }

  /** Whether the update `nonce` is in flight and carried this resource. */
  carried(nonce: string, ref: { readonly type: string; readonly name: string }): boolean {
    return this.#inFlight.get(nonce)?.versions.has(resourceKey(ref)) ?? false;
  }

  /**
   * The version of one resource the node holds (acknowledged, or named in
   * its Hello), or null: none, or not known since an update was forgotten.
   * The hop planner asks whether a receiver holds a new key before the
   * sender may use it.
   */
  heldVersion(ref: { readonly type: string; readonly name: string }): string | null {
    const held = this.#states.get(resourceKey(ref))?.held;
    return typeof held === 'string' ? held : null;
  }

  /** Every resource the node holds (or is sent or refused), sorted by type and name. */
  view(): ResourceStateView[] {
    return [...this.#states]
      .map(([key, state]) => {
        const pending = this.#newestInFlight(key);
        return {
          type: state.type,
          name: state.name,
          acked: typeof state.held === 'string' ? state.held : null,
          pending: pending === undefined ? null : (pending ?? '(removal)'),
          nacked: state.nacked ?? null,
        };
      })
      .sort((a, b) => (a.type === b.type ? (a.name < b.name ? -1 : 1) : a.type < b.type ? -1 : 1));
  }

  /** The version the node holds once every update in flight is applied; null for none. */
  #next(key: string): string | null | typeof UNKNOWN {
    const pending = this.#newestInFlight(key);
    if (pending !== undefined) return pending;
    return this.#states.get(key)?.held ?? null;
  }

  /**
   * The version the newest in-flight update carries for `key` (null: removal),
   * or undefined. Updates older than the one whose ACK set the held version
   * do not count: the node applies in order, so it has applied them already.
   */
  #newestInFlight(key: string): string | null | undefined {
    const heldBy = this.#states.get(key)?.heldBy ?? 0;
    let newest: string | null | undefined;
    for (const update of this.#inFlight.values()) {
      if (update.sequence > heldBy && update.versions.has(key)) {
        newest = update.versions.get(key) ?? null;
      }
    }
    return newest;
  }

  #isInFlight(key: string): boolean {
    return this.#newestInFlight(key) !== undefined;
  }

  /** An update given up on: the node may hold what it carried or not. */
  #forget(nonce: string, update: SentUpdate): void {
    this.#inFlight.delete(nonce);
    for (const key of update.versions.keys()) {
      const state = this.#states.get(key);
      if (state === undefined || state.heldBy > update.sequence) continue;
      state.held = UNKNOWN;
      state.heldBy = update.sequence;
    }
  }
}
