/**
 * One WebSocket connection: every frame is parsed with the protocol v1 parser
 * and answered; the peer's room membership lives here. Errors are answered on
 * the same connection, which stays open (a frame over maxPayload is the one
 * exception: ws closes it with 1009).
 *
 * In a mesh (signaling/CASCADE.md) a join answer names the doors: the other
 * nodes a client may join through when this one goes away. A node that
 * drains asks its joined peers to `move` (askToMove) to the node its door
 * would send a new join of the room to; the peer goes when it is ready
 * (make-before-break), the node stays until its drain ends.
 */
import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import {
  scopeRefusal,
  type EdgeRole,
  type EdgeTokenClaims,
} from '../../src/shared/edge-token/index.js';
import { errorMessage } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import {
  errorFrame,
  eventFrame,
  parseClientMessage,
  responseFrame,
  type ClientRequest,
  type ErrorCode,
  type EventName,
  type ProtocolError,
} from '../protocol/index.js';
import type { RtcSettings } from '../sfu/index.js';
import { MediaError, PeerMedia, asMediaError, type PeerLimits } from './peer-media.js';
import { RequestBudget, type RequestBudgetOptions } from './request-budget.js';
import { doorsOf, elsewhere, websocketDoor, websocketUrlOf } from './door.js';
import { RoomError, type RoomMember, type Rooms } from './rooms.js';
import { OverBudgetError, type WebRtcBudget } from './webrtc-budget.js';

export interface SignalingConnectionOptions {
  readonly socket: WebSocket;
  readonly rooms: Rooms;
  readonly rtc: RtcSettings;
  readonly peerLimits: PeerLimits;
  /** Rooms and transports this peer makes are charged to `source` in it. */
  readonly budget: WebRtcBudget;
  /** The client's address (the socket's remote address). */
  readonly source: string;
  readonly log: Logger;
  /** Called for every frame refused by the parser (and binary frames). */
  readonly onBadMessage: (code: ErrorCode) => void;
  /** Requests allowed per connection (default DEFAULT_REQUEST_BUDGET). */
  readonly requestBudget?: RequestBudgetOptions;
  /**
   * The edge token the upgrade carried (signaling.requireToken): join needs
   * its rooms claim to name the room, produce its role to be publisher.
   * Undefined when no token is required.
   */
  readonly token?: EdgeTokenClaims | undefined;
  /** Called once a join is answered (the peer may be told events from now on). */
  readonly joined?: (connection: SignalingConnection) => void;
}

/** A heartbeat round with no pong since the previous one is a miss; this many end the connection. */
export const MAX_MISSED_PONGS = 2;

type Joined = {
  readonly room: string;
  readonly member: RoomMember;
  readonly media: PeerMedia;
};

type Reply = { readonly data: unknown } | { readonly error: ProtocolError };

export class SignalingConnection {
  readonly #socket: WebSocket;
  readonly #rooms: Rooms;
  readonly #rtc: RtcSettings;
  readonly #peerLimits: PeerLimits;
  readonly #budget: WebRtcBudget;
  readonly #source: string;
  readonly #onBadMessage: (code: ErrorCode) => void;
  readonly #requests: RequestBudget;
  readonly #token: EdgeTokenClaims | undefined;
  readonly #baseLog: Logger;
  readonly #joinedHook: ((connection: SignalingConnection) => void) | undefined;
  #log: Logger;
  /** Whether this peer was asked to move (askToMove asks once). */
  #askedToMove = false;
  /** 'joining' while a join waits for the room's Router. */
  #state: 'idle' | 'joining' | Joined = 'idle';
  #missedPongs = 0;
  #closed = false;

  constructor(options: SignalingConnectionOptions) {
    this.#socket = options.socket;
    this.#rooms = options.rooms;
    this.#rtc = options.rtc;
    this.#peerLimits = options.peerLimits;
    this.#budget = options.budget;
    this.#source = options.source;
    this.#baseLog = options.log;
    this.#log = options.log;
    this.#onBadMessage = options.onBadMessage;
    this.#requests = new RequestBudget(options.requestBudget);
    this.#token = options.token;
    this.#joinedHook = options.joined;
    this.#socket.on('message', (data, isBinary) => {
      this.#onFrame(data, isBinary);
    });
    this.#socket.on('pong', () => {
      this.#missedPongs = 0;
    });
    this.#socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.#onBadMessage('too_large');
      this.#log.debug({ err: error }, 'websocket error');
    });
    this.#socket.on('close', (code) => {
      this.#closed = true;
      this.#leave();
      this.#log.debug({ code }, 'websocket closed');
    });
  }

  /** Whether the connection is in a room now (its join answered or being answered). */
  get joined(): boolean {
    return typeof this.#state === 'object';
  }

  /**
   * Whether a room has or will have this peer: joined, or its join waiting
   * for the room (its Router, the members of other nodes). A drain waits
   * for these: a join under way becomes a member a moment later.
   */
  get joiningOrJoined(): boolean {
    return this.#state !== 'idle';
  }

  /**
   * Asks the joined peer to move to another node, because this one drains:
   * the `move` event `{room, url, deadlineMs?}` with the WebSocket URL of
   * the node this node's door would send a new join of the room to (the
   * room's home, else the first other open node: door.ts). Once per
   * connection. False when the peer was not told: not joined, told
   * already, or no other node takes participants (it stays until the
   * drain ends; the caller may ask again when the directory changes).
   */
  askToMove(deadlineMs: number): boolean {
    const joined = this.#state;
    if (typeof joined !== 'object' || this.#askedToMove) return false;
    const facts = this.#rooms.doorFacts(joined.room);
    const target = facts === undefined ? undefined : elsewhere(facts);
    if (target === undefined) return false;
    const url = websocketUrlOf(target.url);
    this.#askedToMove = true;
    joined.member.notify('move', {
      room: joined.room,
      url,
      ...(deadlineMs > 0 ? { deadlineMs } : {}),
    });
    this.#log.info({ node: target.node }, 'asked to move: this node drains');
    return true;
  }

  /**
   * The node's drain deadline passed: the peer is told to `reconnect` (join
   * again: the doors send it to another node) and leaves its room here.
   * False when it is in no room.
   */
  leaveAtDeadline(reason: string): boolean {
    const joined = this.#state;
    if (typeof joined !== 'object') return false;
    joined.member.notify('reconnect', { room: joined.room, reason });
    this.#leave();
    return true;
  }

  /** One heartbeat round: terminate after MAX_MISSED_PONGS misses, else ping. */
  heartbeat(): void {
    if (this.#closed) return;
    if (this.#missedPongs >= MAX_MISSED_PONGS) {
      this.#log.info({ missedPongs: this.#missedPongs }, 'no pong: connection terminated');
      this.#socket.terminate();
      return;
    }
    this.#missedPongs += 1;
    this.#socket.ping();
  }

  #send(frame: string): void {
    if (!this.#closed && this.#socket.readyState === this.#socket.OPEN) this.#socket.send(frame);
  }

  #error(id: number | undefined, code: ErrorCode, message: string): void {
    this.#send(errorFrame(id, { code, message }));
  }

  #onFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (isBinary) {
      this.#onBadMessage('bad_message');
      this.#error(undefined, 'bad_message', 'binary frames are not accepted: send JSON text');
      return;
    }
    const frame = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data);
    const parsed = parseClientMessage(frame);
    const allowed = this.#requests.take();
    if (!parsed.ok) {
      this.#onBadMessage(parsed.error.code);
      this.#send(errorFrame(parsed.id, parsed.error));
      return;
    }
    if (!allowed) {
      this.#onBadMessage('rate_limited');
      this.#error(parsed.request.id, 'rate_limited', 'too many requests: slow down and retry');
      return;
    }
    this.#handle(parsed.request).then(
      (result) => {
        if ('error' in result) {
          this.#send(errorFrame(parsed.request.id, result.error));
          return;
        }
        this.#send(responseFrame(parsed.request.id, result.data));
        // Events may follow the answer only: a drain's `move` among them.
        if (parsed.request.method === 'join' && this.joined) this.#joinedHook?.(this);
      },
      (error: unknown) => {
        this.#log.error({ err: error, method: parsed.request.method }, 'request failed');
        this.#error(parsed.request.id, 'internal', errorMessage(error));
      },
    );
  }

  async #handle(request: ClientRequest): Promise<Reply> {
    if (request.method === 'ping') return { data: {} };
    if (request.method === 'join') return this.#join(request.data);
    const joined = this.#state;
    if (typeof joined !== 'object') {
      return { error: { code: 'not_joined', message: `${request.method} needs join first` } };
    }
    try {
      return { data: await this.#handleJoined(request, joined) };
    } catch (error) {
      const known = asMediaError(error);
      if (known instanceof MediaError)
        return { error: { code: known.code, message: known.message } };
      throw error;
    }
  }

  async #handleJoined(request: ClientRequest, joined: Joined): Promise<unknown> {
    const { media } = joined;
    switch (request.method) {
      case 'leave':
        this.#leave();
        return {};
      case 'getRouterRtpCapabilities': {
        const router = await this.#rooms.router(joined.room);
        if (router === undefined) throw new MediaError('not_joined', 'the room is gone');
        return router.rtpCapabilities;
      }
      case 'createTransport':
        return media.createTransport(request.data.direction);
      case 'connectTransport':
        await media.connectTransport(request.data.transportId, request.data.dtlsParameters);
        return {};
      case 'restartIce':
        return { iceParameters: await media.restartIce(request.data.transportId) };
      case 'produce': {
        this.#requireGrant('publisher', joined.room);
        const { transportId, kind, rtpParameters, appData } = request.data;
        const producer = await media.produce(transportId, kind, rtpParameters, appData ?? {});
        this.#rooms.addProducer(joined.room, joined.member, producer);
        return { producerId: producer.id };
      }
      case 'consume': {
        const { transportId, producerId, rtpCapabilities } = request.data;
        return media.consume(transportId, producerId, rtpCapabilities);
      }
      case 'pauseProducer':
        await media.producer(request.data.producerId).pause();
        return {};
      case 'resumeProducer':
        await media.producer(request.data.producerId).resume();
        return {};
      case 'closeProducer':
        media.producer(request.data.producerId).close();
        return {};
      case 'pauseConsumer':
        await media.consumer(request.data.consumerId).pause();
        return {};
      case 'resumeConsumer':
        await media.consumer(request.data.consumerId).resume();
        return {};
      case 'closeConsumer':
        media.consumer(request.data.consumerId).close();
        return {};
      case 'ping':
      case 'join':
        throw new Error(`${request.method} is handled before joining`);
    }
  }

  /** Why the connection's edge token does not allow `role` in `room`; undefined when it does (or none is required). */
  #grantRefusal(role: EdgeRole, room: string): ProtocolError | undefined {
    if (this.#token === undefined) return undefined;
    const refusal = scopeRefusal(this.#token, { role, room });
    if (refusal === undefined) return undefined;
    this.#log.info({ room, reason: refusal }, 'edge token refused');
    return {
      code: 'forbidden',
      message:
        refusal === 'wrong_role'
          ? `the token's role (${this.#token.role}) may not publish in room ${room}`
          : `the token does not open room ${room}`,
    };
  }

  #requireGrant(role: EdgeRole, room: string): void {
    const refusal = this.#grantRefusal(role, room);
    if (refusal !== undefined) throw new MediaError(refusal.code, refusal.message);
  }

  async #join(data: {
    room: string;
    peer?: string | undefined;
    displayName?: string | undefined;
  }): Promise<Reply> {
    if (this.#state !== 'idle') {
      return { error: { code: 'already_joined', message: 'this connection has joined already' } };
    }
    const refusal = this.#grantRefusal('viewer', data.room);
    if (refusal !== undefined) return { error: refusal };
    const elsewhere = this.#door(data.room);
    if (elsewhere !== undefined) return { error: elsewhere };
    this.#state = 'joining';
    const peer = data.peer ?? `p-${randomBytes(6).toString('hex')}`;
    const member: RoomMember = {
      peer,
      displayName: data.displayName,
      notify: (event: EventName, payload: unknown) => {
        this.#send(eventFrame(event, payload));
      },
      dropped: () => {
        if (typeof this.#state === 'object' && this.#state.member === member) {
          this.#state = 'idle';
          this.#log = this.#baseLog;
        }
      },
    };
    let router;
    try {
      // The answer lists the room's members on other nodes too: wait for them.
      router = await this.#rooms.join(data.room, member, this.#source, { awaitRemote: true });
    } catch (error) {
      this.#state = 'idle';
      // Filled here by a concurrent join since the door let this one in: the door again.
      if (error instanceof RoomError && error.code === 'limit_exceeded') {
        return { error: this.#door(data.room) ?? { code: error.code, message: error.message } };
      }
      if (error instanceof RoomError || error instanceof OverBudgetError)
        return { error: { code: error.code, message: error.message } };
      throw error;
    }
    if (this.#closed) {
      // The socket closed while the Router was being created.
      this.#rooms.leave(data.room, member);
      this.#state = 'idle';
      return { data: {} };
    }
    const media = new PeerMedia({
      peer,
      router,
      rtc: this.#rtc,
      limits: this.#peerLimits,
      budget: this.#budget,
      source: this.#source,
      notify: (event, payload) => {
        member.notify(event, payload);
      },
      ensureProducer: (producerId) => this.#rooms.ensureProducer(data.room, producerId),
    });
    this.#state = { room: data.room, member, media };
    this.#log = this.#log.child({ room: data.room, peer });
    this.#log.info('peer joined');
    return {
      data: {
        room: data.room,
        peer,
        // As cleaned by the protocol: the name the others are shown.
        displayName: member.displayName ?? null,
        peers: this.#rooms.peersOf(data.room, peer),
        producers: this.#rooms.producerInfos(data.room, peer),
        ...this.#doors(data.room),
      },
    };
  }

  /**
   * `doors`: the other open nodes' WebSocket URLs (door.ts doorsOf). Only in
   * a mesh: a lone node has no other door, and its answers stay as they were.
   */
  #doors(room: string): { doors?: string[] } {
    const facts = this.#rooms.doorFacts(room);
    return facts === undefined ? {} : { doors: doorsOf(facts) };
  }

  /**
   * The door (door.ts): undefined when this node serves the join, else the
   * error that answers it: `moved` to another node's WebSocket URL, or
   * limit_exceeded when no node can take it. No doors outside a mesh.
   */
  #door(room: string): ProtocolError | undefined {
    const facts = this.#rooms.doorFacts(room);
    if (facts === undefined) return undefined;
    const decision = websocketDoor(facts);
    switch (decision.kind) {
      case 'serve':
        return undefined;
      case 'redirect': {
        const url = websocketUrlOf(decision.url);
        this.#log.info({ room, node: decision.node }, 'join sent to another node');
        return {
          code: 'moved',
          message: `room ${room} is served by node ${decision.node}: join there`,
          url,
        };
      }
      case 'refuse':
        return {
          code: 'limit_exceeded',
          message:
            decision.reason === 'draining'
              ? `this node drains and no other node takes room ${room}`
              : `room ${room} has ${this.#rooms.maxPeersPerNode} peers on this node (maxPeersPerNode) and no other node takes it`,
        };
    }
  }

  #leave(): void {
    if (typeof this.#state !== 'object') return;
    const { room, member, media } = this.#state;
    this.#state = 'idle';
    media.close();
    this.#rooms.leave(room, member);
    this.#log.info('peer left');
    this.#log = this.#baseLog;
  }
}
