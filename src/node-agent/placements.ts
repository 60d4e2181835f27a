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
import {
  MAX_HELLO_PLACEMENT_BYTES,
  type ResourceUpdate,
  type WireResource,
} from '../protocol/mesh/index.js';

/** Bytes of protobuf framing per returned placement (tags, lengths, type, order), rounded up. */
const WIRE_OVERHEAD = 16;

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

  /** Whether the staged set differs from the one held. */
  changes(staged: StagedPlacements): boolean {
    if (staged.next.size !== this.#held.size) return true;
    for (const [key, held] of staged.next) {
      if (this.#held.get(key)?.version !== held.version) return true;
    }
    return false;
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

  /**
   * What the Hello returns: the placements with their bodies, those this
   * node carries first, up to `maxBytes` of names, versions and bodies (the
   * control plane resends what is left out).
   */
  wire(maxBytes: number = MAX_HELLO_PLACEMENT_BYTES): WireResource[] {
    const held = [...this.#held.values()];
    const ordered = [
      ...held.filter(({ body }) => body.node === this.#nodeId),
      ...held.filter(({ body }) => body.node !== this.#nodeId),
    ];
    const out: WireResource[] = [];
    let bytes = 0;
    for (const { key, version, body } of ordered) {
      const bodyJson = JSON.stringify(body);
      bytes +=
        Buffer.byteLength(key) + version.length + Buffer.byteLength(bodyJson) + WIRE_OVERHEAD;
      if (bytes > maxBytes) break;
      out.push({ type: PLACEMENT, name: key, version, order: 0, bodyJson });
    }
    return out;
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
