/**
 * Rooms that span signaling nodes (issue 18; signaling/CASCADE.md): the glue
 * between this node's Rooms, the control plane's PIPE resources, the pipes
 * (PipeSet, one per room) and the cascade links to the other nodes.
 *
 * - Report: the rooms held here with their local peers and producers
 *   (`reports()`, MeshNode `rooms`), again on every change; the control
 *   plane makes a PIPE for each pair of nodes reporting the same room.
 * - PIPE appears for a room held here: our end is opened (a PipeTransport
 *   on the room's Router) and reported (`pipeEndpoints()`); once the PIPE
 *   holds the peer's end, ours connects to it. The room's local roster and
 *   producers go to the peer node as a `sync`. A PIPE removed: its pipe
 *   closes and what that node had in the room leaves.
 * - Local changes (Rooms events) go to every node the room is shared with;
 *   the other nodes' messages change the room's remote members, and the
 *   local members are told as of local ones.
 * - A remote producer is piped in when first consumed here (one copy per
 *   node pair, concurrent consumes share it), once our end of the pipe is
 *   connected: pipeRequest to its node, whose pipeOut answers pipeReady; pause, resume and close are mirrored on the
 *   copy (mediasoup does not carry them). A copy no consumer has used for
 *   pipeLingerMs closes, and its node is told (`unpipe`).
 * - A link session ends ('down': the node died or the link broke): what
 *   the node had in every room leaves and its pipes close, and stay closed
 *   (the PIPE may still name an end that is gone) until the next session
 *   ('up') opens them again and syncs. The link goes (disconnect) when no
 *   PIPE names the node any more. A transport of ours made again for a
 *   pipe (room made again, new session) does not connect to the peer end
 *   its predecessor had: a PipeTransport connects once, so the peer makes a
 *   new end, which we wait for (bounded), rather than both ends replacing
 *   each other and what crossed them.
 * - Joins (RoomSpan.settle): the first join of a room here waits, bounded,
 *   until every node the room is shared with has synced, when some node may
 *   hold the room (it has a home, and this node is not alone), so the join
 *   answer lists the whole room; later changes come as events.
 *
 * Messages are trusted only for the rooms a PIPE says are shared (the links
 * drop others, counted not_member), and a node changes only what it
 * reported (RemoteRoster): a message of a room held here naming a peer or
 * producer of this node's, another node's producer, or nothing the sender
 * holds (a leave, a pause, a close, a pipe request) is left without effect
 * and counted not_owner (`#claimsOnlyItsOwn`).
 *
 * A `sync` can be lost to the PIPE check when it arrives before the PIPE
 * does here, and a room made again on the other node (its last member left
 * and one came back while the PIPE stayed) needs our share again: a `sync`
 * is answered with ours when it is the first from that node for the room
 * (in this link session, or since its last member left), or when ours did
 * not go lately, so both sides converge and the exchange ends.
 */
import type { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { pipeEndsOf, pipeResourceName, type PipeBody } from '../../src/config/index.js';
import { errorMessage, StreammeshError } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import type { PipeEndpoint as ReportedPipeEnd, RoomReport } from '../../src/protocol/mesh/index.js';
import type {
  PeerInfo,
  ProducerInfo,
  RoomAppData,
  Rooms,
  RoomsEvents,
  RoomSpan,
  RosterChange,
} from '../server/index.js';
import type { RtcSettings } from '../sfu/index.js';
import type { LinkMessage, LinkMessageOf } from './link-messages.js';
import type { CascadeLinks } from './links.js';
import { sameEndpoint, type PipeEndpoint } from './pipe-endpoint.js';
import { PipeSet, type PipeSetStats } from './pipe-set.js';
import { RoomCopies } from './room-copies.js';
import { roomSyncMessages, syncPeer, type SyncProducer } from './room-sync.js';

/** The PIPE resources this node holds (MeshNode `pipes`). */
export interface PipeSource {
  list(): PipeBody[];
  get(pipeId: string): PipeBody | undefined;
  onChange(listener: () => void): () => void;
}

export interface RoomCascadeOptions {
  /** This node's id. */
  readonly node: string;
  readonly rooms: Rooms;
  readonly links: CascadeLinks;
  readonly pipes: PipeSource;
  /** The room's home node (PLACEMENT room/<name>), if the control plane placed it. */
  readonly homeOf: (room: string) => string | undefined;
  /** Whether the mesh has other signaling nodes (SIGNALING_NODE entries) that could hold a room. */
  readonly otherNodes: () => boolean;
  readonly rtc: Pick<RtcSettings, 'listenIp' | 'announcedAddress'>;
  /** signaling.cascade.pipeLingerMs, read when a copy loses its last consumer. */
  readonly pipeLingerMs: () => number;
  /** The room set changed: report it (MeshNode.roomsChanged). */
  readonly roomsChanged: () => void;
  /** Our pipe ends changed: report them (MeshNode.pipeEndpointsChanged). */
  readonly pipeEndpointsChanged: () => void;
  readonly log: Logger;
  /** How long a room's first join here waits for its other nodes to sync (default JOIN_SETTLE_MS). */
  readonly joinSettleMs?: number;
  /** How long a pipeRequest waits for its answer (default PIPE_REQUEST_TIMEOUT_MS). */
  readonly pipeRequestTimeoutMs?: number;
  /** Milliseconds, for when a sync went (default Date.now). */
  readonly now?: () => number;
}

/**
 * The first join of a room here waits this long at most for the other
 * nodes' `sync` (a report, a PIPE push, a link and a message: well under a
 * second on one network); a room whose home is kept while no node reports
 * it (the control plane's linger) costs that first join this much.
 */
export const JOIN_SETTLE_MS = 2_000;
export const PIPE_REQUEST_TIMEOUT_MS = 5_000;
/** How long a new pipe end of ours waits for the peer's new end before taking its old one. */
export const TAINT_MS = 2_000;
/** A `sync` is answered with ours unless ours went this recently (see #received). */
export const SYNC_ANSWER_WINDOW_MS = 2_000;

export type RoomCascadeErrorCode =
  /** The room has no pipe to the producer's node (yet). */
  | 'ERR_CASCADE_NOT_SHARED'
  /** The producer's node answered pipeRefused. */
  | 'ERR_CASCADE_PIPE_REFUSED'
  /** The room closed here while the producer was being piped in. */
  | 'ERR_CASCADE_CLOSED'
  /** Our end of the pipe to the producer's node did not connect in time. */
  | 'ERR_CASCADE_NOT_CONNECTED';

/** A remote producer could not be piped in. */
export class RoomCascadeError extends StreammeshError {
  declare readonly code: RoomCascadeErrorCode;

  // Not useless: it narrows `code` to this class's codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: RoomCascadeErrorCode, message: string) {
    super(code, message);
  }
}

/** A pipe this node acts on: a PIPE of a room held here. */
interface KnownPipe {
  readonly pipeId: string;
  readonly room: string;
  readonly peer: string;
}

const key = (a: string, b: string): string => `${a}\n${b}`;

export class RoomCascade implements RoomSpan {
  readonly #options: RoomCascadeOptions;
  readonly #log: Logger;
  readonly #routers = new Map<string, types.Router<RoomAppData>>();
  readonly #sets = new Map<string, PipeSet>();
  /** By pipe id. */
  readonly #known = new Map<string, KnownPipe>();
  /** peer + room: a `sync` came from the peer for the room in this link session. */
  readonly #synced = new Set<string>();
  /** peer + room: when our last `sync` of the room went to the peer. */
  readonly #syncSentAt = new Map<string, number>();
  /** Rooms whose first join here has settled: later joins do not wait. */
  readonly #settledOnce = new Set<string>();
  /** By room: joins waiting for its remote members (settle). */
  readonly #settling = new Map<string, Set<() => void>>();
  /** room + producer id: pipe-ins under way or done. */
  readonly #pipingIn = new Map<string, Promise<types.Producer>>();
  readonly #copies: RoomCopies;
  /**
   * Nodes whose link session ended and has not come back: their pipes stay
   * closed (the PIPE may still name an end that is gone) until the link is
   * up again, or the PIPEs go.
   */
  readonly #down = new Set<string>();
  /** By pipe id: lookups waiting for our end of the pipe to connect (#whenConnected). */
  readonly #connecting = new Map<string, Set<() => void>>();
  /** By pipe id: the peer end our previous transport of the pipe had (#taint). */
  readonly #taints = new Map<
    string,
    { readonly end: PipeEndpoint; readonly at: number; retry: NodeJS.Timeout | undefined }
  >();
  /** Nodes this node holds a PIPE with: their links are released when the last one goes. */
  readonly #linked = new Set<string>();
  readonly #unsubscribe: (() => void)[] = [];
  #closed = false;

  constructor(options: RoomCascadeOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'room-cascade' });
    this.#copies = new RoomCopies({
      lingerMs: options.pipeLingerMs,
      unused: (room, origin, producerId) => {
        this.#log.debug({ room, producerId, origin }, 'piped-in producer unused: closed');
        this.#sets.get(room)?.closePipedIn(producerId);
        options.links.send(origin, { type: 'unpipe', room, producerId });
      },
    });
    const { rooms, links } = options;
    const on = <E extends keyof RoomsEvents>(
      event: E,
      handler: (...args: RoomsEvents[E]) => void,
    ): void => {
      const listener = handler as (...args: unknown[]) => void;
      (rooms as EventEmitter).on(event, listener);
      this.#unsubscribe.push(() => (rooms as EventEmitter).off(event, listener));
    };
    on('room-created', (room, router) => {
      this.#routers.set(room, router);
      this.#copies.follow(room, router);
      options.roomsChanged();
      this.#reconcile();
    });
    on('room-closed', (room) => {
      this.#roomClosed(room);
    });
    on('peer-joined', (room, peer) => {
      options.roomsChanged();
      this.#broadcast(room, { type: 'peerJoined', room, ...syncPeer(peer) });
    });
    on('peer-left', (room, peer) => {
      options.roomsChanged();
      this.#broadcast(room, { type: 'peerLeft', room, peer });
    });
    on('producer-added', (room, producer) => {
      options.roomsChanged();
      this.#broadcast(room, { type: 'producerAdded', room, ...linkProducer(producer) });
    });
    on('producer-paused', (room, producerId) => {
      this.#broadcast(room, { type: 'producerPaused', room, producerId });
    });
    on('producer-resumed', (room, producerId) => {
      this.#broadcast(room, { type: 'producerResumed', room, producerId });
    });
    on('producer-closed', (room, producerId) => {
      options.roomsChanged();
      this.#broadcast(room, { type: 'producerClosed', room, producerId });
    });
    const onMessage = (node: string, message: LinkMessage): void => {
      this.#received(node, message);
    };
    const onUp = (node: string): void => {
      this.#linkUp(node);
    };
    const onDown = (node: string): void => {
      this.#linkDown(node);
    };
    links.on('message', onMessage);
    links.on('up', onUp);
    links.on('down', onDown);
    this.#unsubscribe.push(
      () => links.off('message', onMessage),
      () => links.off('up', onUp),
      () => links.off('down', onDown),
      options.pipes.onChange(() => {
        this.#reconcile();
      }),
    );
    rooms.span = this;
    this.#reconcile();
  }

  /** Whether `room` is shared with `node` now: a PIPE between the two nodes (CascadeLinks `shares`). */
  static sharesBy(pipes: PipeSource, ownNode: string): (node: string, room: string) => boolean {
    return (node, room) => pipes.get(pipeResourceName(room, ownNode, node)) !== undefined;
  }

  /** The rooms held here, with their local peers and producers (RoomReports). */
  reports(): RoomReport[] {
    return this.#options.rooms.localCounts();
  }

  /** Our ends of every pipe (PipeEndpoints). */
  pipeEndpoints(): ReportedPipeEnd[] {
    const ends: ReportedPipeEnd[] = [];
    for (const set of this.#sets.values()) {
      for (const end of set.endpoints()) {
        if (!this.#known.has(end.pipeId)) continue;
        ends.push({
          pipeId: end.pipeId,
          address: end.endpoint.address,
          srtpCryptoSuite: end.endpoint.srtp.cryptoSuite,
          srtpKeyBase64: end.endpoint.srtp.keyBase64,
        });
      }
    }
    return ends;
  }

  /** Each room's pipes and what crosses them (no keys). */
  stats(): PipeSetStats[] {
    return [...this.#sets.values()].map((set) => set.stats());
  }

  /**
   * A room no node has reported (no home placed) is new, and a node alone in
   * the mesh shares no room: nothing to wait for. Otherwise some node
   * reported the room lately: wait until this node holds
   * PIPEs of the room and every one of those nodes has synced, or
   * joinSettleMs (a home kept while no node reports the room, lingerMs,
   * costs a join that much).
   */
  settle(room: string): Promise<void> {
    if (this.#settledOnce.has(room)) return Promise.resolve();
    if (
      this.#closed ||
      !this.#options.otherNodes() ||
      this.#options.homeOf(room) === undefined ||
      this.#settled(room)
    ) {
      this.#settledOnce.add(room);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let waiters = this.#settling.get(room);
      if (waiters === undefined) {
        waiters = new Set();
        this.#settling.set(room, waiters);
      }
      const held = waiters;
      const done = (): void => {
        clearTimeout(timer);
        held.delete(done);
        if (held.size === 0 && this.#settling.get(room) === held) this.#settling.delete(room);
        // Later joins answer with what is known: the rest comes as events.
        if (this.#routers.has(room)) this.#settledOnce.add(room);
        resolve();
      };
      const timer = setTimeout(done, this.#options.joinSettleMs ?? JOIN_SETTLE_MS);
      timer.unref();
      held.add(done);
    });
  }

  /** Whether the room is shared with some node and every one of them has synced it. */
  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  #settled(room: string): boolean {
    const peers = [...this.#known.values()].filter((pipe) => pipe.room === room);
    return peers.length > 0 && peers.every((pipe) => this.#synced.has(key(pipe.peer, room)));
  }

  /** Joins waiting for the room's remote members go on once it is settled. */
  #wakeSettled(room: string): void {
    const waiters = this.#settling.get(room);
    if (waiters === undefined || !this.#settled(room)) return;
    for (const done of [...waiters]) done();
  }

  pipeIn(room: string, origin: string, producerId: string): Promise<types.Producer> {
    const copyKey = key(room, producerId);
    const pending = this.#pipingIn.get(copyKey);
    if (pending !== undefined) return pending;
    const piped = this.#pipeIn(room, origin, producerId);
    this.#pipingIn.set(copyKey, piped);
    piped.then(
      (producer) => {
        producer.observer.once('close', () => {
          if (this.#pipingIn.get(copyKey) === piped) this.#pipingIn.delete(copyKey);
        });
      },
      () => {
        if (this.#pipingIn.get(copyKey) === piped) this.#pipingIn.delete(copyKey);
      },
    );
    return piped;
  }

  /**
   * The directory changed (SIGNALING_NODE entries): a `sync` sent to a node
   * the directory did not name yet was dropped unsent, so each room shared
   * with a node whose link is not up is synced again (which dials it).
   */
  directoryChanged(): void {
    if (this.#closed) return;
    for (const pipe of this.#known.values()) {
      if (!this.#options.links.isUp(pipe.peer)) this.#sendSync(pipe.peer, pipe.room);
    }
  }

  /** Stops following rooms, PIPEs and links; closes every pipe (the Routers stay). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    if (this.#options.rooms.span === this) this.#options.rooms.span = undefined;
    for (const set of this.#sets.values()) set.close();
    this.#sets.clear();
    this.#known.clear();
    this.#copies.close();
    for (const taint of this.#taints.values()) clearTimeout(taint.retry);
    this.#taints.clear();
    for (const waiters of this.#settling.values()) for (const done of [...waiters]) done();
  }

  async #pipeIn(room: string, origin: string, producerId: string): Promise<types.Producer> {
    const set = this.#sets.get(room);
    if (set === undefined || !this.#sharedWith(origin, room)) {
      throw new RoomCascadeError(
        'ERR_CASCADE_NOT_SHARED',
        `room ${room} has no pipe to node ${origin} yet`,
      );
    }
    // A copy is made on our current transport, from a pipe Consumer the
    // origin makes on the transport ours is connected to: until both are
    // paired, the origin's may be one it is about to replace (its Consumer,
    // and the SSRCs our copy would expect, would go with it).
    const timeoutMs = this.#options.pipeRequestTimeoutMs ?? PIPE_REQUEST_TIMEOUT_MS;
    await this.#whenConnected(set, room, origin, timeoutMs);
    const reply = await this.#options.links.request(origin, { room, producerId }, timeoutMs);
    if (reply.type === 'pipeRefused') {
      throw new RoomCascadeError(
        'ERR_CASCADE_PIPE_REFUSED',
        `node ${origin} refused to pipe ${producerId}: ${reply.reason}`,
      );
    }
    if (this.#sets.get(room) !== set) {
      throw new RoomCascadeError('ERR_CASCADE_CLOSED', `room ${room} closed meanwhile`);
    }
    const remote = this.#options.rooms.remoteProducer(room, producerId);
    const producer = await set.pipeIn(origin, {
      producerId,
      kind: reply.kind,
      rtpParameters: reply.rtpParameters as unknown as types.RtpParameters,
      paused: reply.paused,
      appData: { peer: remote?.peer ?? origin, origin },
    });
    // The producer may have closed or paused at its node while this one was made.
    const now = this.#options.rooms.remoteProducer(room, producerId);
    if (now === undefined || now.node !== origin) {
      set.closePipedIn(producerId);
      throw new RoomCascadeError('ERR_CASCADE_CLOSED', `producer ${producerId} closed meanwhile`);
    }
    if (now.paused !== producer.paused) {
      await (now.paused ? set.pausePipedIn(producerId) : set.resumePipedIn(producerId));
    }
    this.#copies.add(room, origin, producer);
    this.#log.debug({ room, origin, producerId }, 'producer piped in');
    return producer;
  }

  /** Resolves once our end of the pipe to `peer` is connected; rejects after `timeoutMs`. */
  #whenConnected(set: PipeSet, room: string, peer: string, timeoutMs: number): Promise<void> {
    const pipeId = pipeResourceName(room, this.#options.node, peer);
    if (set.stats().pipes.some((pipe) => pipe.peer === peer && pipe.connected)) {
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiters = this.#connecting.get(pipeId) ?? new Set<() => void>();
      this.#connecting.set(pipeId, waiters);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.#connecting.get(pipeId) === waiters) {
          this.#connecting.delete(pipeId);
        }
      };
      const connected = (): void => {
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new RoomCascadeError(
            'ERR_CASCADE_NOT_CONNECTED',
            `the pipe of room ${room} to node ${peer} did not connect within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      timer.unref();
      waiters.add(connected);
    });
  }

  #wakeConnected(pipeId: string): void {
    for (const connected of [...(this.#connecting.get(pipeId) ?? [])]) connected();
  }

  /** Brings the pipes in line with the PIPEs held and the rooms held here. */
  #reconcile(): void {
    if (this.#closed) return;
    const own = this.#options.node;
    const wanted = new Map<string, { body: PipeBody; peer: string }>();
    for (const body of this.#options.pipes.list()) {
      const ends = pipeEndsOf(body, own);
      if (ends === undefined || !this.#routers.has(body.room)) continue;
      wanted.set(body.pipeId, { body, peer: ends.peer.node });
    }
    let endsChanged = false;
    for (const pipe of [...this.#known.values()]) {
      if (wanted.has(pipe.pipeId)) continue;
      this.#forgetPipe(pipe);
      endsChanged = true;
    }
    for (const [pipeId, { body, peer }] of wanted) {
      // Opened again when the link is (CascadeLinks redials a link that broke).
      if (this.#down.has(peer)) continue;
      const set = this.#setOf(body.room);
      if (set === undefined) continue;
      const fresh = !this.#known.has(pipeId);
      if (fresh) {
        this.#known.set(pipeId, { pipeId, room: body.room, peer });
        endsChanged = true;
      }
      // A pipe refused (no port in the pipes' share) is tried again here.
      if (fresh || !set.has(peer)) {
        set.open(peer, pipeId).then(
          () => {
            this.#options.pipeEndpointsChanged();
          },
          (error: unknown) => {
            this.#log.warn({ pipe: pipeId, err: errorMessage(error) }, 'pipe could not be opened');
          },
        );
      }
      if (fresh) this.#sendSync(peer, body.room);
      this.#connect(set, body, peer);
    }
    if (endsChanged) this.#options.pipeEndpointsChanged();
    this.#releaseLinks();
    for (const room of this.#settling.keys()) this.#wakeSettled(room);
  }

  /**
   * Links to nodes with which no PIPE is held any more are released (a
   * PIPE of a room closed here keeps its link until the control plane
   * withdraws it: the peer may still send about it meanwhile).
   */
  #releaseLinks(): void {
    const own = this.#options.node;
    const peers = new Set<string>();
    for (const body of this.#options.pipes.list()) {
      const peer = pipeEndsOf(body, own)?.peer.node;
      if (peer !== undefined) peers.add(peer);
    }
    for (const peer of this.#linked) {
      if (peers.has(peer)) continue;
      this.#linked.delete(peer);
      this.#options.links.disconnect(peer);
    }
    for (const peer of peers) this.#linked.add(peer);
    // A released link (or a node gone for good) is no session to wait for.
    for (const peer of this.#down) if (!peers.has(peer)) this.#down.delete(peer);
  }

  #setOf(room: string): PipeSet | undefined {
    const existing = this.#sets.get(room);
    if (existing !== undefined && !existing.closed) return existing;
    const router = this.#routers.get(room);
    if (router === undefined || router.closed) return undefined;
    const set = new PipeSet({
      router,
      room,
      node: this.#options.node,
      rtc: this.#options.rtc,
      log: this.#options.log,
    });
    set.on('endpoint', () => {
      this.#options.pipeEndpointsChanged();
    });

    set.once('close', () => {
      if (this.#sets.get(room) === set) this.#sets.delete(room);
    });
    this.#sets.set(room, set);
    return set;
  }

  /** Connects our end once the PIPE holds the peer's (the same end again changes nothing). */
  #connect(set: PipeSet, body: PipeBody, peer: string): void {
    const ends = pipeEndsOf(body, this.#options.node);
    const theirs = ends?.peer;
    if (theirs?.address === undefined || theirs.srtp === undefined) return;
    const end = { address: theirs.address, srtp: theirs.srtp };
    if (this.#tainted(body.pipeId, end)) return;
    const mine = ends?.own;
    const ownEnd =
      mine?.address === undefined || mine.srtp === undefined
        ? undefined
        : { address: mine.address, srtp: mine.srtp };
    set.connect(peer, end, { ownEnd }).then(
      (result) => {
        if (result.recreated) this.#options.pipeEndpointsChanged();
        if (result.state === 'connected') this.#wakeConnected(body.pipeId);
      },
      (error: unknown) => {
        this.#log.warn(
          { pipe: body.pipeId, err: errorMessage(error) },
          'pipe could not be connected',
        );
      },
    );
  }

  /**
   * Whether `end` is the peer end our previous transport of this pipe had
   * (see #taint): the peer has to make a new one, which we wait for. After
   * TAINT_MS we connect to it anyway: a peer that never connected to our
   * previous end keeps its own, and nothing else would come.
   */
  #tainted(pipeId: string, end: PipeEndpoint): boolean {
    const taint = this.#taints.get(pipeId);
    if (taint === undefined) return false;
    if (!sameEndpoint(taint.end, end) || this.#now() - taint.at >= TAINT_MS) {
      this.#taints.delete(pipeId);
      return false;
    }
    if (taint.retry === undefined) {
      taint.retry = setTimeout(() => {
        this.#reconcile();
      }, TAINT_MS);
      taint.retry.unref();
    }
    return true;
  }

  /**
   * Our transport of `pipe` is closing while the peer's stays: the peer end
   * in the PIPE now was (or is about to be) connected to it, and a
   * PipeTransport connects once, so the peer makes a new end when it sees
   * ours change. Our next transport must not connect to the old one (both
   * would then make theirs again, closing what crossed them meanwhile).
   */
  #taint(pipe: KnownPipe): void {
    const body = this.#options.pipes.get(pipe.pipeId);
    const peerEnd = body === undefined ? undefined : pipeEndsOf(body, this.#options.node)?.peer;
    const previous = this.#taints.get(pipe.pipeId);
    clearTimeout(previous?.retry);
    if (peerEnd?.address === undefined || peerEnd.srtp === undefined) {
      this.#taints.delete(pipe.pipeId);
      return;
    }
    this.#taints.set(pipe.pipeId, {
      end: { address: peerEnd.address, srtp: peerEnd.srtp },
      at: this.#now(),
      retry: undefined,
    });
  }

  /** The pipe is gone (PIPE removed, or the link session ended): what its node had leaves. */
  #forgetPipe(pipe: KnownPipe): void {
    this.#taint(pipe);
    this.#known.delete(pipe.pipeId);
    this.#synced.delete(key(pipe.peer, pipe.room));
    this.#syncSentAt.delete(key(pipe.peer, pipe.room));
    this.#mirror(pipe.room, this.#options.rooms.dropRemote(pipe.room, pipe.peer));
    const set = this.#sets.get(pipe.room);
    if (set !== undefined) {
      set.closePeer(pipe.peer).catch((error: unknown) => {
        this.#log.warn({ pipe: pipe.pipeId, err: errorMessage(error) }, 'pipe close failed');
      });
    }
  }

  #roomClosed(room: string): void {
    this.#routers.delete(room);
    this.#settledOnce.delete(room);
    this.#sets.get(room)?.close();
    this.#sets.delete(room);
    for (const pipe of [...this.#known.values()]) {
      if (pipe.room !== room) continue;
      this.#taint(pipe);
      this.#known.delete(pipe.pipeId);
      this.#synced.delete(key(pipe.peer, room));
      this.#syncSentAt.delete(key(pipe.peer, room));
    }
    this.#copies.forgetRoom(room);
    this.#options.roomsChanged();
    this.#options.pipeEndpointsChanged();
  }

  #sharedWith(peer: string, room: string): boolean {
    return this.#known.has(pipeResourceName(room, this.#options.node, peer));
  }

  /** Sends `message` to every node the room is shared with. */
  #broadcast(room: string, message: LinkMessage): void {
    if (this.#closed) return;
    for (const pipe of this.#known.values()) {
      if (pipe.room === room) this.#options.links.send(pipe.peer, message);
    }
  }

  #sendSync(peer: string, room: string): void {
    this.#syncSentAt.set(key(peer, room), this.#now());
    const messages = roomSyncMessages(
      room,
      this.#options.rooms.localPeers(room).map(syncPeer),
      this.#options.rooms.localProducerInfos(room).map(linkProducer),
    );
    for (const message of messages) this.#options.links.send(peer, message);
  }

  #linkUp(node: string): void {
    if (this.#closed) return;
    this.#down.delete(node);
    // Pipes closed when the last session ended are opened again first.
    this.#reconcile();
    for (const pipe of this.#known.values()) {
      if (pipe.peer === node) this.#sendSync(node, pipe.room);
    }
  }

  #linkDown(node: string): void {
    if (this.#closed) return;
    this.#down.add(node);
    let changed = false;
    for (const pipe of [...this.#known.values()]) {
      if (pipe.peer !== node) continue;
      this.#forgetPipe(pipe);
      changed = true;
    }
    if (changed) this.#options.pipeEndpointsChanged();
  }

  #received(node: string, message: LinkMessage): void {
    if (this.#closed) return;
    const { rooms } = this.#options;
    // Entries it does not hold are left alone below (RemoteRoster); counted here.
    if (!this.#claimsOnlyItsOwn(node, message)) this.#options.links.ignored('not_owner');
    switch (message.type) {
      case 'sync': {
        if (!this.#sharedWith(node, message.room)) return;
        const changes = rooms.remoteSync(
          message.room,
          node,
          message.peers.map(peerInfo),
          message.producers.map(producerInput),
        );
        this.#mirror(message.room, changes);
        const syncKey = key(node, message.room);
        const first = !this.#synced.has(syncKey);
        this.#synced.add(syncKey);
        const sentAt = this.#syncSentAt.get(syncKey);
        // Answered when it is the node's first (ours may have been dropped
        // there, sent before its PIPE arrived), or when ours is not recent
        // (its room was made again and knows nothing of ours). Two recent
        // syncs each way end the exchange.
        if (first || sentAt === undefined || this.#now() - sentAt > SYNC_ANSWER_WINDOW_MS) {
          this.#sendSync(node, message.room);
        }
        this.#wakeSettled(message.room);
        return;
      }
      case 'peerJoined':
        rooms.remotePeerJoined(message.room, node, peerInfo(message));
        return;
      case 'peerLeft': {
        const left = rooms.remotePeerLeft(message.room, node, message.peer);
        // No change: the peer was not the sender's (its own, or it never said so).
        if (left.length === 0 && this.#routers.has(message.room) && !this.#isLocalPeer(message)) {
          this.#options.links.ignored('not_owner');
        }
        this.#mirror(message.room, left);
        if (!rooms.hasRemotePeers(message.room, node)) {
          // Its last member left: its room there closes, and one made again
          // knows nothing of ours, so its next sync is answered as a first.
          this.#synced.delete(key(node, message.room));
          this.#syncSentAt.delete(key(node, message.room));
        }
        return;
      }
      case 'producerAdded':
        rooms.remoteProducerAdded(message.room, node, producerInput(message));
        return;
      case 'producerPaused':
      case 'producerResumed': {
        const paused = message.type === 'producerPaused';
        this.#mirror(
          message.room,
          rooms.remoteProducerPaused(message.room, node, message.producerId, paused),
        );
        return;
      }
      case 'producerClosed':
        this.#mirror(
          message.room,
          rooms.remoteProducerClosed(message.room, node, message.producerId),
        );
        return;
      case 'pipeRequest':
        this.#answerPipeRequest(node, message);
        return;
      case 'unpipe':
        this.#sets.get(message.room)?.unpipeOut(node, message.producerId);
        return;
      case 'pipeReady':
      case 'pipeRefused':
      case 'ping':
      case 'pong':
        return;
    }
  }

  /**
   * Whether `message` names only what its sender may speak of: none of this
   * node's members or producers, no other node's producer; a pause, resume
   * or close names no producer another node (or this one) holds, a pipe
   * request none of another node's. A producer no one holds here passes:
   * it is an honest race as often as not (closed here while the request or
   * the close was on its way, or a close after the sender's peerLeft), and
   * changes nothing. Messages of a room not held here (closed meanwhile)
   * pass too. A peer another node holds is left alone by RemoteRoster but
   * not told apart here (Rooms shows no remote peer's node).
   */
  #claimsOnlyItsOwn(node: string, message: LinkMessage): boolean {
    if (!('room' in message) || !this.#routers.has(message.room)) return true;
    const { rooms } = this.#options;
    const room = message.room;
    const local = new Set(rooms.localPeers(room).map((peer) => peer.peer));
    const foreignProducer = (producerId: string): boolean => {
      if (rooms.localProducer(room, producerId) !== undefined) return true;
      const remote = rooms.remoteProducer(room, producerId);
      return remote !== undefined && remote.node !== node;
    };
    switch (message.type) {
      case 'sync':
        return (
          !message.peers.some((peer) => local.has(peer.peer)) &&
          !message.producers.some((producer) => foreignProducer(producer.producerId))
        );
      case 'peerJoined':
      case 'peerLeft':
        return !local.has(message.peer);
      case 'producerAdded':
        return !local.has(message.peer) && !foreignProducer(message.producerId);
      case 'producerPaused':
      case 'producerResumed':
      case 'producerClosed':
        return !foreignProducer(message.producerId);
      case 'pipeRequest': {
        const remote = rooms.remoteProducer(room, message.producerId);
        return remote === undefined || rooms.localProducer(room, message.producerId) !== undefined;
      }
      default:
        return true;
    }
  }

  #isLocalPeer(message: { readonly room: string; readonly peer: string }): boolean {
    return this.#options.rooms.localPeers(message.room).some((peer) => peer.peer === message.peer);
  }

  /** Remote producers that closed, paused or resumed: the copies here follow. */
  #mirror(room: string, changes: readonly RosterChange[]): void {
    const set = this.#sets.get(room);
    if (set === undefined) return;
    for (const change of changes) {
      if (!('producer' in change)) continue;
      const { producerId } = change.producer;
      const failed = (error: unknown): void => {
        this.#log.warn({ room, producerId, err: errorMessage(error) }, 'mirroring failed');
      };
      if (change.event === 'producerClosed') set.closePipedIn(producerId);
      else if (change.event === 'producerPaused') set.pausePipedIn(producerId).catch(failed);
      else if (change.event === 'producerResumed') set.resumePipedIn(producerId).catch(failed);
    }
  }

  #answerPipeRequest(node: string, message: LinkMessageOf<'pipeRequest'>): void {
    const { room, producerId, id } = message;
    const refuse = (reason: string): void => {
      this.#options.links.send(node, { type: 'pipeRefused', id, room, producerId, reason });
    };
    const set = this.#sets.get(room);
    if (set === undefined || !this.#sharedWith(node, room)) {
      refuse('the room has no pipe to you here');
      return;
    }
    if (this.#options.rooms.localProducer(room, producerId) === undefined) {
      refuse('no such producer here');
      return;
    }
    set.pipeOut(node, producerId).then(
      (out) => {
        this.#log.debug({ room, peer: node, producerId }, 'producer piped out');
        this.#options.links.send(node, {
          type: 'pipeReady',
          id,
          room,
          producerId,
          kind: out.kind,
          rtpParameters: out.rtpParameters as unknown as Record<string, unknown>,
          paused: out.paused,
        });
      },
      (error: unknown) => {
        refuse(errorMessage(error).slice(0, 200));
      },
    );
  }
}

/** A producer's fields as the link carries them. */
function linkProducer(producer: ProducerInfo): SyncProducer {
  return {
    peer: producer.peer,
    producerId: producer.producerId,
    kind: producer.kind,
    paused: producer.paused,
    appData: jsonAppData(producer.appData),
  };
}

/** appData as JSON can carry it (a client's appData is JSON already; anything else is left out). */
function jsonAppData(appData: types.AppData): SyncProducer['appData'] {
  try {
    return JSON.parse(JSON.stringify(appData)) as SyncProducer['appData'];
  } catch {
    return {};
  }
}

function peerInfo(entry: { readonly peer: string; readonly displayName: string | null }): PeerInfo {
  return { peer: entry.peer, displayName: entry.displayName };
}

function producerInput(entry: {
  readonly peer: string;
  readonly producerId: string;
  readonly kind: types.MediaKind;
  readonly paused: boolean;
  readonly appData?: Record<string, unknown> | undefined;
}): {
  peer: string;
  producerId: string;
  kind: types.MediaKind;
  paused: boolean;
  appData: types.AppData;
} {
  return {
    peer: entry.peer,
    producerId: entry.producerId,
    kind: entry.kind,
    paused: entry.paused,
    appData: entry.appData ?? {},
  };
}
