/**
 * From the objects the watches hold to the layer and the statuses: each
 * pass validates every object alone (validate.ts), lays the valid ones as
 * one layer, refusing those that clash (compose.ts), and judges each object
 * (conditions.ts), writing the statuses that changed (status-writer.ts).
 *
 * A pass is a function of the objects, the store's base and the registry's
 * acknowledgements; it runs whenever one of them moves (the source
 * schedules it). Nothing here does I/O but through the StatusWriter, so the
 * unit tests drive it with plain objects and a real ConfigStore.
 */
import { conditionsFor, isProgrammed, type Judgement } from './conditions.js';
import { CustomResourceLayer, entryKey, type Entry, type LayerTarget } from './compose.js';
import { byAge, readObject, type Condition, type CustomObject, type KindName } from './kinds.js';
import { HeldVersions, type NodeAck } from './programmed.js';
import { validateObject, type Validated } from './validate.js';

/** Said of an object refused after a version of it was laid: nothing of it stays on the proxies. */
export const WITHDRAWN =
  'its previous spec was withdrawn from the proxies (a refused edit does not keep the last good one)';

export interface StatusSink {
  write(object: CustomObject, conditions: readonly Condition[]): void;
  forget(uid: string): void;
}

export interface ReconcilerOptions {
  readonly store: LayerTarget;
  /** The registry's nodes (role, state, acknowledged version). */
  readonly nodes: () => readonly NodeAck[];
  readonly statuses: StatusSink;
  readonly now?: () => Date;
}

export interface PassResult {
  readonly judgements: ReadonlyMap<
    string,
    { readonly object: CustomObject; readonly judgement: Judgement }
  >;
  /** Some object is accepted and not yet programmed: pass again when nodes acknowledge. */
  readonly pending: boolean;
  /** Objects per kind and state, for the gauge. */
  readonly counts: ReadonlyMap<KindName, { accepted: number; refused: number }>;
}

export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #objects = new Map<string, CustomObject>();
  readonly #layer: CustomResourceLayer;
  readonly #held = new HeldVersions();
  /** Objects (uid) a version of which was laid: refused now, they are said to be withdrawn. */
  readonly #everLaid = new Set<string>();
  /**
   * Each object's verdict for its generation: a spec edit moves the
   * generation, a status write does not, so a pass validates only what changed.
   */
  readonly #verdicts = new Map<
    string,
    { readonly generation: number; readonly verdict: Validated }
  >();

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#layer = new CustomResourceLayer(options.store);
  }

  /** The store served `version`: it holds what the layer last added. */
  served(version: string): void {
    this.#layer.served();
    const entries = this.#layer.applied;
    for (const entry of entries) this.#everLaid.add(entry.object.uid);
    this.#held.record(version, entries.map(entryKey));
  }

  /** A list of `kind`: these are all its objects (others were deleted meanwhile). */
  listed(kind: KindName, items: readonly unknown[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      const object = readObject(kind, item);
      if (object === undefined) continue;
      this.#objects.set(object.uid, object);
      seen.add(object.uid);
    }
    for (const [uid, object] of this.#objects) {
      if (object.kind === kind && !seen.has(uid)) this.#forget(uid);
    }
  }

  upserted(kind: KindName, item: unknown): void {
    const object = readObject(kind, item);
    if (object !== undefined) this.#objects.set(object.uid, object);
  }

  deleted(kind: KindName, item: unknown): void {
    const object = readObject(kind, item);
    if (object !== undefined) this.#forget(object.uid);
  }

  #validated(object: CustomObject): Validated {
    const known = this.#verdicts.get(object.uid);
    // Generation 0: the object does not say (not an API server's): judged each time.
    if (known !== undefined && object.generation !== 0 && known.generation === object.generation) {
      return known.verdict;
    }
    const verdict = validateObject(object);
    this.#verdicts.set(object.uid, { generation: object.generation, verdict });
    return verdict;
  }

  #forget(uid: string): void {
    this.#objects.delete(uid);
    this.#verdicts.delete(uid);
    this.#everLaid.delete(uid);
    this.#options.statuses.forget(uid);
  }

  pass(): PassResult {
    const objects = [...this.#objects.values()].sort(byAge);
    const refusals = new Map<string, Judgement>();
    const entries: Entry[] = [];
    for (const object of objects) {
      const validated = this.#validated(object);
      if (!validated.ok) {
        refusals.set(object.uid, {
          accepted: false,
          reason: 'Invalid',
          message: validated.message,
        });
      } else if (validated.kind === 'Camera') {
        entries.push({ object, kind: 'Camera', path: validated.path, config: validated.config });
      } else {
        entries.push({ object, kind: 'MediaRoute', route: validated.route });
      }
    }
    const { conflicts } = this.#layer.compose(entries);
    for (const [uid, message] of conflicts) {
      refusals.set(uid, { accepted: false, reason: 'Conflicted', message });
    }
    const nodes = this.#options.nodes();
    const laid = new Map(this.#layer.applied.map((entry) => [entry.object.uid, entry]));
    const judgements = new Map<string, { object: CustomObject; judgement: Judgement }>();
    const counts = new Map<KindName, { accepted: number; refused: number }>([
      ['Camera', { accepted: 0, refused: 0 }],
      ['MediaRoute', { accepted: 0, refused: 0 }],
    ]);
    let pending = false;
    const now = (this.#options.now ?? (() => new Date()))();
    for (const object of objects) {
      let judgement = refusals.get(object.uid);
      const entry = laid.get(object.uid);
      if (judgement === undefined && entry === undefined) {
        // Valid, not refused, yet not laid: the file took its place since the last pass.
        judgement = {
          accepted: false,
          reason: 'Conflicted',
          message: 'the config file holds its place',
        };
      }
      if (judgement === undefined && entry !== undefined) {
        judgement = { accepted: true, proxies: this.#held.proxiesHolding(nodes, entryKey(entry)) };
        if (!isProgrammed(judgement)) pending = true;
      }
      if (judgement === undefined) continue;
      if (!judgement.accepted && this.#everLaid.has(object.uid)) {
        judgement = { ...judgement, message: `${judgement.message}; ${WITHDRAWN}` };
      }
      judgements.set(object.uid, { object, judgement });
      const count = counts.get(object.kind);
      if (count !== undefined) count[judgement.accepted ? 'accepted' : 'refused'] += 1;
      this.#options.statuses.write(object, conditionsFor(object, judgement, now));
    }
    return { judgements, pending, counts };
  }
}
