/**
 * The cascade pipes of one room on this node: per peer node that shares the
 * room, one mediasoup PipeTransport (SRTP and RTX on) on the room's Router,
 * and the producers piped through it in either direction. A producer crosses
 * a node pair at most once, whatever the number of consumers behind it, and
 * keeps its id on the other side (as mediasoup's pipeToRouter with keepId),
 * so the room's signaling can name it the same on every node.
 *
 *   open(peer)     -> our end (address + the key mediasoup made), to report
 *   connect(peer)  <- the peer's end, from the PIPE body the control plane relays
 *   pipeOut(peer, producerId): a pipe Consumer here, for the peer's pipeIn
 *   pipeIn(peer, {producerId, rtpParameters, ...}): a pipe Producer here
 *
 * mediasoup does not carry a producer's pause or close across a pipe (the
 * pipe-transport test pins it), so the origin node signals them and this
 * side mirrors them (pausePipedIn, resumePipedIn, closePipedIn); the pipe
 * Producer's own events then reach the local consumers as usual.
 *
 * A PipeTransport connects once. A different peer end for a connected pipe
 * means the peer made a new transport (it restarted), so ours is closed and
 * made again (its piped producers and consumers close with it) and the new
 * end is reported ('endpoint'). Both ends doing that on seeing the other's
 * new end would replace each other forever, so the ends differ: the lower
 * node id (the PIPE's `a`) connects to whatever end it is given; the other
 * one does not connect to an end it knows is bound to an earlier transport
 * of its own (the end that made it recreate, or one that came with an older
 * end of ours), and waits for the next. See `connect`.
 *
 * Ports: a pipe is made by the rooms this node shares, not by a participant,
 * so it binds only in the pipes' share of its worker's port slice
 * (sfu/port-slices.ts `pipePortRange`): however many rooms are shared,
 * participants keep the rest of the slice. A pipe that finds no port there
 * is refused (ERR_PIPE_PORTS) and counted (`portsRefused`); the cascade tries
 * it again at the next change of the PIPEs or rooms held.
 *
 * Drops: mediasoup drops in silence what arrives on a pipe's port and is not
 * its peer's media (garbage, a wrong key, a replay, another source).
 * `unaccountedBytes()` samples each transport's bytes received less the RTP
 * and RTX bytes it took (CASCADE.md "Hostile input").
 *
 * The set never closes the Router (the room owns it), and closes itself when
 * the Router closes (a worker died). Keys are never logged.
 */
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { errorMessage } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import { isPortExhaustion } from '../server/index.js';
import { pipePortRange, portSliceOf, type RtcSettings } from '../sfu/index.js';
import {
  PipeSetError,
  connectParameters,
  describeEndpoint,
  endpointOf,
  sameEndpoint,
  type PipeEndpoint,
} from './pipe-endpoint.js';

export interface PipeSetOptions {
  readonly router: types.Router;
  readonly room: string;
  /** This node's id: which end of each pipe this is follows from node id order. */
  readonly node: string;
  /** The node's RTC listen IP and announced address, as its WebRTC transports use. */
  readonly rtc: Pick<RtcSettings, 'listenIp' | 'announcedAddress'>;
  readonly log: Logger;
}

/** appData of pipe transports, producers and consumers: the stats tell pipes by `pipeId`. */
export interface PipeAppData extends types.AppData {
  readonly room: string;
  /** The node at the other end. */
  readonly pipePeer: string;
  readonly pipeId: string;
}

/** What the origin node answers a pipe request with (the link's pipeReady). */
export interface PipedOut {
  readonly kind: types.MediaKind;
  readonly rtpParameters: types.RtpParameters;
  /** The origin producer is paused now: the pipe producer starts paused. */
  readonly paused: boolean;
}

export interface PipeInRequest extends PipedOut {
  readonly producerId: string;
  /** Kept on the pipe producer next to the pipe's own fields (e.g. the origin peer). */
  readonly appData?: types.AppData;
}

export interface PipeConnectOptions {
  /**
   * This node's end as the PIPE body holds it. When it is not our current
   * end, the peer end beside it was made for an earlier transport of ours.
   */
  readonly ownEnd?: PipeEndpoint | undefined;
}

export interface PipeConnectResult {
  /** 'waiting': not connected yet, for a later end of the peer's (see `connect`). */
  readonly state: 'connected' | 'waiting';
  /** Our current end; new when `recreated`. */
  readonly endpoint: PipeEndpoint;
  /** Our transport was closed and made again: report `endpoint`. */
  readonly recreated: boolean;
}

/** One pipe in `stats()`: keys left out. */
export interface PipeStats {
  readonly peer: string;
  readonly pipeId: string;
  readonly address: string;
  readonly connected: boolean;
  /** Producers of the peer's piped in here (live pipe Producers). */
  readonly pipedIn: number;
  /** Producers of ours piped out to the peer (live pipe Consumers). */
  readonly pipedOut: number;
  /** Times this pipe's transport was made again for a new peer end. */
  readonly resets: number;
}

export interface PipeSetStats {
  readonly room: string;
  readonly pipes: readonly PipeStats[];
  readonly pipedIn: number;
  readonly pipedOut: number;
}

/** An end of ours to report (PipeEndpoints). */
export interface PipeOwnEnd {
  readonly peer: string;
  readonly pipeId: string;
  readonly endpoint: PipeEndpoint;
}

export interface PipeSetEvents {
  /** Our end toward `peer` is new (the transport was made again): report it. */
  endpoint: [peer: string, endpoint: PipeEndpoint];
  /** The pipe to `peer` was made again: what was piped through it is closed. */
  'peer-reset': [peer: string];
  /** The set closed (close(), or its Router closed). */
  close: [];
}

interface Pipe {
  readonly peer: string;
  readonly pipeId: string;
  readonly transport: types.PipeTransport<PipeAppData>;
  readonly own: PipeEndpoint;
  connectedTo: PipeEndpoint | undefined;
  /** Peer ends bound to an earlier transport of ours (follower side only). */
  stale: PipeEndpoint[];
  resets: number;
  /** The transport's unaccounted bytes at the last sample (unaccountedBytes). */
  sampled: number;
}

interface OutEntry {
  promise: Promise<PipedOut>;
  consumer: types.Consumer | undefined;
}

interface InEntry {
  readonly peer: string;
  promise: Promise<types.Producer>;
  producer: types.Producer | undefined;
}

/** Enough remembered stale ends for any sequence of restarts the control plane relays. */
const MAX_STALE_ENDS = 4;

export class PipeSet extends EventEmitter<PipeSetEvents> {
  static readonly #live = new Set<PipeSet>();
  static #portsRefused = 0;

  readonly room: string;
  readonly node: string;
  readonly #router: types.Router;
  readonly #rtc: PipeSetOptions['rtc'];
  readonly #log: Logger;
  readonly #pipes = new Map<string, Pipe>();
  /** Per peer: its open/connect/closePeer calls, one after another. */
  readonly #chains = new Map<string, Promise<void>>();
  /** Per peer, per producer id: our producers piped out. */
  readonly #out = new Map<string, Map<string, OutEntry>>();
  /** Per producer id: producers piped in (each from one peer). */
  readonly #in = new Map<string, InEntry>();
  #closed = false;

  constructor(options: PipeSetOptions) {
    super();
    this.room = options.room;
    this.node = options.node;
    this.#router = options.router;
    this.#rtc = options.rtc;
    this.#log = options.log.child({ component: 'pipe-set', room: options.room });
    PipeSet.#live.add(this);
    if (this.#router.closed) this.close();
    else this.#router.observer.once('close', () => this.close());
  }

  /** The sets not closed yet, for metrics. */
  static live(): IterableIterator<PipeSet> {
    return PipeSet.#live.values();
  }

  /** Pipes refused since start because the pipes' share of a worker's ports was full (this process). */
  static get portsRefused(): number {
    return PipeSet.#portsRefused;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Our end of the pipe to `peer`, creating its transport on first call;
   * later calls (concurrent ones included) answer the same end.
   */
  async open(peer: string, pipeId: string): Promise<PipeEndpoint> {
    this.#checkPeer(peer);
    return this.#serial(peer, async () => {
      const pipe = this.#pipes.get(peer);
      if (pipe !== undefined) return pipe.own;
      return (await this.#create(peer, pipeId, 0)).own;
    });
  }

  /**
   * Connects our end to the peer's `end`. The same end again changes nothing.
   * Another end when connected: the peer made a new transport, so ours is
   * closed and made again ('peer-reset', then 'endpoint' with our new end).
   *
   * The lower node id connects at once, also right after making its
   * transport again. The higher one answers 'waiting' rather than connect to
   * an end bound to an earlier transport of its own: the end that made it
   * make its transport again, or one given with `ownEnd` that is not our
   * current end. The lower one then sees our new end, makes its own again
   * and reports it, and that one we connect to; the exchange ends there.
   */
  async connect(
    peer: string,
    end: PipeEndpoint,
    options: PipeConnectOptions = {},
  ): Promise<PipeConnectResult> {
    this.#checkPeer(peer);
    // A bad end is refused before anything is closed for it.
    const parameters = await connectParameters(end);
    return this.#serial(peer, async () => {
      let pipe = this.#pipeTo(peer);
      const leader = this.node < peer;
      if (sameEndpoint(pipe.connectedTo, end)) {
        return { state: 'connected', endpoint: pipe.own, recreated: false };
      }
      let recreated = false;
      if (pipe.connectedTo !== undefined) {
        this.#log.info(
          { peer, was: describeEndpoint(pipe.connectedTo), now: describeEndpoint(end) },
          'peer pipe end changed: making the pipe again',
        );
        pipe = await this.#recreate(pipe);
        recreated = true;
        if (!leader) {
          pipe.stale = [end];
          return this.#emitNewEnd(pipe, 'waiting');
        }
      } else if (!leader) {
        if (pipe.stale.some((stale) => sameEndpoint(stale, end))) {
          return { state: 'waiting', endpoint: pipe.own, recreated };
        }
        if (options.ownEnd !== undefined && !sameEndpoint(options.ownEnd, pipe.own)) {
          pipe.stale = [...pipe.stale, end].slice(-MAX_STALE_ENDS);
          return { state: 'waiting', endpoint: pipe.own, recreated };
        }
      }
      try {
        await pipe.transport.connect(parameters);
      } catch (error) {
        throw this.#mediaError(`connecting the pipe to ${peer}`, error);
      }
      pipe.connectedTo = end;
      pipe.stale = [];
      this.#log.info({ peer, to: describeEndpoint(end) }, 'pipe connected');
      return recreated
        ? this.#emitNewEnd(pipe, 'connected')
        : { state: 'connected', endpoint: pipe.own, recreated };
    });
  }

  /**
   * Pipes our producer `producerId` to `peer`: a pipe Consumer on the pipe's
   * transport, at most one per producer and peer (concurrent calls share
   * it). Its answer is what the peer's pipeIn takes.
   */
  pipeOut(peer: string, producerId: string): Promise<PipedOut> {
    const refusal = this.#refusal(peer);
    if (refusal !== undefined) return Promise.reject(refusal);
    let piped = this.#out.get(peer);
    if (piped === undefined) {
      piped = new Map();
      this.#out.set(peer, piped);
    }
    const existing = piped.get(producerId);
    if (existing !== undefined) return existing.promise;
    // The promise needs its entry (to tell it from a later one), so it is set right after.
    const entry = { consumer: undefined } as OutEntry;
    const table = piped;
    const forget = (): void => {
      if (table.get(producerId) === entry) table.delete(producerId);
    };
    entry.promise = this.#consume(peer, producerId, entry, forget);
    void entry.promise.catch(forget);
    piped.set(producerId, entry);
    return entry.promise;
  }

  /**
   * Pipes in the peer's producer: a pipe Producer with the same id, at most
   * one (concurrent calls share it). The same id from another peer is refused.
   */
  pipeIn(peer: string, request: PipeInRequest): Promise<types.Producer> {
    const refusal = this.#refusal(peer);
    if (refusal !== undefined) return Promise.reject(refusal);
    const existing = this.#in.get(request.producerId);
    if (existing !== undefined) {
      if (existing.peer === peer) return existing.promise;
      return Promise.reject(
        new PipeSetError(
          'ERR_PIPE_DUPLICATE',
          `producer ${request.producerId} is piped in from ${existing.peer} already, not from ${peer}`,
        ),
      );
    }
    // As in pipeOut: the promise needs its entry.
    const entry = { peer, producer: undefined } as InEntry;
    const forget = (): void => {
      if (this.#in.get(request.producerId) === entry) this.#in.delete(request.producerId);
    };
    entry.promise = this.#produce(peer, request, entry, forget);
    void entry.promise.catch(forget);
    this.#in.set(request.producerId, entry);
    return entry.promise;
  }

  /** Mirrors the origin's pause; false when no such producer is piped in. */
  async pausePipedIn(producerId: string): Promise<boolean> {
    return this.#withPipedIn(producerId, (producer) => producer.pause());
  }

  async resumePipedIn(producerId: string): Promise<boolean> {
    return this.#withPipedIn(producerId, (producer) => producer.resume());
  }

  /** Mirrors the origin's close (or the last local consumer gone); its consumers close. */
  closePipedIn(producerId: string): boolean {
    const entry = this.#in.get(producerId);
    if (entry === undefined) return false;
    this.#in.delete(producerId);
    if (entry.producer !== undefined) entry.producer.close();
    else void entry.promise.then((producer) => producer.close(), ignore);
    return true;
  }

  /** Stops piping our producer to `peer` (the peer closed its copy). */
  unpipeOut(peer: string, producerId: string): boolean {
    const entry = this.#out.get(peer)?.get(producerId);
    if (entry === undefined) return false;
    this.#out.get(peer)?.delete(producerId);
    if (entry.consumer !== undefined) entry.consumer.close();
    else void entry.promise.then(() => entry.consumer?.close(), ignore);
    return true;
  }

  /** Closes the pipe to `peer` and everything piped through it (idempotent). */
  async closePeer(peer: string): Promise<void> {
    if (this.#closed) return;
    await this.#serial(peer, () => {
      this.#closePipe(peer);
      return Promise.resolve();
    });
  }

  /** Closes every pipe; the Router stays (the room owns it). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    PipeSet.#live.delete(this);
    for (const peer of [...this.#pipes.keys()]) this.#closePipe(peer);
    this.#in.clear();
    this.#out.clear();
    this.#log.debug('pipe set closed');
    this.emit('close');
  }

  /** Whether a pipe to `peer` is open (made, connected or not). */
  has(peer: string): boolean {
    return this.#pipes.has(peer);
  }

  /** Our ends, for the PipeEndpoints message (the whole set). */
  endpoints(): PipeOwnEnd[] {
    return [...this.#pipes.values()].map((pipe) => ({
      peer: pipe.peer,
      pipeId: pipe.pipeId,
      endpoint: pipe.own,
    }));
  }

  /** Pipes and what crosses them; no keys. */
  stats(): PipeSetStats {
    const pipes = [...this.#pipes.values()].map((pipe): PipeStats => {
      let pipedIn = 0;
      for (const entry of this.#in.values()) {
        if (entry.peer === pipe.peer && entry.producer?.closed === false) pipedIn += 1;
      }
      let pipedOut = 0;
      for (const entry of this.#out.get(pipe.peer)?.values() ?? []) {
        if (entry.consumer?.closed === false) pipedOut += 1;
      }
      return {
        peer: pipe.peer,
        pipeId: pipe.pipeId,
        address: pipe.own.address,
        connected: pipe.connectedTo !== undefined,
        pipedIn,
        pipedOut,
        resets: pipe.resets,
      };
    });
    return {
      room: this.room,
      pipes,
      pipedIn: pipes.reduce((sum, pipe) => sum + pipe.pipedIn, 0),
      pipedOut: pipes.reduce((sum, pipe) => sum + pipe.pipedOut, 0),
    };
  }

  /**
   * Bytes that reached this set's pipe ports since the last sample and were
   * not taken as the peer's RTP or RTX: mediasoup's transport bytesReceived
   * less rtpBytesReceived and rtxBytesReceived. Approximate: it includes the
   * peer's RTCP and the SRTP tag of every accepted packet; bytes of a pipe
   * closed since its last sample are not counted. Concurrent samples count
   * each byte once.
   */
  async unaccountedBytes(): Promise<number> {
    const sampled = await Promise.all(
      [...this.#pipes.values()].map(async (pipe) => {
        let stats: types.PipeTransportStat[];
        try {
          stats = await pipe.transport.getStats();
        } catch {
          return 0; // closed meanwhile
        }
        const stat = stats[0];
        if (stat === undefined) return 0;
        const now = stat.bytesReceived - stat.rtpBytesReceived - stat.rtxBytesReceived;
        const delta = Math.max(0, now - pipe.sampled);
        pipe.sampled = Math.max(pipe.sampled, now);
        return delta;
      }),
    );
    return sampled.reduce((sum, bytes) => sum + bytes, 0);
  }

  async #consume(
    peer: string,
    producerId: string,
    entry: OutEntry,
    forget: () => void,
  ): Promise<PipedOut> {
    await this.#idle(peer);
    const pipe = this.#pipeTo(peer);
    let consumer: types.Consumer<PipeAppData>;
    try {
      consumer = await pipe.transport.consume({
        producerId,
        appData: this.#appData(pipe),
      });
    } catch (error) {
      throw this.#mediaError(`piping producer ${producerId} out to ${peer}`, error);
    }
    entry.consumer = consumer;
    consumer.observer.once('close', forget);
    if (this.#out.get(peer)?.get(producerId) !== entry) {
      // unpipeOut or closePeer came first.
      consumer.close();
      throw new PipeSetError('ERR_PIPE_CLOSED', `producer ${producerId} was unpiped meanwhile`);
    }
    return {
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      paused: consumer.producerPaused,
    };
  }

  async #produce(
    peer: string,
    request: PipeInRequest,
    entry: InEntry,
    forget: () => void,
  ): Promise<types.Producer> {
    await this.#idle(peer);
    const pipe = this.#pipeTo(peer);
    let producer: types.Producer;
    try {
      producer = await pipe.transport.produce({
        id: request.producerId,
        kind: request.kind,
        rtpParameters: request.rtpParameters,
        paused: request.paused,
        appData: { ...request.appData, ...this.#appData(pipe) },
      });
    } catch (error) {
      throw this.#mediaError(`piping producer ${request.producerId} in from ${peer}`, error);
    }
    entry.producer = producer;
    producer.observer.once('close', forget);
    if (this.#in.get(request.producerId) !== entry) {
      producer.close();
      throw new PipeSetError(
        'ERR_PIPE_CLOSED',
        `producer ${request.producerId} was closed meanwhile`,
      );
    }
    return producer;
  }

  /** Runs `action` on a live piped-in producer; false when there is none (or it closed meanwhile). */
  async #withPipedIn(
    producerId: string,
    action: (producer: types.Producer) => Promise<void>,
  ): Promise<boolean> {
    const entry = this.#in.get(producerId);
    if (entry === undefined) return false;
    const producer = entry.producer ?? (await entry.promise.catch(() => undefined));
    if (producer === undefined || producer.closed) return false;
    try {
      await action(producer);
    } catch (error) {
      if (closedNow(producer)) return false;
      throw this.#mediaError(`mirroring on piped-in producer ${producerId}`, error);
    }
    return true;
  }

  async #create(peer: string, pipeId: string, resets: number): Promise<Pipe> {
    this.#checkOpen();
    const appData: PipeAppData = { room: this.room, pipePeer: peer, pipeId };
    // Outside a WorkerPool (no slice known) the worker's whole range.
    const slice = portSliceOf(this.#router);
    const portRange = slice === undefined ? undefined : pipePortRange(slice);
    let transport: types.PipeTransport<PipeAppData>;
    try {
      transport = await this.#router.createPipeTransport<PipeAppData>({
        listenInfo: {
          protocol: 'udp',
          ip: this.#rtc.listenIp,
          ...(this.#rtc.announcedAddress === undefined
            ? {}
            : { announcedAddress: this.#rtc.announcedAddress }),
          ...(portRange === undefined ? {} : { portRange }),
        },
        enableSrtp: true,
        enableRtx: true,
        appData,
      });
    } catch (error) {
      if (isPortExhaustion(error) && !this.#isClosed()) {
        PipeSet.#portsRefused += 1;
        throw new PipeSetError(
          'ERR_PIPE_PORTS',
          portRange === undefined
            ? `no port left on this worker for the pipe to ${peer}`
            : `no port left for the pipe to ${peer}: pipes bind only ports ${portRange.min}-${portRange.max} of this worker`,
          { cause: error },
        );
      }
      throw this.#mediaError(`making the pipe to ${peer}`, error);
    }
    if (this.#isClosed()) {
      transport.close();
      throw closedError(this.room);
    }
    const pipe: Pipe = {
      peer,
      pipeId,
      transport,
      own: endpointOf(transport),
      connectedTo: undefined,
      stale: [],
      resets,
      sampled: 0,
    };
    this.#pipes.set(peer, pipe);
    this.#log.info({ peer, pipeId, address: pipe.own.address }, 'pipe opened');
    return pipe;
  }

  async #recreate(pipe: Pipe): Promise<Pipe> {
    this.#closePipe(pipe.peer);
    this.emit('peer-reset', pipe.peer);
    return this.#create(pipe.peer, pipe.pipeId, pipe.resets + 1);
  }

  #emitNewEnd(pipe: Pipe, state: PipeConnectResult['state']): PipeConnectResult {
    this.emit('endpoint', pipe.peer, pipe.own);
    return { state, endpoint: pipe.own, recreated: true };
  }

  /** Closes the transport (mediasoup closes its pipe Producers and Consumers). */
  #closePipe(peer: string): void {
    const pipe = this.#pipes.get(peer);
    this.#pipes.delete(peer);
    this.#out.delete(peer);
    for (const [producerId, entry] of this.#in) {
      if (entry.peer === peer) this.#in.delete(producerId);
    }
    if (pipe === undefined) return;
    pipe.transport.close();
    this.#log.info({ peer, pipeId: pipe.pipeId }, 'pipe closed');
  }

  /** Runs `op` after the peer's earlier open/connect/closePeer calls. */
  #serial<T>(peer: string, op: () => Promise<T>): Promise<T> {
    const before = this.#chains.get(peer) ?? Promise.resolve();
    const result = before.then(op);
    const tail = result.then(ignore, ignore);
    this.#chains.set(peer, tail);
    void tail.then(() => {
      if (this.#chains.get(peer) === tail) this.#chains.delete(peer);
    });
    return result;
  }

  /** Resolves once the peer's queued open/connect/closePeer calls are done. */
  #idle(peer: string): Promise<void> {
    return this.#chains.get(peer) ?? Promise.resolve();
  }

  #pipeTo(peer: string): Pipe {
    this.#checkOpen();
    const pipe = this.#pipes.get(peer);
    if (pipe === undefined) {
      throw new PipeSetError('ERR_PIPE_NO_PEER', `no pipe to ${peer} in room ${this.room}`);
    }
    return pipe;
  }

  #appData(pipe: Pipe): PipeAppData {
    return { room: this.room, pipePeer: pipe.peer, pipeId: pipe.pipeId };
  }

  #checkPeer(peer: string): void {
    const refusal = this.#refusal(peer);
    if (refusal !== undefined) throw refusal;
  }

  /** Why nothing can be piped to `peer` now, if so. */
  #refusal(peer: string): PipeSetError | undefined {
    if (this.#closed) return closedError(this.room);
    if (peer === this.node) {
      return new PipeSetError('ERR_PIPE_NO_PEER', `a pipe needs another node than ${this.node}`);
    }
    return undefined;
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError(this.room);
  }

  /** `#closed` read where narrowing would assume it unchanged (after an await). */
  #isClosed(): boolean {
    return this.#closed;
  }

  #mediaError(what: string, error: unknown): PipeSetError {
    if (error instanceof PipeSetError) return error;
    if (this.#closed) return closedError(this.room);
    return new PipeSetError('ERR_PIPE_MEDIA', `${what}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

function closedError(room: string): PipeSetError {
  return new PipeSetError('ERR_PIPE_CLOSED', `the pipes of room ${room} are closed`);
}

/** `closed` read where narrowing would assume it unchanged (after an await). */
function closedNow(producer: types.Producer): boolean {
  return producer.closed;
}

function ignore(): void {
  // Settled either way: the caller of the original promise sees its outcome.
}
