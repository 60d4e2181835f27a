/**
 * The resources of one type a node holds beside its config, by name: what
 * Placements (PLACEMENT), Hops (MEDIA_KEY), Pipes (PIPE) and SignalingNodes
 * (SIGNALING_NODE) share, each saying only how to read a body. Staged with every update (its
 * removals, then each body read; a refused body is an issue that refuses
 * the whole update, counted by reason) and put in force with it.
 *
 * A body that is not JSON is refused with 'body is not JSON', without the
 * parser's message unless the type allows it: that quotes the text around
 * the error, and hop and pipe bodies hold keys. For the same reason a
 * reader's reasons never quote a body.
 */
import { Counter, type Registry } from 'prom-client';
import type { PushedResourceType, ResourceIssue } from '../config/index.js';
import { errorMessage } from '../shared/errors.js';
import type { ResourceUpdate, WireResource } from '../protocol/mesh/index.js';

/** Characters of an identity a refusal quotes (hops, pipes: a body naming another one). */
export const MAX_QUOTED_IDENTITY = 300;

export interface HeldResource<B> {
  readonly version: string;
  readonly body: B;
}

export interface StagedSet<B> {
  readonly next: ReadonlyMap<string, HeldResource<B>>;
  readonly issues: readonly ResourceIssue[];
}

/** Why a body was refused: `refusal` is the counter's `reason` label, `reason` the NACK's text. */
export interface Refused<R extends string> {
  readonly refusal: R;
  readonly reason: string;
}

export interface HeldSetOptions<T extends PushedResourceType, B, R extends string> {
  readonly type: T;
  /** A parsed body named `name`, or why it is refused. */
  readonly read: (name: string, json: unknown) => B | Refused<R>;
  /** The refusal given to a body that is not JSON. */
  readonly notJson: R;
  /** Whether that refusal may quote the parser's message (bodies without secrets only). */
  readonly quoteParseError?: boolean;
  /** The counter of refusals by `reason`, registered in `metrics`; either absent: not counted. */
  readonly refusedMetric?: { readonly name: string; readonly help: string };
  readonly metrics?: Registry | undefined;
}

export class HeldSet<T extends PushedResourceType, B extends object, R extends string> {
  readonly #options: HeldSetOptions<T, B, R>;
  readonly #refused: Counter | undefined;
  #held: ReadonlyMap<string, HeldResource<B>> = new Map();

  constructor(options: HeldSetOptions<T, B, R>) {
    this.#options = options;
    const { refusedMetric, metrics } = options;
    if (refusedMetric !== undefined && metrics !== undefined) {
      this.#refused = new Counter({
        ...refusedMetric,
        labelNames: ['reason'],
        registers: [metrics],
      });
    }
  }

  stage(update: ResourceUpdate): StagedSet<B> {
    const { type } = this.#options;
    const next = new Map(this.#held);
    const issues: ResourceIssue[] = [];
    for (const ref of update.removed) if (ref.type === type) next.delete(ref.name);
    for (const wire of update.resources) {
      if (wire.type !== type) continue;
      const body = this.#read(wire);
      if ('refusal' in body) {
        issues.push({ type, name: wire.name, reason: body.reason });
        this.#refused?.inc({ reason: body.refusal });
        continue;
      }
      next.set(wire.name, { version: wire.version, body });
    }
    return { next, issues };
  }

  /** Whether the staged set differs from the one held. */
  changes(staged: StagedSet<B>): boolean {
    if (staged.next.size !== this.#held.size) return true;
    for (const [name, held] of staged.next)
      if (this.#held.get(name)?.version !== held.version) return true;
    return false;
  }

  /** Puts the staged set in force; true when it changed. */
  commit(staged: StagedSet<B>): boolean {
    const changed = this.changes(staged);
    this.#held = staged.next;
    return changed;
  }

  /** The update's resources of this type, as its ACK names them. */
  refs(update: ResourceUpdate): { type: T; name: string; version: string }[] {
    const { type } = this.#options;
    return update.resources
      .filter((wire) => wire.type === type)
      .map(({ name, version }) => ({ type, name, version }));
  }

  /** Every resource held, with its body, as the Hello returns it. */
  wire(): WireResource[] {
    return [...this.#held].map(([name, { version, body }]) => ({
      type: this.#options.type,
      name,
      version,
      order: 0,
      bodyJson: JSON.stringify(body),
    }));
  }

  get(name: string): B | undefined {
    return this.#held.get(name)?.body;
  }

  get size(): number {
    return this.#held.size;
  }

  /** Every body, in the order they were first held. */
  values(): B[] {
    return [...this.#held.values()].map(({ body }) => body);
  }

  /** Every resource held, by name, in the order they were first held. */
  entries(): [string, HeldResource<B>][] {
    return [...this.#held];
  }

  /** Every body by name, sorted by name. */
  byName(): ReadonlyMap<string, B> {
    const names = [...this.#held.keys()].sort();
    return new Map(
      names.flatMap((name) => {
        const held = this.#held.get(name);
        return held === undefined ? [] : [[name, held.body] as const];
      }),
    );
  }

  #read(wire: WireResource): B | Refused<R> {
    let json: unknown;
    try {
      json = JSON.parse(wire.bodyJson);
    } catch (error) {
      const reason =
        this.#options.quoteParseError === true
          ? `body is not JSON: ${errorMessage(error)}`
          : 'body is not JSON';
      return { refusal: this.#options.notJson, reason };
    }
    return this.#options.read(wire.name, json);
  }
}
