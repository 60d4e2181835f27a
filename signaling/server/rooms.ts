/**
 * Conferencing rooms: a room is one mediasoup Router from the WorkerPool,
 * created on the first join and closed when its last peer leaves. A room whose
 * worker died is dropped and its peers told to reconnect.
 *
 * A room may span signaling nodes (issue 18, signaling/CASCADE.md). The
 * Router here serves this node's members (local); the members and producers
 * of other nodes are held beside them (RemoteRoster), fed by the cascade,
 * and are in join answers and events exactly as local ones are. Local
 * changes are emitted as typed events (RoomsEvents) for the cascade to carry
 * to the other nodes. A room lives while it has local members: when the last
 * one leaves, its Router closes even if other nodes still hold the room, so
 * this node reports it no more and its pipes go.
 *
 * A member whose join is not answered yet gets no event: its answer lists
 * the room as it is when it is sent, and events after that.
 */
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { StreammeshError, errorMessage } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import type { ErrorCode, EventName } from '../protocol/index.js';
import type { LostRouter, WorkerPool } from '../sfu/index.js';
import { roomMediaCodecs } from './codecs.js';
import {
  RemoteRoster,
  type RemoteProducer,
  type RemoteProducerInput,
  type RosterChange,
} from './remote-roster.js';
import type { BudgetLease, WebRtcBudget } from './webrtc-budget.js';
import { doorFacts, type DoorFacts, type NodeDirectory } from './door.js';

/**
 * Producers per member of another node a room takes (audio, video, screen
 * and a few simulcast-free spares); other nodes' producers past
 * maxPeersPerRoom times this are left out (RemoteRoster).
 */
export const MAX_REMOTE_PRODUCERS_PER_PEER = 8;

/** What a room needs of a connected peer. */
export interface RoomMember {
  readonly peer: string;
  readonly displayName: string | undefined;
  notify(event: EventName, data: unknown): void;
  /** The room is gone (its worker died): forget it without a leave. */
  dropped(): void;
  /**
   * Not shown to the others (no peerJoined, not in join answers or syncs):
   * a WHEP viewer that holds a room here so it is cascaded (door.ts). It
   * counts against maxPeersPerNode and keeps the room open like any member.
   */
  readonly hidden?: boolean;
}

export interface RoomsOptions {
  readonly pool: WorkerPool;
  readonly maxPeersPerRoom: number;
  /** A room's members on this node at most (signaling.maxPeersPerNode); default: maxPeersPerRoom. */
  readonly maxPeersPerNode?: number;
  readonly log: Logger;
  /** Rooms are created within its `rooms` budget, charged to the source of the first join. */
  readonly budget?: WebRtcBudget;
}

/**
 * What the cascade does for rooms that span nodes (RoomCascade). Without
 * one, rooms are this node's alone.
 */
export interface RoomSpan {
  /**
   * Resolves once the room's members on other nodes are known, or the wait
   * is over: a join answer then lists them. Never rejects.
   */
  settle(room: string): Promise<void>;
  /** Pipes producer `producerId` of node `origin` into the room's Router here. */
  pipeIn(room: string, origin: string, producerId: string): Promise<types.Producer>;
}

/** A peer as join answers and peerJoined events name it. */
export interface PeerInfo {
  readonly peer: string;
  readonly displayName: string | null;
}

/** The local changes of the rooms, for the cascade to carry to other nodes. */
export interface RoomsEvents {
  /** The room's Router exists: the room is held here from now on. */
  'room-created': [room: string, router: types.Router<RoomAppData>];
  /** The room's last local member left (or its worker died): its Router is closed. */
  'room-closed': [room: string];
  'peer-joined': [room: string, peer: PeerInfo];
  'peer-left': [room: string, peer: string];
  'producer-added': [room: string, producer: ProducerInfo];
  'producer-paused': [room: string, producerId: string];
  'producer-resumed': [room: string, producerId: string];
  'producer-closed': [room: string, producerId: string];
}

/** A join refused; `code` is the protocol error code the client gets. */
export class RoomError extends StreammeshError {
  declare readonly code: ErrorCode;

  // Not useless: it narrows `code` to the protocol's codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: ErrorCode, message: string) {
    super(code, message);
  }
}

export interface RoomAppData extends types.AppData {
  room: string;
}

/** A Producer published into a room, by a WebSocket peer or a WHIP client. */
export interface RoomProducer {
  readonly producer: types.Producer;
  readonly peer: string;
}

/** How a producer is described to clients (newProducer, join answers). */
export interface ProducerInfo {
  readonly peer: string;
  readonly producerId: string;
  readonly kind: types.MediaKind;
  readonly paused: boolean;
  readonly appData: types.AppData;
}

/** What a join waits for beyond the Router. */
export interface JoinOptions {
  /** Wait for the room's members on other nodes (RoomSpan.settle): the join answer lists them. */
  readonly awaitRemote?: boolean;
}

function describeProducer(entry: RoomProducer): ProducerInfo {
  return {
    peer: entry.peer,
    producerId: entry.producer.id,
    kind: entry.producer.kind,
    paused: entry.producer.paused,
    appData: entry.producer.appData,
  };
}

function describeRemote(entry: RemoteProducer): ProducerInfo {
  return {
    peer: entry.peer,
    producerId: entry.producerId,
    kind: entry.kind,
    paused: entry.paused,
    appData: entry.appData,
  };
}

interface Room {
  readonly name: string;
  /** Local members, by peer. */
  readonly members: Map<string, RoomMember>;
  /** Local members whose join is not answered yet: they get no event. */
  readonly waiting: Set<RoomMember>;
  /** Local members the room's events have named (peer-joined emitted). */
  readonly announced: Set<RoomMember>;
  /** Local producers by id; entries leave when the Producer closes. */
  readonly producers: Map<string, RoomProducer>;
  /** Members and producers on other nodes. */
  readonly remote: RemoteRoster;
  /** Settles once the Router exists (or failed to). */
  readonly router: Promise<types.Router<RoomAppData>>;
  /** Set once created; undefined while the Router is being created. */
  created: types.Router<RoomAppData> | undefined;
  workerIndex: number | undefined;
  /** The room's slot of the rooms budget, given back when the room is gone. */
  readonly lease: BudgetLease | undefined;
}

export class Rooms extends EventEmitter<RoomsEvents> {
  readonly #options: RoomsOptions;
  readonly #rooms = new Map<string, Room>();
  readonly #log: Logger;
  #maxPeersPerRoom: number;
  #maxPeersPerNode: number;
  #span: RoomSpan | undefined;
  #directory: NodeDirectory | undefined;

  constructor(options: RoomsOptions) {
    super();
    this.#options = options;
    this.#maxPeersPerRoom = options.maxPeersPerRoom;
    this.#maxPeersPerNode = options.maxPeersPerNode ?? options.maxPeersPerRoom;
    this.#log = options.log.child({ component: 'signaling-rooms' });
    options.pool.on('worker-died', this.#onWorkerDied);
  }

  get size(): number {
    return this.#rooms.size;
  }

  /** Local members of every room. */
  get peers(): number {
    let count = 0;
    for (const room of this.#rooms.values()) count += room.members.size;
    return count;
  }

  /** Bounds the whole room: its members here and on other nodes. */
  set maxPeersPerRoom(value: number) {
    this.#maxPeersPerRoom = value;
  }

  get maxPeersPerRoom(): number {
    return this.#maxPeersPerRoom;
  }

  /** Bounds a room's members on this node. */
  set maxPeersPerNode(value: number) {
    this.#maxPeersPerNode = value;
  }

  get maxPeersPerNode(): number {
    return this.#maxPeersPerNode;
  }

  /** The cascade (set once, when the node runs one). */
  set span(span: RoomSpan | undefined) {
    this.#span = span;
  }

  get span(): RoomSpan | undefined {
    return this.#span;
  }

  /** The signaling nodes, for the doors (door.ts); unset outside a mesh (no doors). */
  set directory(directory: NodeDirectory | undefined) {
    this.#directory = directory;
  }

  get directory(): NodeDirectory | undefined {
    return this.#directory;
  }

  /** The doors' facts of a request for `room` now (door.ts); undefined outside a mesh. */
  doorFacts(room: string): DoorFacts | undefined {
    const directory = this.#directory;
    return directory === undefined
      ? undefined
      : doorFacts(directory, room, this.localPeerCount(room), this.maxPeersPerNode);
  }

  /** The room's members on this node (joining ones included). */
  localPeerCount(roomName: string): number {
    return this.#rooms.get(roomName)?.members.size ?? 0;
  }

  /**
   * Adds `member` to `roomName`, creating the room's Router on the first join
   * (within the rooms budget of `source`, the member's address, before any
   * Router is made). Throws RoomError (limit_exceeded, already_joined,
   * internal) or OverBudgetError.
   */
  async join(
    roomName: string,
    member: RoomMember,
    source: string,
    options: JoinOptions = {},
  ): Promise<types.Router<RoomAppData>> {
    let room = this.#rooms.get(roomName);
    if (room === undefined) {
      room = this.#create(roomName, this.#options.budget?.take('rooms', source));
    } else {
      if (room.members.size + room.remote.peers.size >= this.#maxPeersPerRoom) {
        throw new RoomError(
          'limit_exceeded',
          `room ${roomName} is full (${this.#maxPeersPerRoom} peers)`,
        );
      }
      if (room.members.size >= this.#maxPeersPerNode) {
        throw new RoomError(
          'limit_exceeded',
          `room ${roomName} has ${this.#maxPeersPerNode} peers on this node (maxPeersPerNode)`,
        );
      }
      if (room.members.has(member.peer) || room.remote.peers.has(member.peer)) {
        throw new RoomError('already_joined', `peer ${member.peer} is already in room ${roomName}`);
      }
    }
    room.members.set(member.peer, member);
    if (options.awaitRemote === true) room.waiting.add(member);
    let router: types.Router<RoomAppData>;
    try {
      router = await room.router;
    } catch (error) {
      this.leave(roomName, member);
      throw new RoomError(
        'internal',
        `room ${roomName} could not be created: ${errorMessage(error)}`,
      );
    }
    this.#checkStillIn(room, member);
    if (member.hidden !== true) {
      room.announced.add(member);
      const info: PeerInfo = { peer: member.peer, displayName: member.displayName ?? null };
      this.#tell(room, 'peerJoined', info, member);
      this.#emit('peer-joined', roomName, info);
    }
    if (options.awaitRemote === true) {
      await this.#span?.settle(roomName);
      this.#checkStillIn(room, member);
      room.waiting.delete(member);
    }
    return router;
  }

  /** The room's Router, once created; undefined for no such room. */
  async router(roomName: string): Promise<types.Router<RoomAppData> | undefined> {
    return this.#rooms.get(roomName)?.router;
  }

  /** The room's Router if it exists now (no wait). */
  createdRouter(roomName: string): types.Router<RoomAppData> | undefined {
    return this.#rooms.get(roomName)?.created;
  }

  /** The pool index of the worker hosting the room, once its Router exists. */
  workerIndex(roomName: string): number | undefined {
    return this.#rooms.get(roomName)?.workerIndex;
  }

  /** The peers of a room other than `peer`, here and on other nodes, for a join answer. */
  peersOf(roomName: string, peer: string): PeerInfo[] {
    const room = this.#rooms.get(roomName);
    if (room === undefined) return [];
    const local = [...room.members.values()]
      .filter((member) => member.peer !== peer && member.hidden !== true)
      .map((member) => ({ peer: member.peer, displayName: member.displayName ?? null }));
    const remote = [...room.remote.peers.values()].map((entry) => ({
      peer: entry.peer,
      displayName: entry.displayName,
    }));
    return [...local, ...remote];
  }

  /** The local producers of a room (mediasoup Producers on its Router here). */
  producers(roomName: string): readonly RoomProducer[] {
    return [...(this.#rooms.get(roomName)?.producers.values() ?? [])];
  }

  /** The producers of a room, here and on other nodes, not published by `peer`, as clients see them. */
  producerInfos(roomName: string, exceptPeer?: string): ProducerInfo[] {
    const room = this.#rooms.get(roomName);
    if (room === undefined) return [];
    const local = [...room.producers.values()]
      .filter((entry) => entry.peer !== exceptPeer)
      .map(describeProducer);
    const remote = [...room.remote.producers.values()]
      .filter((entry) => entry.peer !== exceptPeer)
      .map(describeRemote);
    return [...local, ...remote];
  }

  /** The rooms held here, with their local members and producers (the node's RoomReports). */
  localCounts(): { room: string; peers: number; producers: number }[] {
    return [...this.#rooms.values()]
      .filter((room) => room.created !== undefined)
      .map((room) => ({
        room: room.name,
        peers: room.members.size,
        producers: room.producers.size,
      }));
  }

  /** The local members of a room, as a `sync` names them. */
  localPeers(roomName: string): PeerInfo[] {
    const room = this.#rooms.get(roomName);
    if (room === undefined) return [];
    return [...room.announced].map((member) => ({
      peer: member.peer,
      displayName: member.displayName ?? null,
    }));
  }

  /** The local producers of a room, as clients see them. */
  localProducerInfos(roomName: string): ProducerInfo[] {
    return this.producers(roomName).map(describeProducer);
  }

  /** A local producer of the room, or undefined. */
  localProducer(roomName: string, producerId: string): types.Producer | undefined {
    return this.#rooms.get(roomName)?.producers.get(producerId)?.producer;
  }

  /** Whether `node` has members in the room here (as it told this node). */
  hasRemotePeers(roomName: string, node: string): boolean {
    const room = this.#rooms.get(roomName);
    if (room === undefined) return false;
    for (const entry of room.remote.peers.values()) if (entry.node === node) return true;
    return false;
  }

  /** A producer of another node in the room, or undefined. */
  remoteProducer(roomName: string, producerId: string): RemoteProducer | undefined {
    return this.#rooms.get(roomName)?.remote.producers.get(producerId);
  }

  /**
   * Makes `producerId` consumable on the room's Router here: a remote
   * producer is piped in from its node first (the cascade). Nothing for a
   * local or unknown one (consuming an unknown one is refused as before).
   * Throws RoomError('not_found') when a remote one cannot be piped in.
   */
  async ensureProducer(roomName: string, producerId: string): Promise<void> {
    const room = this.#rooms.get(roomName);
    if (room === undefined || room.producers.has(producerId)) return;
    const remote = room.remote.producers.get(producerId);
    const span = this.#span;
    if (remote === undefined || span === undefined) return;
    try {
      await span.pipeIn(roomName, remote.node, producerId);
    } catch (error) {
      throw new RoomError(
        'not_found',
        `producer ${producerId} (on node ${remote.node}) cannot be consumed here: ${errorMessage(error)}`,
      );
    }
  }

  /**
   * A local producer and, when it is on another node, that one piped in
   * first; undefined for none. For WHEP viewers of a room.
   */
  async consumable(roomName: string, producerId: string): Promise<types.Producer | undefined> {
    const local = this.localProducer(roomName, producerId);
    if (local !== undefined) return local;
    const remote = this.remoteProducer(roomName, producerId);
    if (remote === undefined || this.#span === undefined) return undefined;
    return this.#span.pipeIn(roomName, remote.node, producerId);
  }

  /**
   * Publishes `producer` (already created on the room's Router) in the room:
   * the other members get newProducer now, and producerPaused,
   * producerResumed and producerClosed as it changes. Closing the producer
   * unpublishes it.
   */
  addProducer(roomName: string, member: RoomMember, producer: types.Producer): void {
    const room = this.#rooms.get(roomName);
    if (room?.members.get(member.peer) !== member) {
      producer.close();
      return;
    }
    const entry: RoomProducer = { producer, peer: member.peer };
    room.producers.set(producer.id, entry);
    const info = describeProducer(entry);
    this.#tell(room, 'newProducer', info, member);
    this.#emit('producer-added', roomName, info);
    const ids = { peer: member.peer, producerId: producer.id };
    producer.observer.on('pause', () => {
      this.#tell(room, 'producerPaused', ids, member);
      if (room.producers.has(producer.id)) this.#emit('producer-paused', roomName, producer.id);
    });
    producer.observer.on('resume', () => {
      this.#tell(room, 'producerResumed', ids, member);
      if (room.producers.has(producer.id)) this.#emit('producer-resumed', roomName, producer.id);
    });
    producer.observer.once('close', () => {
      if (!room.producers.delete(producer.id)) return;
      this.#tell(room, 'producerClosed', ids, member);
      if (this.#rooms.get(roomName) === room) this.#emit('producer-closed', roomName, producer.id);
    });
  }

  /** Removes `member`; tells the others; closes the Router when no local member is left. */
  leave(roomName: string, member: RoomMember): void {
    const room = this.#rooms.get(roomName);
    if (room?.members.get(member.peer) !== member) return;
    room.members.delete(member.peer);
    room.waiting.delete(member);
    if (room.announced.delete(member)) {
      this.#tell(room, 'peerLeft', { peer: member.peer });
      this.#emit('peer-left', roomName, member.peer);
    }
    if (room.members.size > 0) return;
    this.#rooms.delete(roomName);
    room.lease?.release();
    if (room.created !== undefined) this.#emit('room-closed', roomName);
    room.router.then(
      (router) => {
        router.close();
        this.#log.info({ room: roomName }, 'room closed');
      },
      () => undefined,
    );
  }

  // The remote side, as the cascade hears it from node `node`.

  remotePeerJoined(roomName: string, node: string, peer: PeerInfo): RosterChange[] {
    const room = this.#rooms.get(roomName);
    // A local member of that id is this node's: the other node's is not shown.
    if (room === undefined || room.members.has(peer.peer)) return [];
    return this.#apply(room, room.remote.joinPeer(node, peer.peer, peer.displayName));
  }

  remotePeerLeft(roomName: string, node: string, peer: string): RosterChange[] {
    const room = this.#rooms.get(roomName);
    return room === undefined ? [] : this.#apply(room, room.remote.leavePeer(node, peer));
  }

  remoteProducerAdded(
    roomName: string,
    node: string,
    producer: RemoteProducerInput,
  ): RosterChange[] {
    const room = this.#rooms.get(roomName);
    if (room === undefined || room.producers.has(producer.producerId)) return [];
    return this.#apply(room, room.remote.addProducer(node, producer));
  }

  remoteProducerPaused(
    roomName: string,
    node: string,
    producerId: string,
    paused: boolean,
  ): RosterChange[] {
    const room = this.#rooms.get(roomName);
    return room === undefined
      ? []
      : this.#apply(room, room.remote.setPaused(node, producerId, paused));
  }

  remoteProducerClosed(roomName: string, node: string, producerId: string): RosterChange[] {
    const room = this.#rooms.get(roomName);
    return room === undefined ? [] : this.#apply(room, room.remote.closeProducer(node, producerId));
  }

  /** `node`'s whole share of the room (a `sync`); answers the changes made. */
  remoteSync(
    roomName: string,
    node: string,
    peers: readonly PeerInfo[],
    producers: readonly RemoteProducerInput[],
  ): RosterChange[] {
    const room = this.#rooms.get(roomName);
    if (room === undefined) return [];
    const changes = room.remote.sync(
      node,
      peers.filter((entry) => !room.members.has(entry.peer)),
      producers.filter((entry) => !room.producers.has(entry.producerId)),
    );
    return this.#apply(room, changes);
  }

  /** `node` is gone for the room: its members leave, its producers close. */
  dropRemote(roomName: string, node: string): RosterChange[] {
    const room = this.#rooms.get(roomName);
    if (room === undefined) return [];
    return this.#apply(room, room.remote.drop(node));
  }

  /** Stops listening to the pool; the pool's close() closes the Routers. */
  close(): void {
    this.#options.pool.off('worker-died', this.#onWorkerDied);
    for (const room of this.#rooms.values()) room.lease?.release();
    this.#rooms.clear();
  }

  #checkStillIn(room: Room, member: RoomMember): void {
    if (this.#rooms.get(room.name) !== room || room.members.get(member.peer) !== member) {
      throw new RoomError('internal', `room ${room.name} was closed while joining; join again`);
    }
  }

  /** Tells the local members whose join is answered, `except` aside. */
  #tell(room: Room, event: EventName, data: unknown, except?: RoomMember): void {
    for (const member of room.members.values()) {
      if (member !== except && !room.waiting.has(member)) member.notify(event, data);
    }
  }

  /** Tells the local members of `changes`; answers them. */
  #apply(room: Room, changes: RosterChange[]): RosterChange[] {
    for (const change of changes) {
      switch (change.event) {
        case 'peerJoined':
          this.#tell(room, 'peerJoined', {
            peer: change.peer.peer,
            displayName: change.peer.displayName,
          });
          break;
        case 'peerLeft':
          this.#tell(room, 'peerLeft', { peer: change.peer.peer });
          break;
        case 'newProducer':
          this.#tell(room, 'newProducer', describeRemote(change.producer));
          break;
        default:
          this.#tell(room, change.event, {
            peer: change.producer.peer,
            producerId: change.producer.producerId,
          });
      }
    }
    return changes;
  }

  #create(name: string, lease: BudgetLease | undefined): Room {
    const router = this.#options.pool
      .createRouter<RoomAppData>(roomMediaCodecs, { room: name })
      .then((placed) => {
        room.created = placed.router;
        room.workerIndex = placed.workerIndex;
        this.#log.info(
          { room: name, router: placed.router.id, worker: placed.workerIndex },
          'room created',
        );
        // Emptied while the Router was made: leave() closes it, no one is told.
        if (this.#rooms.get(name) === room) this.#emit('room-created', name, placed.router);
        return placed.router;
      });
    // Handled by every joiner; this keeps an unawaited rejection quiet.
    router.catch(() => undefined);
    const room: Room = {
      name,
      members: new Map(),
      waiting: new Set(),
      announced: new Set(),
      producers: new Map(),
      remote: new RemoteRoster({
        maxPeers: () => this.#maxPeersPerRoom,
        maxProducers: () => this.#maxPeersPerRoom * MAX_REMOTE_PRODUCERS_PER_PEER,
      }),
      router,
      created: undefined,
      workerIndex: undefined,
      lease,
    };
    this.#rooms.set(name, room);
    return room;
  }

  /** Emits without letting a listener's exception reach the caller. */
  #emit<E extends keyof RoomsEvents>(event: E, ...args: RoomsEvents[E]): void {
    try {
      // Node's typed emit cannot relate a generic E to its argument tuple.
      (this.emit as (event: E, ...args: RoomsEvents[E]) => boolean)(event, ...args);
    } catch (error) {
      this.#log.error({ event, err: error }, 'rooms listener threw');
    }
  }

  /**
   * Every room goes at once (a drain's deadline passed): its members are
   * dropped and told to `reconnect` (a WHIP publisher's session ends), and
   * its Router closes with every transport on it (so do WHEP sessions).
   * Answers how many members were dropped.
   */
  dropAll(reason: string): number {
    let dropped = 0;
    for (const room of [...this.#rooms.values()]) {
      dropped += room.members.size;
      this.#drop(room, reason);
      room.router.then(
        (router) => {
          router.close();
        },
        () => undefined,
      );
    }
    if (dropped > 0) this.#log.info({ dropped, reason }, 'rooms closed; peers told to reconnect');
    return dropped;
  }

  readonly #onWorkerDied = (index: number, _error: Error, lost: readonly LostRouter[]): void => {
    const lostIds = new Set(lost.map((entry) => entry.router.id));
    for (const room of [...this.#rooms.values()]) {
      if (room.created === undefined || !lostIds.has(room.created.id)) continue;
      this.#log.warn(
        { room: room.name, worker: index, peers: room.members.size },
        'room lost with its worker; peers told to reconnect',
      );
      this.#drop(room, 'the SFU worker hosting the room died');
    }
  };

  /** The room is gone: its members forget it without a leave and are told to `reconnect`. */
  #drop(room: Room, reason: string): void {
    this.#rooms.delete(room.name);
    room.lease?.release();
    if (room.created !== undefined) this.#emit('room-closed', room.name);
    for (const member of room.members.values()) {
      member.dropped();
      member.notify('reconnect', { room: room.name, reason });
    }
  }
}
