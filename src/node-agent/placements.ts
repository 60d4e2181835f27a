/**
 * The PLACEMENT resources a node holds (src/config/placement-resource.ts):
 * which node carries each media session. They are not config: NodeConfig
 * hands them here instead of assembling them into the MeshConfig, stages
 * them with the rest of an update (a bad body refuses the whole update, as a
 * bad config resource does) and puts them in force with it. They live as
 * long as the process, so a node keeps its last placements while the
 * control plane is away, and returns them in its Hello when it is back.
 */
import {
  parsePlacementBody,
  PLACEMENT,
  type PlacementBody,
  type PlacementReason,
  type ResourceIssue,
} from '../config/index.js';
import { errorMessage } from '../shared/errors.js';
import type { ResourceUpdate, WireResource } from '../protocol/mesh/index.js';

/** One placement as the node holds it. */
export interface HeldPlacement {
  readonly key: string;
  readonly version: string;
  readonly body: PlacementBody;
}

/** One placement as GET /placements on a node shows it. */
export interface NodePlacementView {
  readonly key: string;
  readonly node: string;
  readonly since: string;
  readonly reason: PlacementReason;
  /** Whether this node is the one carrying the session. */
  readonly owned: boolean;
}

/** An update's placements staged: put in force by commit() with the rest of the update. */
export interface StagedPlacements {
  readonly next: ReadonlyMap<string, HeldPlacement>;
  readonly issues: readonly ResourceIssue[];
}

export class Placements {
  readonly #nodeId: string;
  #held: ReadonlyMap<string, HeldPlacement> = new Map();

  constructor(nodeId: string) {
    this.#nodeId = nodeId;
  }

  /** The set with the update's PLACEMENT resources and removals applied, and the refused bodies. */
  stage(update: ResourceUpdate): StagedPlacements {
    const next = new Map(this.#held);
    const issues: ResourceIssue[] = [];
    for (const ref of update.removed) if (ref.type === PLACEMENT) next.delete(ref.name);
    for (const wire of update.resources) {
      if (wire.type !== PLACEMENT) continue;
      const body = readBody(wire);
      if (typeof body === 'string') {
        issues.push({ type: PLACEMENT, name: wire.name, reason: body });
        continue;
      }
      next.set(wire.name, { key: wire.name, version: wire.version, body });
    }
    return { next, issues };
  }

  commit(staged: StagedPlacements): void {
    this.#held = staged.next;
  }

  /** Every placement held, as its ref (for an ACK). */
  refs(update: ResourceUpdate): { type: typeof PLACEMENT; name: string; version: string }[] {
    return update.resources
      .filter((wire) => wire.type === PLACEMENT)
      .map(({ name, version }) => ({ type: PLACEMENT, name, version }));
  }

  /** What the Hello returns: every placement with its body. */
  wire(): WireResource[] {
    return [...this.#held.values()].map(({ key, version, body }) => ({
      type: PLACEMENT,
      name: key,
      version,
      order: 0,
      bodyJson: JSON.stringify(body),
    }));
  }

  /** The node carrying `key`, if a placement names one. */
  nodeOf(key: string): string | undefined {
    return this.#held.get(key)?.body.node;
  }

  get size(): number {
    return this.#held.size;
  }

  /** Every placement, sorted by key, with whether this node carries it. */
  list(): NodePlacementView[] {
    return [...this.#held.values()]
      .map(({ key, body }) => ({ key, ...body, owned: body.node === this.#nodeId }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

function readBody(wire: WireResource): PlacementBody | string {
  let body: unknown;
  try {
    body = JSON.parse(wire.bodyJson);
  } catch (error) {
    return `body is not JSON: ${errorMessage(error)}`;
  }
  return parsePlacementBody(body);
}
