/**
 * The MEDIA_KEY resources a node holds (src/config/hop-resource.ts): the
 * proxy-to-proxy hops it sends or receives, with their SRTP key epochs. Like
 * placements they are not config: staged with the rest of an update (a body
 * that does not parse, is named other than its hop id, or is a hop of two
 * other nodes refuses the update) and put in force with it. The proxy's
 * camera mesh (rtp-proxy/media/mesh) follows them.
 *
 * A hop's keys are bound to identities: a body may name the SPIFFE ID the
 * control plane authenticated each end by (senderIdentity,
 * receiverIdentity). One that names this node's end with another identity
 * than this node's own is refused, so a key meant for another workload is
 * never used here, even if a confused control plane sends it. Every refused
 * body is counted by reason. Staging, commit and the Hello are HeldSet's
 * (held-set.ts); this file reads a body and answers for the hops.
 */
import type { Registry } from 'prom-client';
import { MEDIA_KEY, parseHopBody, type HopBody } from '../config/index.js';
import type { ResourceUpdate, WireResource } from '../protocol/mesh/index.js';
import {
  HeldSet,
  MAX_QUOTED_IDENTITY,
  type HeldResource,
  type Refused,
  type StagedSet,
} from './held-set.js';

/** Why a hop body was refused: the `reason` label of streammesh_node_hop_keys_refused_total. */
export type HopRefusal = 'invalid_body' | 'not_this_node' | 'identity_mismatch';

export interface HopsOptions {
  /** This node's SPIFFE ID; undefined when it has none (no mTLS), and then no body may name one. */
  readonly ownIdentity?: () => string | undefined;
  readonly metrics?: Registry;
}

export type HeldHop = HeldResource<HopBody>;

/** A hop as a node's admin shows it: everything but key material. */
export interface HopView {
  readonly hopId: string;
  readonly session: string;
  readonly role: 'sender' | 'receiver';
  readonly peer: string;
  readonly senderAddress: string;
  readonly receiverAddress: string;
  readonly epochs: readonly number[];
  readonly sendEpoch: number;
}

export type StagedHops = StagedSet<HopBody>;

export class Hops {
  readonly #nodeId: string;
  readonly #ownIdentity: () => string | undefined;
  readonly #held: HeldSet<typeof MEDIA_KEY, HopBody, HopRefusal>;

  constructor(nodeId: string, options: HopsOptions = {}) {
    this.#nodeId = nodeId;
    this.#ownIdentity = options.ownIdentity ?? (() => undefined);
    this.#held = new HeldSet({
      type: MEDIA_KEY,
      read: (name, json) => this.#read(name, json),
      notJson: 'invalid_body',
      refusedMetric: {
        name: 'streammesh_node_hop_keys_refused_total',
        help: 'MEDIA_KEY bodies refused (NACK), by reason: invalid_body, not_this_node, identity_mismatch (names this node with another identity).',
      },
      metrics: options.metrics,
    });
  }

  stage(update: ResourceUpdate): StagedHops {
    return this.#held.stage(update);
  }

  /** Whether the staged set differs from the one held. */
  changes(staged: StagedHops): boolean {
    return this.#held.changes(staged);
  }

  commit(staged: StagedHops): void {
    this.#held.commit(staged);
  }

  refs(update: ResourceUpdate): { type: typeof MEDIA_KEY; name: string; version: string }[] {
    return this.#held.refs(update);
  }

  /** Every hop held, for the Hello (with bodies: a restarted control plane keeps their keys). */
  wire(): WireResource[] {
    return this.#held.wire();
  }

  /** The hops this node sends. */
  sending(): HopBody[] {
    return this.#held.values().filter((body) => body.sender === this.#nodeId);
  }

  /** The hops this node receives, by session. */
  receiving(): Map<string, HopBody[]> {
    const out = new Map<string, HopBody[]>();
    for (const body of this.#held.values()) {
      if (body.receiver !== this.#nodeId) continue;
      const list = out.get(body.session) ?? [];
      list.push(body);
      out.set(body.session, list);
    }
    return out;
  }

  get size(): number {
    return this.#held.size;
  }

  list(): HopView[] {
    return this.#held
      .values()
      .map((body) => ({
        hopId: body.hopId,
        session: body.session,
        role: body.sender === this.#nodeId ? ('sender' as const) : ('receiver' as const),
        peer: body.sender === this.#nodeId ? body.receiver : body.sender,
        senderAddress: body.senderAddress,
        receiverAddress: body.receiverAddress,
        epochs: body.keys.map((key) => key.epoch),
        sendEpoch: body.sendEpoch,
      }))
      .sort((a, b) => (a.hopId < b.hopId ? -1 : a.hopId > b.hopId ? 1 : 0));
  }

  #read(name: string, json: unknown): HopBody | Refused<HopRefusal> {
    const body = parseHopBody(json);
    if (typeof body === 'string') return { refusal: 'invalid_body', reason: body };
    if (body.hopId !== name) {
      return { refusal: 'invalid_body', reason: `hopId ${body.hopId} is not the resource's name` };
    }
    if (body.sender !== this.#nodeId && body.receiver !== this.#nodeId) {
      return {
        refusal: 'not_this_node',
        reason: `a hop of ${body.sender} and ${body.receiver}, not of this node ${this.#nodeId}`,
      };
    }
    const mismatch = this.#identityMismatch(body);
    return mismatch === undefined ? body : { refusal: 'identity_mismatch', reason: mismatch };
  }

  /** Why the body's identity for this node's end is not this node's own; undefined when it is (or names none). */
  #identityMismatch(body: HopBody): string | undefined {
    const own = this.#ownIdentity();
    const ends = [
      ['sender', body.sender, body.senderIdentity],
      ['receiver', body.receiver, body.receiverIdentity],
    ] as const;
    for (const [end, node, named] of ends) {
      if (node !== this.#nodeId || named === undefined || named === own) continue;
      const quoted = JSON.stringify(named.slice(0, MAX_QUOTED_IDENTITY));
      return own === undefined
        ? `its ${end} identity ${quoted} cannot be this node's: it has no workload identity (no mTLS)`
        : `its ${end} identity ${quoted} is not this node's ${own}`;
    }
    return undefined;
  }
}
