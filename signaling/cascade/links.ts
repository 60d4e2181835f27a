/**
 * The cascade links of one signaling node (issue 18): a direct WebSocket
 * to each other signaling node it shares a room with, carrying room events
 * (link-messages.ts) both ways. The control plane is the directory
 * (SIGNALING_NODE entries, through `lookup`) and the key holder; it is not
 * on this path, so a control-plane restart interrupts no room and a new
 * producer costs one node-to-node hop.
 *
 * - On demand: send() and request() open the link if there is none, and
 *   hold a bounded queue of messages until it is up. Once wanted, a link
 *   that drops is redialed with backoff while `lookup` knows the peer,
 *   unless the peer released it (disconnect() on its side) or this node did.
 * - One link per node pair: if both nodes dial at once, the link the lower
 *   node id dialed is kept (the lower node answers the other's dial 409
 *   while its own is under way; the higher takes the lower's dial and drops
 *   its own). A dial from a node whose link this node thinks is still up
 *   replaces it: the peer knows its side is gone.
 * - Sessions: 'up' when a link to a node opens, 'down' when it is gone;
 *   a replaced link is a 'down' then an 'up'. Whatever the room logic knows
 *   of a peer node is valid for one session: on 'up' it sends `sync`, on
 *   'down' it drops the peer's remote members and pipe producers. Requests
 *   in flight when a link goes down fail (LinkDownError): their reply would
 *   come on a link that no longer exists.
 * - Queued messages are sent, in order, before 'up' is emitted; they are
 *   dropped (counted) when the peer is no longer known or released.
 */
import { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import type { WebSocket } from 'ws';
import type { HostPort } from '../../src/shared/address.js';
import { Backoff } from '../../src/shared/backoff.js';
import { systemClock, type Clock } from '../../src/shared/clock.js';
import { errorMessage } from '../../src/shared/errors.js';
import {
  MeshCredentials,
  type WorkloadCertificates,
  type WorkloadIdentitySource,
} from '../../src/shared/identity/index.js';
import type { Logger } from '../../src/shared/log.js';
import type { RateLimit } from '../../src/shared/rate-limit/index.js';
import { dialLink, LinkDialError } from './link-client.js';
import { LINK_CLOSE, LinkConnection } from './link-connection.js';
import {
  LinkDownError,
  LinkRequestTimeoutError,
  LinksClosedError,
  UnknownLinkNodeError,
} from './link-errors.js';
import type { LinkMessage, LinkMessageOf, PipeReply } from './link-messages.js';
import { registerLinkMetrics, type LinkMetrics } from './link-metrics.js';
import type { LinkPeerLookup } from './link-peer-check.js';
import { LinkServer } from './link-server.js';

export interface CascadeLinksEvents {
  /** A message from `node` (pings, pongs and replies to this node's requests aside). */
  message: [node: string, message: LinkMessage];
  /** A link (a session) with `node` opened. */
  up: [node: string];
  /** The session with `node` ended. */
  down: [node: string];
}

export interface CascadeLinksOptions {
  readonly ownNode: string;
  /** signaling.cascade.listen. */
  readonly listen: HostPort;
  /** The node's workload identity; none when controlPlane.mtls is off (plaintext: tests only). */
  readonly identity?: WorkloadIdentitySource | undefined;
  /** The SIGNALING_NODE entry of a node, or undefined when there is none. */
  readonly lookup: LinkPeerLookup;
  /**
   * Whether `room` is shared with `node` (a PIPE between the two nodes):
   * a message about another room is dropped and counted (not_member), so a
   * peer node cannot reach into rooms it has no part in. None: every room.
   */
  readonly shares?: (node: string, room: string) => boolean;
  readonly log: Logger;
  readonly metrics: Registry;
  /** A ping this often; a link missing MAX_MISSED_PONGS answers in a row is ended. */
  readonly heartbeatMs?: number;
  readonly maxMissedPongs?: number;
  /** Frames a peer may send per link. */
  readonly rate?: RateLimit;
  /** Messages held per node while its link is not up. */
  readonly maxQueued?: number;
  /** Redial delays (full jitter). */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  readonly dialTimeoutMs?: number;
  readonly clock?: Clock;
}

export const DEFAULT_LINK_HEARTBEAT_MS = 1_000;
export const DEFAULT_MAX_MISSED_PONGS = 3;
/** Room events come in bursts (a room's sync, a page of producers): generous, but bounded. */
export const DEFAULT_LINK_RATE: RateLimit = { perSecond: 500, burst: 2_000 };
export const DEFAULT_MAX_QUEUED = 1_000;
export const DEFAULT_LINK_BACKOFF = { baseMs: 100, maxMs: 5_000 } as const;
export const DEFAULT_DIAL_TIMEOUT_MS = 5_000;

/** What this node holds about one peer node. */
interface Peer {
  readonly node: string;
  connection: LinkConnection | undefined;
  /** The dial under way: a later one (or none) makes its result stale. */
  dial: symbol | undefined;
  retry: NodeJS.Timeout | undefined;
  readonly backoff: Backoff;
  readonly queue: LinkMessage[];
  /** Whether to redial after the link drops. */
  wanted: boolean;
}

interface PendingRequest {
  readonly node: string;
  readonly room: string;
  readonly producerId: string;
  readonly timer: NodeJS.Timeout;
  resolve(reply: PipeReply): void;
  reject(error: Error): void;
}

export class CascadeLinks extends EventEmitter<CascadeLinksEvents> {
  readonly #options: CascadeLinksOptions;
  readonly #log: Logger;
  readonly #peers = new Map<string, Peer>();
  readonly #pending = new Map<number, PendingRequest>();
  readonly #metrics: LinkMetrics;
  readonly #credentials: MeshCredentials | undefined;
  readonly #onRenewed = (certificates: WorkloadCertificates): void => {
    this.#update(certificates);
  };
  #server: LinkServer | undefined;
  #nextRequestId = 1;
  #closed = false;

  constructor(options: CascadeLinksOptions) {
    super();
    this.#options = options;
    this.#log = options.log.child({ component: 'cascade-links' });
    this.#metrics = registerLinkMetrics(options.metrics, () => this.upNodes().length);
    if (options.identity !== undefined) {
      this.#credentials = new MeshCredentials();
      const current = options.identity.current();
      if (current !== undefined) this.#update(current);
      options.identity.on('renewed', this.#onRenewed);
    }
  }

  /** Starts the listener; resolves to the address it listens on (the port, when 0 was asked). */
  async listen(): Promise<HostPort> {
    if (this.#closed) throw new LinksClosedError();
    if (this.#server !== undefined) throw new Error('the cascade links listen already');
    this.#server = new LinkServer({
      listen: this.#options.listen,
      ownNode: this.#options.ownNode,
      credentials: this.#credentials,
      lookup: this.#options.lookup,
      metrics: this.#metrics,
      registry: this.#options.metrics,
      log: this.#log,
      admits: (node) => this.#admits(node),
      onLink: (node, socket) => {
        this.#adopt(node, socket, false);
      },
    });
    return this.#server.listen();
  }

  /** Nodes with a link up now. */
  upNodes(): string[] {
    return [...this.#peers.values()]
      .filter((peer) => peer.connection !== undefined)
      .map((peer) => peer.node);
  }

  isUp(node: string): boolean {
    return this.#peers.get(node)?.connection !== undefined;
  }

  /**
   * A message this link delivered that the room logic ignored because it
   * names what the sender does not hold: counted with the link's drops.
   */
  ignored(reason: 'not_owner'): void {
    this.#metrics.dropped(reason);
  }

  /**
   * Sends `message` to `node`: at once when the link is up, else queued
   * (bounded; the oldest goes first) and the link opened. Never throws; a
   * message that cannot go is counted.
   */
  send(node: string, message: LinkMessage): void {
    if (this.#closed) return;
    if (node === this.#options.ownNode || this.#options.lookup(node) === undefined) {
      this.#metrics.dropped('send_undelivered');
      return;
    }
    const peer = this.#peer(node);
    peer.wanted = true;
    const connection = peer.connection;
    if (connection !== undefined) {
      this.#sendOn(connection, message);
      return;
    }
    if (peer.queue.length >= (this.#options.maxQueued ?? DEFAULT_MAX_QUEUED)) {
      peer.queue.shift();
      this.#metrics.dropped('send_queue_full');
    }
    peer.queue.push(message);
    this.#dial(peer);
  }

  /**
   * Asks `node` to pipe one of its producers here: resolves to its
   * pipeReady or pipeRefused; rejects when no reply comes in time
   * (LinkRequestTimeoutError), the link goes down first (LinkDownError), or
   * the node is unknown (UnknownLinkNodeError).
   */
  request(
    node: string,
    message: Omit<LinkMessageOf<'pipeRequest'>, 'id' | 'type'>,
    timeoutMs: number,
  ): Promise<PipeReply> {
    if (this.#closed) return Promise.reject(new LinksClosedError());
    if (node === this.#options.ownNode || this.#options.lookup(node) === undefined) {
      return Promise.reject(new UnknownLinkNodeError(node));
    }
    const id = this.#nextRequestId;
    this.#nextRequestId = id >= Number.MAX_SAFE_INTEGER ? 1 : id + 1;
    return new Promise<PipeReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new LinkRequestTimeoutError(node, timeoutMs));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { node, ...message, timer, resolve, reject });
      this.send(node, {
        type: 'pipeRequest',
        id,
        room: message.room,
        producerId: message.producerId,
      });
    });
  }

  /**
   * The directory changed (SIGNALING_NODE entries): links to nodes it no
   * longer has, or has under another identity than the link was made with,
   * are closed, and what was queued for a node it no longer has is dropped.
   */
  refresh(): void {
    for (const peer of [...this.#peers.values()]) {
      const entry = this.#options.lookup(peer.node);
      const connection = peer.connection;
      if (connection !== undefined && entry?.identity !== connection.identity) {
        this.#log.info({ node: peer.node }, 'cascade link peer left the directory');
        this.#end(peer);
        connection.close(LINK_CLOSE.unknown, 'unknown peer');
        // Redialed (under the new identity) by #redialLater if the entry is still there.
        this.#redialLater(peer);
      } else if (entry === undefined) {
        this.#forget(peer);
      }
    }
  }

  /**
   * Closes the link to `node` (no room shared any more) and stops
   * redialing it; the peer is told not to redial either. A later send()
   * opens it again.
   */
  disconnect(node: string): void {
    const peer = this.#peers.get(node);
    if (peer === undefined) return;
    peer.wanted = false;
    this.#stopDialing(peer);
    this.#dropQueue(peer);
    const connection = peer.connection;
    if (connection !== undefined) {
      this.#end(peer);
      connection.close(LINK_CLOSE.released, 'released');
    }
    this.#peers.delete(node);
  }

  /** Closes every link (each peer sees 'going away' and redials later) and the listener. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.identity?.off('renewed', this.#onRenewed);
    for (const peer of this.#peers.values()) {
      this.#stopDialing(peer);
      this.#dropQueue(peer);
      const connection = peer.connection;
      if (connection !== undefined) {
        this.#end(peer);
        connection.close(LINK_CLOSE.goingAway, 'closing');
      }
    }
    this.#peers.clear();
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      this.#pending.delete(id);
      pending.reject(new LinksClosedError());
    }
    await this.#server?.close();
  }

  #update(certificates: WorkloadCertificates): void {
    try {
      this.#credentials?.update(certificates);
    } catch (error) {
      // The last good set stays in force.
      this.#log.error({ err: errorMessage(error) }, 'cascade link: unusable workload certificate');
    }
  }

  #peer(node: string): Peer {
    let peer = this.#peers.get(node);
    if (peer === undefined) {
      peer = {
        node,
        connection: undefined,
        dial: undefined,
        retry: undefined,
        backoff: new Backoff(this.#options.backoff ?? DEFAULT_LINK_BACKOFF),
        queue: [],
        wanted: false,
      };
      this.#peers.set(node, peer);
    }
    return peer;
  }

  /** Whether a dial from `node` may become its link now (the one-link-per-pair rule). */
  #admits(node: string): boolean {
    if (this.#closed) return false;
    const peer = this.#peers.get(node);
    if (peer === undefined || this.#options.ownNode > node) return true;
    // This node is the lower id: its own dial, under way or up, is the one kept.
    return peer.dial === undefined && peer.connection?.dialed !== true;
  }

  #dial(peer: Peer): void {
    if (this.#closed || peer.connection !== undefined || peer.dial !== undefined) return;
    if (peer.retry !== undefined) return;
    const entry = this.#options.lookup(peer.node);
    if (entry === undefined) {
      this.#forget(peer);
      return;
    }
    const dial = Symbol(peer.node);
    peer.dial = dial;
    const listen = this.#options.listen.host;
    dialLink({
      ownNode: this.#options.ownNode,
      node: peer.node,
      entry,
      credentials: this.#credentials,
      localAddress: listen === '0.0.0.0' || listen === '::' ? undefined : listen,
      timeoutMs: this.#options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
    }).then(
      (socket) => {
        if (peer.dial !== dial || this.#closed || this.#peers.get(peer.node) !== peer) {
          discard(socket, 'not needed');
          return;
        }
        peer.dial = undefined;
        this.#adopt(peer.node, socket, true);
      },
      (error: unknown) => {
        if (peer.dial !== dial) return;
        peer.dial = undefined;
        const reason = error instanceof LinkDialError ? error.reason : 'closed';
        this.#metrics.dialFailed(reason);
        this.#log.debug(
          { node: peer.node, reason, err: errorMessage(error) },
          'cascade dial failed',
        );
        this.#redialLater(peer);
      },
    );
  }

  #redialLater(peer: Peer): void {
    if (this.#closed || !peer.wanted || this.#peers.get(peer.node) !== peer) return;
    if (this.#options.lookup(peer.node) === undefined) {
      this.#forget(peer);
      return;
    }
    if (peer.retry !== undefined) return;
    peer.retry = setTimeout(() => {
      peer.retry = undefined;
      this.#dial(peer);
    }, peer.backoff.next());
    peer.retry.unref();
  }

  #stopDialing(peer: Peer): void {
    peer.dial = undefined;
    clearTimeout(peer.retry);
    peer.retry = undefined;
  }

  /** The peer is gone from the directory: nothing queued for it can go. */
  #forget(peer: Peer): void {
    this.#stopDialing(peer);
    this.#dropQueue(peer);
    if (peer.connection === undefined) this.#peers.delete(peer.node);
  }

  #dropQueue(peer: Peer): void {
    for (let i = 0; i < peer.queue.length; i += 1) this.#metrics.dropped('send_undelivered');
    peer.queue.length = 0;
  }

  /** A link to `node` opened (dialed by this node or by the peer). */
  #adopt(node: string, socket: WebSocket, dialed: boolean): void {
    if (this.#closed || (!dialed && !this.#admits(node))) {
      discard(socket, 'duplicate');
      return;
    }
    const peer = this.#peer(node);
    peer.wanted = true;
    // A dial of this node's own still under way is not needed any more.
    this.#stopDialing(peer);
    const previous = peer.connection;
    if (previous !== undefined) {
      this.#end(peer);
      previous.close(LINK_CLOSE.replaced, 'replaced');
    }
    const connection: LinkConnection = new LinkConnection({
      node,
      // What the peer was just checked against (its certificate, by the server or the dialer).
      identity: this.#options.lookup(node)?.identity ?? null,
      socket,
      dialed,
      heartbeatMs: this.#options.heartbeatMs ?? DEFAULT_LINK_HEARTBEAT_MS,
      maxMissedPongs: this.#options.maxMissedPongs ?? DEFAULT_MAX_MISSED_PONGS,
      rate: this.#options.rate ?? DEFAULT_LINK_RATE,
      now: () => (this.#options.clock ?? systemClock).now(),
      log: this.#log,
      onMessage: (message) => {
        this.#received(node, message);
      },
      onDrop: (reason) => {
        this.#metrics.dropped(reason);
      },
      onClose: (code) => {
        if (peer.connection !== connection) return;
        this.#end(peer);
        this.#log.info({ node, code }, 'cascade link down');
        if (code === LINK_CLOSE.released) {
          peer.wanted = false;
          this.#dropQueue(peer);
          return;
        }
        this.#redialLater(peer);
      },
    });
    peer.connection = connection;
    peer.backoff.reset();
    this.#log.info({ node, dialed }, 'cascade link up');
    for (const queued of peer.queue.splice(0)) this.#sendOn(connection, queued);
    this.#emit('up', node);
  }

  /** Ends the session with `peer` (its connection is closing or closed). */
  #end(peer: Peer): void {
    if (peer.connection === undefined) return;
    peer.connection = undefined;
    for (const [id, pending] of this.#pending) {
      if (pending.node !== peer.node) continue;
      clearTimeout(pending.timer);
      this.#pending.delete(id);
      pending.reject(new LinkDownError(peer.node));
    }
    this.#emit('down', peer.node);
  }

  #sendOn(connection: LinkConnection, message: LinkMessage): void {
    const sent = connection.send(message);
    if (sent === 'too_large') {
      this.#metrics.dropped('send_too_large');
      this.#log.error({ node: connection.node, type: message.type }, 'cascade message too large');
    }
  }

  #received(node: string, message: LinkMessage): void {
    this.#metrics.received(message.type);
    if (message.type === 'pipeReady' || message.type === 'pipeRefused') {
      const pending = this.#pending.get(message.id);
      if (
        pending === undefined ||
        pending.node !== node ||
        pending.room !== message.room ||
        pending.producerId !== message.producerId
      ) {
        this.#metrics.dropped('unexpected_reply');
        return;
      }
      clearTimeout(pending.timer);
      this.#pending.delete(message.id);
      pending.resolve(message);
      return;
    }
    const { shares } = this.#options;
    if (shares !== undefined && 'room' in message && !shares(node, message.room)) {
      this.#metrics.dropped('not_member');
      return;
    }
    this.#emit('message', node, message);
  }

  /** Emits without letting a listener's exception reach the socket code. */
  #emit<E extends keyof CascadeLinksEvents>(event: E, ...args: CascadeLinksEvents[E]): void {
    try {
      (this.emit as (event: E, ...args: CascadeLinksEvents[E]) => boolean)(event, ...args);
    } catch (error) {
      this.#log.error({ event, err: errorMessage(error) }, 'cascade link listener threw');
    }
  }
}

/** Closes a socket that will not become a link; nothing listens to it any more, so errors are moot. */
function discard(socket: WebSocket, reason: string): void {
  socket.on('error', () => undefined);
  socket.close(LINK_CLOSE.replaced, reason);
}
