/**
 * The PIPE resources a signaling node holds (src/config/pipe-resource.ts):
 * one per SFU room it shares with another signaling node, naming both ends
 * of the mediasoup PipeTransport pair and, once each node has reported it,
 * that end's address and SRTP key. Like hops (hops.ts) they are not config:
 * staged with the rest of an update, put in force with it, returned with
 * their bodies in the Hello so a restarted control plane keeps their keys.
 * After a commit that changed them, listeners get the whole set: the
 * signaling node's cascade creates, connects and closes its transports from
 * it.
 *
 * A pipe's key is bound to identities. A body is refused (the update is
 * NACKed, the refusal counted by reason) when it does not parse, when
 * neither end is this node (a pipe of two other nodes), or when this node's
 * end names another SPIFFE ID than this node's own, so a key meant for
 * another workload is never used here even if a confused control plane
 * sends it. An end naming no identity (null: a control plane without mTLS)
 * is accepted only by a node that has none either: a node with a workload
 * identity refuses it (identity_mismatch), as the key would be bound to
 * no one (review finding 10). The other end's identity is not judged
 * here: that node checks its own, and the cascade link accepts the peer
 * only under it. A refusal never quotes a key. Staging, commit and the
 * Hello are HeldSet's (held-set.ts); this file reads a body and answers
 * for the pipes.
 */
import type { Registry } from 'prom-client';
import { parsePipeBody, PIPE, pipeEndsOf, type PipeBody } from '../config/index.js';
import type { Logger } from '../shared/log.js';
import type { ResourceUpdate, WireResource } from '../protocol/mesh/index.js';
import { ChangeListeners, type ChangeListener } from './change-listeners.js';
import {
  HeldSet,
  MAX_QUOTED_IDENTITY,
  type HeldResource,
  type Refused,
  type StagedSet,
} from './held-set.js';

/** Why a pipe body was refused: the `reason` label of streammesh_node_pipes_refused_total. */
export type PipeRefusal = 'invalid_body' | 'not_this_node' | 'identity_mismatch';

export interface PipesOptions {
  /** This node's SPIFFE ID; undefined when it has none (no mTLS), and then no body may name one for it. */
  readonly ownIdentity?: () => string | undefined;
  readonly metrics?: Registry;
  /** Where a listener's exception is reported (a bug of the listener). */
  readonly log?: Logger;
}

export type HeldPipe = HeldResource<PipeBody>;

/** A pipe as a node's admin shows it: everything but key material. */
export interface PipeView {
  readonly pipeId: string;
  readonly room: string;
  readonly peer: string;
  readonly ownAddress: string | null;
  readonly peerAddress: string | null;
  /** Whether the control plane has this node's key and the peer's: the pipe can connect. */
  readonly ownKey: boolean;
  readonly peerKey: boolean;
}

export type StagedPipes = StagedSet<PipeBody>;

export class Pipes {
  readonly #nodeId: string;
  readonly #ownIdentity: () => string | undefined;
  readonly #listeners: ChangeListeners<ReadonlyMap<string, PipeBody>>;
  readonly #held: HeldSet<typeof PIPE, PipeBody, PipeRefusal>;

  constructor(nodeId: string, options: PipesOptions = {}) {
    this.#nodeId = nodeId;
    this.#ownIdentity = options.ownIdentity ?? (() => undefined);
    this.#held = new HeldSet({
      type: PIPE,
      read: (name, json) => this.#read(name, json),
      notJson: 'invalid_body',
      refusedMetric: {
        name: 'streammesh_node_pipes_refused_total',
        help: 'PIPE bodies refused (NACK), by reason: invalid_body, not_this_node, identity_mismatch (names this node with another identity).',
      },
      metrics: options.metrics,
    });
    const log = options.log;
    this.#listeners = new ChangeListeners((error) =>
      log?.error({ err: error }, 'BUG: a pipes listener threw'),
    );
  }

  stage(update: ResourceUpdate): StagedPipes {
    return this.#held.stage(update);
  }

  /** Whether the staged set differs from the one held. */
  changes(staged: StagedPipes): boolean {
    return this.#held.changes(staged);
  }

  /** Puts the staged set in force; tells the listeners when it changed. */
  commit(staged: StagedPipes): void {
    if (this.#held.commit(staged)) this.#listeners.tell(this.#held.byName());
  }

  refs(update: ResourceUpdate): { type: typeof PIPE; name: string; version: string }[] {
    return this.#held.refs(update);
  }

  /** Every pipe held, for the Hello (with bodies: a restarted control plane keeps their keys). */
  wire(): WireResource[] {
    return this.#held.wire();
  }

  /**
   * Calls `listener` with the whole set after each commit that changed it
   * (a pipe added, filled in or removed); returns the function that stops it.
   */
  onChange(listener: ChangeListener<ReadonlyMap<string, PipeBody>>): () => void {
    return this.#listeners.add(listener);
  }

  get(pipeId: string): PipeBody | undefined {
    return this.#held.get(pipeId);
  }

  /** Every pipe held, by pipeId. */
  list(): PipeBody[] {
    return [...this.#held.byName().values()];
  }

  get size(): number {
    return this.#held.size;
  }

  /** Every pipe without its keys, sorted by pipeId (for an admin route). */
  views(): PipeView[] {
    return this.list().flatMap((body) => {
      const ends = pipeEndsOf(body, this.#nodeId);
      if (ends === undefined) return [];
      return [
        {
          pipeId: body.pipeId,
          room: body.room,
          peer: ends.peer.node,
          ownAddress: ends.own.address ?? null,
          peerAddress: ends.peer.address ?? null,
          ownKey: ends.own.srtp !== undefined,
          peerKey: ends.peer.srtp !== undefined,
        },
      ];
    });
  }

  #read(name: string, json: unknown): PipeBody | Refused<PipeRefusal> {
    const body = parsePipeBody(name, json);
    if (typeof body === 'string') return { refusal: 'invalid_body', reason: body };
    const ends = pipeEndsOf(body, this.#nodeId);
    if (ends === undefined) {
      return {
        refusal: 'not_this_node',
        reason: `a pipe of ${body.a.node} and ${body.b.node}, not of this node ${this.#nodeId}`,
      };
    }
    const named = ends.own.identity;
    const own = this.#ownIdentity();
    if (named === (own ?? null)) return body;
    if (named === null) {
      return {
        refusal: 'identity_mismatch',
        reason: `it names no identity for this node, which is ${own ?? '?'}: a key must be bound to it`,
      };
    }
    const quoted = JSON.stringify(named.slice(0, MAX_QUOTED_IDENTITY));
    return {
      refusal: 'identity_mismatch',
      reason:
        own === undefined
          ? `its identity for this node ${quoted} cannot be this node's: it has no workload identity (no mTLS)`
          : `its identity for this node ${quoted} is not this node's ${own}`,
    };
  }
}
