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
 * Hello: the control plane knows its own registry. Staging and commit are
 * HeldSet's (held-set.ts).
 */
import { parseSignalingNodeBody, SIGNALING_NODE, type SignalingNodeBody } from '../config/index.js';
import type { Logger } from '../shared/log.js';
import type { ResourceUpdate } from '../protocol/mesh/index.js';
import { ChangeListeners, type ChangeListener } from './change-listeners.js';
import { HeldSet, type HeldResource, type StagedSet } from './held-set.js';

export type HeldSignalingNode = HeldResource<SignalingNodeBody>;

export type StagedSignalingNodes = StagedSet<SignalingNodeBody>;

export interface SignalingNodesOptions {
  /** Where a listener's exception is reported (a bug of the listener). */
  readonly log?: Logger;
}

export class SignalingNodes {
  readonly #listeners: ChangeListeners<ReadonlyMap<string, SignalingNodeBody>>;
  readonly #held = new HeldSet({
    type: SIGNALING_NODE,
    read: (name, json) => {
      const body = parseSignalingNodeBody(name, json);
      return typeof body === 'string' ? { refusal: 'invalid_body' as const, reason: body } : body;
    },
    notJson: 'invalid_body',
  });

  constructor(options: SignalingNodesOptions = {}) {
    const log = options.log;
    this.#listeners = new ChangeListeners((error) =>
      log?.error({ err: error }, 'BUG: a signaling nodes listener threw'),
    );
  }

  stage(update: ResourceUpdate): StagedSignalingNodes {
    return this.#held.stage(update);
  }

  /** Whether the staged set differs from the one held. */
  changes(staged: StagedSignalingNodes): boolean {
    return this.#held.changes(staged);
  }

  /** Puts the staged set in force; tells the listeners when it changed. */
  commit(staged: StagedSignalingNodes): void {
    if (this.#held.commit(staged)) this.#listeners.tell(this.#held.byName());
  }

  refs(update: ResourceUpdate): { type: typeof SIGNALING_NODE; name: string; version: string }[] {
    return this.#held.refs(update);
  }

  /** Calls `listener` with the whole set after each commit that changed it; returns the function that stops it. */
  onChange(listener: ChangeListener<ReadonlyMap<string, SignalingNodeBody>>): () => void {
    return this.#listeners.add(listener);
  }

  get(node: string): SignalingNodeBody | undefined {
    return this.#held.get(node);
  }

  /** Every signaling node, sorted by id. */
  list(): SignalingNodeBody[] {
    return [...this.#held.byName().values()];
  }

  get size(): number {
    return this.#held.size;
  }
}
