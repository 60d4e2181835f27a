/**
 * The SIGNALING_NODE resources a signaling node holds
 * (src/config/signaling-node-resource.ts): every signaling node of the mesh
 * (this one included), with its public URL, its cascade link address, its
 * SPIFFE ID and whether it drains. The node sends a participant to a peer's
 * URL (a `moved` answer, a WHIP/WHEP 307) and opens the cascade link to a
 * peer's `link`, accepting it only under its `identity`. Not config: staged
 * with the rest of an update (a body that does not parse, or is named other
 * than its node, refuses the update) and put in force with it; listeners get
 * the whole set after each commit that changed it. Not returned in the
 * Hello: the control plane knows its own registry.
 */
import {
  parseSignalingNodeBody,
  SIGNALING_NODE,
  type ResourceIssue,
  type SignalingNodeBody,
} from '../config/index.js';
import type { Logger } from '../shared/log.js';
import type { ResourceUpdate } from '../protocol/mesh/index.js';
import { ChangeListeners, type ChangeListener } from './change-listeners.js';

export interface HeldSignalingNode {
  readonly version: string;
  readonly body: SignalingNodeBody;
}

export interface StagedSignalingNodes {
  readonly next: ReadonlyMap<string, HeldSignalingNode>;
  readonly issues: readonly ResourceIssue[];
}

export interface SignalingNodesOptions {
  /** Where a listener's exception is reported (a bug of the listener). */
  readonly log?: Logger;
}

export class SignalingNodes {
  readonly #listeners: ChangeListeners<ReadonlyMap<string, SignalingNodeBody>>;
  #held: ReadonlyMap<string, HeldSignalingNode> = new Map();

  constructor(options: SignalingNodesOptions = {}) {
    const log = options.log;
    this.#listeners = new ChangeListeners((error) =>
      log?.error({ err: error }, 'BUG: a signaling nodes listener threw'),
    );
  }

  stage(update: ResourceUpdate): StagedSignalingNodes {
    const next = new Map(this.#held);
    const issues: ResourceIssue[] = [];
    for (const ref of update.removed) if (ref.type === SIGNALING_NODE) next.delete(ref.name);
    for (const wire of update.resources) {
      if (wire.type !== SIGNALING_NODE) continue;
      let json: unknown;
      try {
        json = JSON.parse(wire.bodyJson);
      } catch {
        issues.push({ type: SIGNALING_NODE, name: wire.name, reason: 'body is not JSON' });
        continue;
      }
      const body = parseSignalingNodeBody(wire.name, json);
      if (typeof body === 'string') {
        issues.push({ type: SIGNALING_NODE, name: wire.name, reason: body });
        continue;
      }
      next.set(wire.name, { version: wire.version, body });
    }
    return { next, issues };
  }

  /** Whether the staged set differs from the one held. */
  changes(staged: StagedSignalingNodes): boolean {
    if (staged.next.size !== this.#held.size) return true;
    for (const [node, held] of staged.next)
      if (this.#held.get(node)?.version !== held.version) return true;
    return false;
  }

  /** Puts the staged set in force; tells the listeners when it changed. */
  commit(staged: StagedSignalingNodes): void {
    const changed = this.changes(staged);
    this.#held = staged.next;
    if (changed) this.#listeners.tell(this.#bodies());
  }

  refs(update: ResourceUpdate): { type: typeof SIGNALING_NODE; name: string; version: string }[] {
    return update.resources
      .filter((wire) => wire.type === SIGNALING_NODE)
      .map(({ name, version }) => ({ type: SIGNALING_NODE, name, version }));
  }

  /** Calls `listener` with the whole set after each commit that changed it; returns the function that stops it. */
  onChange(listener: ChangeListener<ReadonlyMap<string, SignalingNodeBody>>): () => void {
    return this.#listeners.add(listener);
  }

  get(node: string): SignalingNodeBody | undefined {
    return this.#held.get(node)?.body;
  }

  /** Every signaling node, sorted by id. */
  list(): SignalingNodeBody[] {
    return [...this.#bodies().values()];
  }

  get size(): number {
    return this.#held.size;
  }

  #bodies(): ReadonlyMap<string, SignalingNodeBody> {
    const nodes = [...this.#held.keys()].sort();
    return new Map(
      nodes.flatMap((node) => {
        const held = this.#held.get(node);
        return held === undefined ? [] : [[node, held.body] as const];
      }),
    );
  }
}
