/**
 * The PLACEMENT resources a node holds (src/config/placement-resource.ts):
 * which node carries each media session. They are not config: NodeConfig
 * hands them here instead of assembling them into the MeshConfig, stages
 * them with the rest of an update (a bad body refuses the whole update, as a
 * bad config resource does) and puts them in force with it. They live as
 * long as the process, so a node keeps its last placements while the
 * control plane is away, and returns them in its Hello when it is back.
 * Staging and commit are HeldSet's (held-set.ts).
 */
import {
  parsePlacementBody,
  PLACEMENT,
  type PlacementBody,
  type PlacementReason,
} from '../config/index.js';
import {
  MAX_HELLO_PLACEMENT_BYTES,
  type ResourceUpdate,
  type WireResource,
} from '../protocol/mesh/index.js';
import { HeldSet, type HeldResource, type StagedSet } from './held-set.js';

/** Bytes of protobuf framing per returned placement (tags, lengths, type, order), rounded up. */
const WIRE_OVERHEAD = 16;

/** One placement as the node holds it (by its key). */
export type HeldPlacement = HeldResource<PlacementBody>;

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
export type StagedPlacements = StagedSet<PlacementBody>;

export class Placements {
  readonly #nodeId: string;
  readonly #held = new HeldSet({
    type: PLACEMENT,
    read: (_key, json) => {
      const body = parsePlacementBody(json);
      return typeof body === 'string' ? { refusal: 'invalid_body' as const, reason: body } : body;
    },
    notJson: 'invalid_body',
    // A placement holds no secret: the parser's message helps whoever reads the NACK.
    quoteParseError: true,
  });

  constructor(nodeId: string) {
    this.#nodeId = nodeId;
  }

  /** The set with the update's PLACEMENT resources and removals applied, and the refused bodies. */
  stage(update: ResourceUpdate): StagedPlacements {
    return this.#held.stage(update);
  }

  /** Whether the staged set differs from the one held. */
  changes(staged: StagedPlacements): boolean {
    return this.#held.changes(staged);
  }

  commit(staged: StagedPlacements): void {
    this.#held.commit(staged);
  }

  /** Every placement held, as its ref (for an ACK). */
  refs(update: ResourceUpdate): { type: typeof PLACEMENT; name: string; version: string }[] {
    return this.#held.refs(update);
  }

  /**
   * What the Hello returns: the placements with their bodies, those this
   * node carries first, up to `maxBytes` of names, versions and bodies (the
   * control plane resends what is left out).
   */
  wire(maxBytes: number = MAX_HELLO_PLACEMENT_BYTES): WireResource[] {
    const held = this.#held.entries();
    const ordered = [
      ...held.filter(([, { body }]) => body.node === this.#nodeId),
      ...held.filter(([, { body }]) => body.node !== this.#nodeId),
    ];
    const out: WireResource[] = [];
    let bytes = 0;
    for (const [key, { version, body }] of ordered) {
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
    return this.#held.get(key)?.node;
  }

  get size(): number {
    return this.#held.size;
  }

  /** Every placement, sorted by key, with whether this node carries it. */
  list(): NodePlacementView[] {
    return this.#held
      .entries()
      .map(([key, { body }]) => ({ key, ...body, owned: body.node === this.#nodeId }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
