/**
 * The MEDIA_KEY resources a node holds (src/config/hop-resource.ts): the
 * proxy-to-proxy hops it sends or receives, with their SRTP key epochs. Like
 * placements they are not config: staged with the rest of an update (a body
 * that does not parse, is named other than its hop id, or is a hop of two
 * other nodes refuses the update) and put in force with it. The proxy's
 * camera mesh (rtp-proxy/media/mesh) follows them.
 */
import { MEDIA_KEY, parseHopBody, type HopBody, type ResourceIssue } from '../config/index.js';
import type { ResourceUpdate, WireResource } from '../protocol/mesh/index.js';

export interface HeldHop {
  readonly version: string;
  readonly body: HopBody;
}

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

export interface StagedHops {
  readonly next: ReadonlyMap<string, HeldHop>;
  readonly issues: readonly ResourceIssue[];
}

export class Hops {
  readonly #nodeId: string;
  #held: ReadonlyMap<string, HeldHop> = new Map();

  constructor(nodeId: string) {
    this.#nodeId = nodeId;
  }

  stage(update: ResourceUpdate): StagedHops {
    const next = new Map(this.#held);
    const issues: ResourceIssue[] = [];
    for (const ref of update.removed) if (ref.type === MEDIA_KEY) next.delete(ref.name);
    for (const wire of update.resources) {
      if (wire.type !== MEDIA_KEY) continue;
      const body = this.#read(wire);
      if (typeof body === 'string') {
        // The reason never quotes the body: it holds keys.
        issues.push({ type: MEDIA_KEY, name: wire.name, reason: body });
        continue;
      }
      next.set(wire.name, { version: wire.version, body });
    }
    return { next, issues };
  }

  /** Whether the staged set differs from the one held. */
  changes(staged: StagedHops): boolean {
    if (staged.next.size !== this.#held.size) return true;
    for (const [id, hop] of staged.next)
      if (this.#held.get(id)?.version !== hop.version) return true;
    return false;
  }

  commit(staged: StagedHops): void {
    this.#held = staged.next;
  }

  refs(update: ResourceUpdate): { type: typeof MEDIA_KEY; name: string; version: string }[] {
    return update.resources
      .filter((wire) => wire.type === MEDIA_KEY)
      .map(({ name, version }) => ({ type: MEDIA_KEY, name, version }));
  }

  /** Every hop held, for the Hello (with bodies: a restarted control plane keeps their keys). */
  wire(): WireResource[] {
    return [...this.#held].map(([name, { version, body }]) => ({
      type: MEDIA_KEY,
      name,
      version,
      order: 0,
      bodyJson: JSON.stringify(body),
    }));
  }

  /** The hops this node sends. */
  sending(): HopBody[] {
    return [...this.#held.values()]
      .map(({ body }) => body)
      .filter((body) => body.sender === this.#nodeId);
  }

  /** The hops this node receives, by session. */
  receiving(): Map<string, HopBody[]> {
    const out = new Map<string, HopBody[]>();
    for (const { body } of this.#held.values()) {
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
    return [...this.#held.values()]
      .map(({ body }) => ({
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

  #read(wire: WireResource): HopBody | string {
    let json: unknown;
    try {
      json = JSON.parse(wire.bodyJson);
    } catch {
      // Not the parser's message: it quotes the text around the error, which holds keys.
      return 'body is not JSON';
    }
    const body = parseHopBody(json);
    if (typeof body === 'string') return body;
    if (body.hopId !== wire.name) return `hopId ${body.hopId} is not the resource's name`;
    if (body.sender !== this.#nodeId && body.receiver !== this.#nodeId) {
      return `a hop of ${body.sender} and ${body.receiver}, not of this node ${this.#nodeId}`;
    }
    return body;
  }
}
