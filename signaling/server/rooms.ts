/**
 * Conferencing rooms: a room is one mediasoup Router from the WorkerPool,
 * created on the first join and closed when its last peer leaves. A room whose
 * worker died is dropped and its peers told to reconnect.
 */
import type { types } from 'mediasoup';
import { StreammeshError, errorMessage } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import type { ErrorCode, EventName } from '../protocol/index.js';
import type { LostRouter, WorkerPool } from '../sfu/index.js';
import { roomMediaCodecs } from './codecs.js';
import type { BudgetLease, WebRtcBudget } from './webrtc-budget.js';

/** What a room needs of a connected peer. */
export interface RoomMember {
  readonly peer: string;
  readonly displayName: string | undefined;
  notify(event: EventName, data: unknown): void;
  /** The room is gone (its worker died): forget it without a leave. */
  dropped(): void;
}

export interface RoomsOptions {
  readonly pool: WorkerPool;
  readonly maxPeersPerRoom: number;
  readonly log: Logger;
  /** Rooms are created within its `rooms` budget, charged to the source of the first join. */
  readonly budget?: WebRtcBudget;
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

function describeProducer(entry: RoomProducer): ProducerInfo {
  return {
    peer: entry.peer,
    producerId: entry.producer.id,
    kind: entry.producer.kind,
    paused: entry.producer.paused,
    appData: entry.producer.appData,
  };
}

interface Room {
  readonly name: string;
  readonly members: Map<string, RoomMember>;
  /** By producer id; entries leave when the Producer closes. */
  readonly producers: Map<string, RoomProducer>;
  /** Settles once the Router exists (or failed to). */
  readonly router: Promise<types.Router<RoomAppData>>;
  /** Set once created; undefined while the Router is being created. */
  created: types.Router<RoomAppData> | undefined;
  workerIndex: number | undefined;
  /** The room's slot of the rooms budget, given back when the room is gone. */
  readonly lease: BudgetLease | undefined;
}

export class Rooms {
  readonly #options: RoomsOptions;
  readonly #rooms = new Map<string, Room>();
  readonly #log: Logger;
  #maxPeersPerRoom: number;

  constructor(options: RoomsOptions) {
    this.#options = options;
    this.#maxPeersPerRoom = options.maxPeersPerRoom;
    this.#log = options.log.child({ component: 'signaling-rooms' });
    options.pool.on('worker-died', this.#onWorkerDied);
  }

  get size(): number {
    return this.#rooms.size;
  }

  get peers(): number {
    let count = 0;
    for (const room of this.#rooms.values()) count += room.members.size;
    return count;
  }

  set maxPeersPerRoom(value: number) {
    this.#maxPeersPerRoom = value;
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
  ): Promise<types.Router<RoomAppData>> {
    let room = this.#rooms.get(roomName);
    if (room === undefined) {
      room = this.#create(roomName, this.#options.budget?.take('rooms', source));
    } else {
      if (room.members.size >= this.#maxPeersPerRoom) {
        throw new RoomError(
          'limit_exceeded',
          `room ${roomName} is full (${this.#maxPeersPerRoom} peers)`,
        );
      }
      if (room.members.has(member.peer)) {
        throw new RoomError('already_joined', `peer ${member.peer} is already in room ${roomName}`);
      }
    }
    const others = [...room.members.values()];
    room.members.set(member.peer, member);
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
    if (this.#rooms.get(roomName) !== room || room.members.get(member.peer) !== member) {
      throw new RoomError('internal', `room ${roomName} was closed while joining; join again`);
    }
    for (const other of others) {
      if (room.members.has(other.peer)) {
        other.notify('peerJoined', { peer: member.peer, displayName: member.displayName ?? null });
      }
    }
    return router;
  }

  /** The room's Router, once created; undefined for no such room. */
  async router(roomName: string): Promise<types.Router<RoomAppData> | undefined> {
    return this.#rooms.get(roomName)?.router;
  }

  /** The pool index of the worker hosting the room, once its Router exists. */
  workerIndex(roomName: string): number | undefined {
    return this.#rooms.get(roomName)?.workerIndex;
  }

  /** The peers of a room other than `peer`, for a join answer. */
  peersOf(roomName: string, peer: string): { peer: string; displayName: string | null }[] {
    const room = this.#rooms.get(roomName);
    if (room === undefined) return [];
    return [...room.members.values()]
      .filter((member) => member.peer !== peer)
      .map((member) => ({ peer: member.peer, displayName: member.displayName ?? null }));
  }

  /** The producers of a room, for WHEP viewers and join answers. */
  producers(roomName: string): readonly RoomProducer[] {
    return [...(this.#rooms.get(roomName)?.producers.values() ?? [])];
  }

  /** The producers of a room not published by `peer`, as clients see them. */
  producerInfos(roomName: string, exceptPeer?: string): ProducerInfo[] {
    return this.producers(roomName)
      .filter((entry) => entry.peer !== exceptPeer)
      .map(describeProducer);
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
    const tellOthers = (event: EventName, data: unknown): void => {
      for (const other of room.members.values()) {
        if (other !== member) other.notify(event, data);
      }
    };
    tellOthers('newProducer', describeProducer(entry));
    const ids = { peer: member.peer, producerId: producer.id };
    producer.observer.on('pause', () => {
      tellOthers('producerPaused', ids);
    });
    producer.observer.on('resume', () => {
      tellOthers('producerResumed', ids);
    });
    producer.observer.once('close', () => {
      if (room.producers.delete(producer.id)) tellOthers('producerClosed', ids);
    });
  }

  /** Removes `member`; tells the others; closes the Router when the room is empty. */
  leave(roomName: string, member: RoomMember): void {
    const room = this.#rooms.get(roomName);
    if (room?.members.get(member.peer) !== member) return;
    room.members.delete(member.peer);
    for (const other of room.members.values()) other.notify('peerLeft', { peer: member.peer });
    if (room.members.size > 0) return;
    this.#rooms.delete(roomName);
    room.lease?.release();
    room.router.then(
      (router) => {
        router.close();
        this.#log.info({ room: roomName }, 'room closed');
      },
      () => undefined,
    );
  }

  /** Stops listening to the pool; the pool's close() closes the Routers. */
  close(): void {
    this.#options.pool.off('worker-died', this.#onWorkerDied);
    for (const room of this.#rooms.values()) room.lease?.release();
    this.#rooms.clear();
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
        return placed.router;
      });
    // Handled by every joiner; this keeps an unawaited rejection quiet.
    router.catch(() => undefined);
    const room: Room = {
      name,
      members: new Map(),
      producers: new Map(),
      router,
      created: undefined,
      workerIndex: undefined,
      lease,
    };
    this.#rooms.set(name, room);
    return room;
  }

  readonly #onWorkerDied = (index: number, _error: Error, lost: readonly LostRouter[]): void => {
    const lostIds = new Set(lost.map((entry) => entry.router.id));
    for (const room of [...this.#rooms.values()]) {
      if (room.created === undefined || !lostIds.has(room.created.id)) continue;
      this.#rooms.delete(room.name);
      room.lease?.release();
      this.#log.warn(
        { room: room.name, worker: index, peers: room.members.size },
        'room lost with its worker; peers told to reconnect',
      );
      for (const member of room.members.values()) {
        member.dropped();
        member.notify('reconnect', {
          room: room.name,
          reason: 'the SFU worker hosting the room died',
        });
      }
    }
  };
}
