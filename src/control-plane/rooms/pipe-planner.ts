/**
 * The control plane's side of cascade pipes (issue 18): which pairs of
 * signaling nodes carry a room's media between them, and each end's
 * address and SRTP key. Shaped like HopPlanner (hops/hop-planner.ts), with
 * one difference that mediasoup imposes: a PipeTransport makes its own key
 * and cannot be given one, so the control plane relays keys instead of
 * making them. Each pipe is a PIPE resource (src/config/pipe-resource.ts,
 * whose header holds the rules) pushed to its two nodes only.
 *
 * - A pipe exists for each pair of signaling nodes that both report the
 *   same room (RoomMembership) and are not stale. Its ends first carry no
 *   address: each node makes its PipeTransport when the PIPE appears and
 *   reports its address and key (PipeEndpoints, endpoints()); the planner
 *   fills that end in and both nodes are sent the body again, and each
 *   connects to the other end once both are there. One node's endpoint
 *   goes only into the bodies of pipes it is an end of (checkPipeEndpoints
 *   refused the set otherwise), so a key reaches the other end and no one
 *   else.
 * - A pipe goes when one of its nodes stops reporting the room, goes stale
 *   or leaves the registry; its ends' endpoints are forgotten with it, so a
 *   pipe made again waits for fresh transports. A node whose stream closed
 *   keeps its pipes until it is stale, as hop requests do: a control-plane
 *   blip must not cut a room's media between nodes (a node's report lapses
 *   in RoomMembership). An endpoint for a pipe that does not exist (a
 *   report racing a removal) is ignored.
 * - Identity: each end names the SPIFFE ID its node registered with, so a
 *   node checks that a body (and the key in it) came for it, and the cascade
 *   link accepts the peer only under it. With `requireIdentity`
 *   (controlPlane.mtls) a pipe is made only between two nodes that
 *   registered with a certificate.
 * - A node's Hello that does not hold one of its pipes comes from a fresh
 *   process (a restart, or one that lost its state): the transport behind
 *   its end is gone, so its end is emptied at once (greeted()) and the
 *   other node stops sending to it until the new transport is reported.
 * - Restart: during the room placement's grace the signaling Hellos return
 *   the PIPEs they hold. A Hello is a node's word (review finding 10), so
 *   from each only its own end's address (on a host it registered) and key
 *   are taken, and a pipe is taken back once both its nodes returned it:
 *   each end then has its own
 *   node's address and key and the identity its node registered with, as
 *   before the restart, so a restart changes no body and no transport.
 *   Until then the pipe is pending: the node that returned it is sent back
 *   exactly what it holds (nothing changes for it) and the other node
 *   nothing, and a pipe whose other node is registered but not as a
 *   signaling node is not taken at all. After the grace, pending pipes are
 *   forgotten, and a restored pipe that no pair of reports calls for goes.
 * - When: on a membership change, an endpoint set that changed the node's
 *   ends (the same set again plans nothing), and every reconcileIntervalMs
 *   (staleness). A pass that changes some node's PIPE
 *   set emits 'change' once.
 * Keys never appear in a view, a log line or a metric: view() shows whether
 * an end is keyed, not the key.
 */
import { EventEmitter } from 'node:events';
import {
  pipeBodySchema,
  pipeResource,
  pipeResourceName,
  type PipeBody,
  type PipeEnd,
  type PipeSrtp,
  type PushedResource,
} from '../../config/index.js';
import { MAX_RESOURCE_NAME_LENGTH } from '../../protocol/mesh/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { parseHostPort } from '../../shared/address.js';
import { registeredHostsOf, type CheckedPipeEndpoint } from '../config-push/index.js';
import { DEFAULT_RECONCILE_INTERVAL_MS } from '../placement/index.js';
import type { Registry } from '../registry/index.js';
import type { RoomMembership } from './room-membership.js';

/** Whether the room placement is still in its restore grace (RoomPlacement). */
export interface RestoreGrace {
  readonly restoring: boolean;
}

export interface PipePlannerOptions {
  readonly registry: Registry;
  readonly membership: RoomMembership;
  readonly grace: RestoreGrace;
  readonly clock: Clock;
  readonly log: Logger;
  readonly reconcileIntervalMs?: number;
  /** Pipes only between nodes registered with a certificate (controlPlane.mtls). */
  readonly requireIdentity?: boolean;
}

/** One end as GET /pipes shows it: never its key. */
export interface PipeEndView {
  readonly node: string;
  readonly identity: string | null;
  readonly address: string | null;
  /** The node reported its key (the pipe can connect once both ends are keyed). */
  readonly keyed: boolean;
}

export interface PipeView {
  readonly pipeId: string;
  readonly room: string;
  readonly a: PipeEndView;
  readonly b: PipeEndView;
  readonly since: string;
  /** `restored`: taken from a Hello and not yet called for by reports. */
  readonly state: 'active' | 'restored';
}

export interface PipesView {
  readonly restoring: boolean;
  readonly pipes: PipeView[];
}

export interface PipePlannerEvents {
  /** Some node's PIPE resources changed: push them. */
  change: [];
}

interface Endpoint {
  readonly address: string;
  readonly srtp: PipeSrtp;
}

interface Pipe {
  body: PipeBody;
  resource: PushedResource;
  readonly sinceMs: number;
  restored: boolean;
}

/** A pipe one of its nodes returned in the grace, the other not yet: per node, what it holds. */
type PendingPipe = Map<string, PushedResource>;

export class PipePlanner extends EventEmitter<PipePlannerEvents> {
  readonly #options: PipePlannerOptions;
  readonly #pipes = new Map<string, Pipe>();
  /** Per node: the ids of the pipes it is an end of. */
  readonly #byNode = new Map<string, Set<string>>();
  /** Per node: its reported end of each pipe, by pipe id. */
  readonly #endpoints = new Map<string, Map<string, Endpoint>>();
  /** Pipes returned by one of their nodes only, during the grace, by pipe id. */
  readonly #pending = new Map<string, PendingPipe>();
  #changed = false;
  #tick: NodeJS.Timeout | undefined;
  readonly #onInput = (): void => {
    this.reconcile();
  };

  constructor(options: PipePlannerOptions) {
    super();
    this.#options = options;
  }

  start(): void {
    this.#options.membership.on('change', this.#onInput);
    this.#tick = setInterval(
      () => this.reconcile(),
      this.#options.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS,
    );
    this.#tick.unref();
  }

  close(): void {
    this.#options.membership.off('change', this.#onInput);
    clearInterval(this.#tick);
  }

  /** The PIPE resources `node` should hold: the pipes it is an end of. */
  resources(node: string): readonly PushedResource[] {
    const ids = this.#byNode.get(node) ?? [];
    const pending = [...this.#pending.values()].flatMap((held) => {
      const resource = held.get(node);
      return resource === undefined ? [] : [resource];
    });
    return [
      ...[...ids].flatMap((id) => {
        const pipe = this.#pipes.get(id);
        return pipe === undefined ? [] : [pipe.resource];
      }),
      ...pending,
    ];
  }

  /**
   * A signaling node's whole set of pipe ends (checkPipeEndpoints passed:
   * every one names a pipe `node` is an end of), replacing its previous set.
   */
  endpoints(node: string, endpoints: readonly CheckedPipeEndpoint[]): void {
    const own = new Map<string, Endpoint>();
    for (const { pipeId, address, srtp } of endpoints) {
      const current =
        this.#byNode.get(node)?.has(pipeId) === true ||
        this.#pending.get(pipeId)?.has(node) === true;
      if (!current) {
        this.#options.log.debug({ node, pipe: pipeId }, 'endpoint for no current pipe ignored');
        continue;
      }
      own.set(pipeId, { address, srtp });
    }
    // The same set again (a node repeating itself, or flooding): nothing to plan.
    if (sameEndpoints(this.#endpoints.get(node), own)) return;
    if (own.size === 0) this.#endpoints.delete(node);
    else this.#endpoints.set(node, own);
    if (this.#options.grace.restoring) {
      // Bodies are rebuilt from what the Hellos and these ends say; nothing is planned yet.
      for (const id of this.#byNode.get(node) ?? []) {
        const pipe = this.#pipes.get(id);
        if (pipe !== undefined) this.#setBody(pipe, this.#withEndpoints(pipe.body));
      }
      this.#emitIfChanged();
      return;
    }
    this.reconcile();
  }

  /**
   * The PIPEs a signaling node's Hello says it holds (bodies checked).
   * Taken during the grace only, only pipes the node is an end of, and of
   * each only the node's own end (see the header).
   */
  reported(node: string, bodies: readonly PipeBody[]): void {
    if (!this.#options.grace.restoring) return;
    for (const body of bodies) {
      const own = body.a.node === node ? body.a : body.b.node === node ? body.b : undefined;
      if (own === undefined) continue;
      const other = own === body.a ? body.b : body.a;
      const otherRecord = this.#options.registry.get(other.node);
      if (otherRecord !== undefined && otherRecord.role !== 'ROLE_SIGNALING') continue;
      // Its own end only on a host it registered, as PipeEndpoints (checkPipeEndpoints).
      if (
        own.address !== undefined &&
        own.srtp !== undefined &&
        this.#onOwnHost(node, own.address)
      ) {
        this.#setEndpoint(node, body.pipeId, { address: own.address, srtp: own.srtp });
      }
      const pipe = this.#pipes.get(body.pipeId);
      if (pipe !== undefined) {
        this.#setBody(pipe, this.#withEndpoints(pipe.body));
        continue;
      }
      const held: PendingPipe = this.#pending.get(body.pipeId) ?? new Map<string, PushedResource>();
      held.set(node, pipeResource(body));
      if (!held.has(other.node)) {
        this.#pending.set(body.pipeId, held);
        continue;
      }
      this.#pending.delete(body.pipeId);
      const rebuilt = this.#rebuilt(body);
      if (rebuilt !== undefined) this.#add(this.#withEndpoints(rebuilt), true);
      else this.#forgetEndpoints(body.pipeId, [body.a.node, body.b.node]);
      // The pipe is the planner's now (or no one's): what each node holds is judged again.
      this.#changed = true;
    }
    // After the Hello is answered: a 'change' now would compute the node's
    // delta before the push has taken the rest of its Hello.
    queueMicrotask(() => this.#emitIfChanged());
  }

  /**
   * A signaling node said Hello, holding the pipes `held` (ids): its end of
   * each pipe it does not hold is forgotten (see the header). In the grace
   * the pipes are not all known yet, and nothing is judged.
   */
  greeted(node: string, held: ReadonlySet<string>): void {
    if (this.#options.grace.restoring) return;
    const own = this.#endpoints.get(node);
    if (own === undefined) return;
    for (const pipeId of [...own.keys()]) {
      if (held.has(pipeId)) continue;
      own.delete(pipeId);
      const pipe = this.#pipes.get(pipeId);
      if (pipe !== undefined) this.#setBody(pipe, this.#withEndpoints(pipe.body));
    }
    if (own.size === 0) this.#endpoints.delete(node);
    // After the Hello is answered, as reported().
    queueMicrotask(() => this.#emitIfChanged());
  }

  /** One pass: wanted pipes made or brought up to date, the others removed. */
  reconcile(): void {
    if (this.#options.grace.restoring) return;
    this.#options.membership.forgetLapsed();
    // Pipes only one node returned in the grace are not taken back (see the header).
    const pending = [...this.#pending];
    this.#pending.clear();
    if (pending.length > 0) this.#changed = true;
    const wanted = this.#wanted();
    for (const body of wanted.values()) {
      const pipe = this.#pipes.get(body.pipeId);
      if (pipe === undefined) {
        this.#add(body, false);
        this.#options.log.info({ pipe: body.pipeId, a: body.a.node, b: body.b.node }, 'pipe added');
        continue;
      }
      pipe.restored = false;
      this.#setBody(pipe, body);
    }
    for (const [id, pipe] of this.#pipes) if (!wanted.has(id)) this.#remove(pipe);
    for (const [pipeId, held] of pending) {
      if (!this.#pipes.has(pipeId)) this.#forgetEndpoints(pipeId, held.keys());
    }
    this.#emitIfChanged();
  }

  view(): PipesView {
    return {
      restoring: this.#options.grace.restoring,
      pipes: [...this.#pipes.values()]
        .map(viewOf)
        .sort((x, y) => (x.pipeId < y.pipeId ? -1 : x.pipeId > y.pipeId ? 1 : 0)),
    };
  }

  /** The pipes `room` has now, as GET /pipes shows them. */
  pipesOf(room: string): PipeView[] {
    return this.view().pipes.filter((pipe) => pipe.room === room);
  }

  /** The pipe bodies the reports call for now, by pipe id. */
  #wanted(): Map<string, PipeBody> {
    const { registry, requireIdentity } = this.#options;
    const wanted = new Map<string, PipeBody>();
    for (const [room, shares] of this.#options.membership.rooms()) {
      const nodes = shares
        .map(({ node }) => registry.get(node))
        .filter((record) => record !== undefined)
        .filter((record) => record.role === 'ROLE_SIGNALING')
        .filter((record) => registry.stateOf(record) !== 'stale')
        .filter((record) => requireIdentity !== true || record.spiffeId !== null);
      for (let i = 0; i < nodes.length; i += 1) {
        for (let j = i + 1; j < nodes.length; j += 1) {
          const [x, y] = [nodes[i], nodes[j]];
          if (x === undefined || y === undefined) continue;
          const pipeId = pipeResourceName(room, x.id, y.id);
          // A Hello could not name it back (checkRef): such a pipe would keep its nodes out.
          if (pipeId.length > MAX_RESOURCE_NAME_LENGTH) continue;
          const [a, b] = x.id < y.id ? [x, y] : [y, x];
          const body = this.#withEndpoints({
            pipeId,
            room,
            a: { node: a.id, identity: a.spiffeId },
            b: { node: b.id, identity: b.spiffeId },
          });
          // Never push what a node would NACK (a node id the schema does not take).
          if (!pipeBodySchema.safeParse(body).success) continue;
          wanted.set(pipeId, body);
        }
      }
    }
    return wanted;
  }

  /** `body` with each end's address and key as its node reported them (none if not yet). */
  #withEndpoints(body: PipeBody): PipeBody {
    const end = (given: PipeEnd): PipeEnd => {
      const endpoint = this.#endpoints.get(given.node)?.get(body.pipeId);
      const bare = { node: given.node, identity: given.identity };
      return endpoint === undefined ? bare : { ...bare, ...endpoint };
    };
    return { pipeId: body.pipeId, room: body.room, a: end(body.a), b: end(body.b) };
  }

  /**
   * A pipe both its nodes returned, with each end's identity the one its
   * node registered with (not what a Hello says), and no address or key
   * (#withEndpoints adds each node's own); undefined when its nodes are
   * not both registered signaling nodes (with identities, when required).
   */
  #rebuilt(body: PipeBody): PipeBody | undefined {
    const { registry, requireIdentity } = this.#options;
    const end = (node: string): PipeEnd | undefined => {
      const record = registry.get(node);
      if (record?.role !== 'ROLE_SIGNALING') return undefined;
      if (requireIdentity === true && record.spiffeId === null) return undefined;
      return { node, identity: record.spiffeId };
    };
    const [a, b] = [end(body.a.node), end(body.b.node)];
    if (a === undefined || b === undefined) return undefined;
    const rebuilt: PipeBody = { pipeId: body.pipeId, room: body.room, a, b };
    return pipeBodySchema.safeParse(rebuilt).success ? rebuilt : undefined;
  }

  #onOwnHost(node: string, address: string): boolean {
    const record = this.#options.registry.get(node);
    if (record === undefined) return false;
    const host = parseHostPort(address);
    if (typeof host === 'string') return false;
    return registeredHostsOf(record.listenAddresses).has(host.host.toLowerCase());
  }

  #forgetEndpoints(pipeId: string, nodes: Iterable<string>): void {
    for (const node of nodes) {
      const own = this.#endpoints.get(node);
      own?.delete(pipeId);
      if (own?.size === 0) this.#endpoints.delete(node);
    }
  }

  #setEndpoint(node: string, pipeId: string, endpoint: Endpoint): void {
    const own = this.#endpoints.get(node) ?? new Map<string, Endpoint>();
    own.set(pipeId, endpoint);
    this.#endpoints.set(node, own);
  }

  #add(body: PipeBody, restored: boolean): void {
    this.#pipes.set(body.pipeId, {
      body,
      resource: pipeResource(body),
      sinceMs: this.#options.clock.now(),
      restored,
    });
    for (const node of [body.a.node, body.b.node]) {
      const ids = this.#byNode.get(node) ?? new Set<string>();
      ids.add(body.pipeId);
      this.#byNode.set(node, ids);
    }
    this.#changed = true;
  }

  #setBody(pipe: Pipe, body: PipeBody): void {
    const resource = pipeResource(body);
    if (resource.version === pipe.resource.version) return;
    pipe.body = body;
    pipe.resource = resource;
    this.#changed = true;
  }

  #remove(pipe: Pipe): void {
    const { pipeId } = pipe.body;
    this.#pipes.delete(pipeId);
    for (const node of [pipe.body.a.node, pipe.body.b.node]) {
      const ids = this.#byNode.get(node);
      ids?.delete(pipeId);
      if (ids?.size === 0) this.#byNode.delete(node);
      const own = this.#endpoints.get(node);
      own?.delete(pipeId);
      if (own?.size === 0) this.#endpoints.delete(node);
    }
    this.#changed = true;
    this.#options.log.info({ pipe: pipeId }, 'pipe removed');
  }

  #emitIfChanged(): void {
    if (!this.#changed) return;
    this.#changed = false;
    this.emit('change');
  }
}

function sameEndpoints(
  previous: ReadonlyMap<string, Endpoint> | undefined,
  next: ReadonlyMap<string, Endpoint>,
): boolean {
  if ((previous?.size ?? 0) !== next.size) return false;
  for (const [pipeId, endpoint] of next) {
    const before = previous?.get(pipeId);
    // One suite exists (PIPE_SRTP_SUITE): the address and the key say it all.
    if (before?.address !== endpoint.address || before.srtp.keyBase64 !== endpoint.srtp.keyBase64) {
      return false;
    }
  }
  return true;
}

function endViewOf(end: PipeEnd): PipeEndView {
  return {
    node: end.node,
    identity: end.identity,
    address: end.address ?? null,
    keyed: end.srtp !== undefined,
  };
}

function viewOf(pipe: Pipe): PipeView {
  return {
    pipeId: pipe.body.pipeId,
    room: pipe.body.room,
    a: endViewOf(pipe.body.a),
    b: endViewOf(pipe.body.b),
    since: new Date(pipe.sinceMs).toISOString(),
    state: pipe.restored ? 'restored' : 'active',
  };
}
