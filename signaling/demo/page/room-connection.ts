/**
 * One WebSocket's life in a room, the mediasoup-client way: join, load the
 * Router's capabilities into a Device, one recv and one send transport,
 * produce the local tracks, consume every other peer's producers (those the
 * join answer lists and each newProducer), and resume each consumer once its
 * track is set up. Notifications are handled one at a time, in order and
 * after the set-up, so a consumerClosed can never overtake its consume.
 *
 * While the page moves to another node (conference.ts) two connections are
 * in the room at once, as two peers: the new one ignores the old one's peer
 * (`ignorePeers`), and the old one, once `leaving()`, takes no newcomer (the
 * new one among them) and keeps what it shows until it is closed.
 *
 * A node that stops answering (its host gone: no close ever comes) is found
 * by the connection's own pings (Liveness) and lost like a closed one.
 */
import { Device, type types } from 'mediasoup-client';
import {
  SignalingClient,
  SignalingError,
  type Events,
  type EventName,
  type JoinAnswer,
  type ProducerInfo,
} from './signaling-client.js';
import { Liveness } from './liveness.js';
import type { StatsSource } from './stats.js';

/** Where the connection draws (ui.ts implements it). */
export interface RoomView {
  peerJoined(peer: string, displayName: string | null): void;
  peerLeft(peer: string): void;
  trackAdded(peer: string, consumerId: string, track: MediaStreamTrack): void;
  trackRemoved(peer: string, consumerId: string): void;
}

export interface RoomConnectionOptions {
  readonly url: string;
  readonly room: string;
  /** The peer name to ask for (a re-join keeps its name); undefined lets the server pick. */
  readonly peer: string | undefined;
  readonly displayName: string | undefined;
  readonly local: MediaStream;
  readonly view: RoomView;
  /** Every notification and step, for the page's event log. */
  readonly record: (name: string, peer: string | null) => void;
  /** Called once if the room is lost (socket closed, `reconnect`) while not closed by us. */
  readonly lost: (connection: RoomConnection, reason: string) => void;
  /** The node asks us to join at `url` instead (`move`: it drains). */
  readonly move: (connection: RoomConnection, url: string) => void;
  /** Peers not shown nor consumed: our own connection on another node, while we move. */
  readonly ignorePeers?: ReadonlySet<string>;
}

interface RemoteConsumer {
  readonly peer: string;
  readonly consumer: types.Consumer;
}

export class RoomConnection {
  readonly #options: RoomConnectionOptions;
  readonly #client: SignalingClient;
  readonly #device = new Device();
  readonly #peers = new Map<string, string | null>();
  readonly #producers: types.Producer[] = [];
  /** By consumer id. */
  readonly #consumers = new Map<string, RemoteConsumer>();
  readonly #liveness: Liveness;
  #recv: types.Transport | undefined;
  #send: types.Transport | undefined;
  #joined: JoinAnswer | undefined;
  /** Opened once the transports exist and the local tracks are produced. */
  readonly #setUpDone: () => void;
  /** Consumes and notifications, run one after another behind the set-up. */
  #queue: Promise<void>;
  #closed = false;
  /** Set by leaving(): no newcomer is shown any more. */
  #leaving = false;
  /** The URL of a `move` the node sent, once it sent one. */
  #movedTo: string | undefined;

  private constructor(options: RoomConnectionOptions, client: SignalingClient) {
    this.#options = options;
    this.#client = client;
    let open = (): void => undefined;
    this.#queue = new Promise((resolve) => {
      open = resolve;
    });
    this.#setUpDone = open;
    this.#liveness = new Liveness(
      () => client.request('ping', {}),
      (reason) => {
        this.#lost(`the node stopped answering (${reason})`);
      },
    );
  }

  /** Connects and joins; rejects (and cleans up) if any step fails. */
  static async open(options: RoomConnectionOptions): Promise<RoomConnection> {
    const client = await SignalingClient.open(options.url);
    const connection = new RoomConnection(options, client);
    connection.#liveness.start();
    try {
      await connection.#setUp();
    } catch (error) {
      connection.close();
      throw error;
    }
    return connection;
  }

  /** True once closed, by us or because the room was lost. */
  get closed(): boolean {
    return this.#closed;
  }

  get peer(): string | null {
    return this.#joined?.peer ?? null;
  }

  /** Our display name as the others see it (the server's cleaned copy). */
  get displayName(): string | null {
    return this.#joined?.displayName ?? null;
  }

  get peers(): string[] {
    return [...this.#peers.keys()];
  }

  /** The join answer's doors: where to join if this node goes away (none outside a mesh). */
  get doors(): readonly string[] {
    return this.#joined?.doors ?? [];
  }

  /** Where the node asked us to move (`move`), if it did: it may ask before the set-up ends. */
  get movedTo(): string | undefined {
    return this.#movedTo;
  }

  /**
   * We are moving to another connection: from now on no peer or producer
   * that appears is shown (our new self would be one); what is shown stays
   * until close().
   */
  leaving(): void {
    this.#leaving = true;
  }

  /** What getStats() can be asked of: our producers and our consumers. */
  streams(): StatsSource[] {
    return [
      ...this.#producers.map((producer) => ({
        id: producer.id,
        owner: 'me',
        direction: 'outbound' as const,
        kind: producer.kind,
        getStats: () => producer.getStats(),
      })),
      ...[...this.#consumers.values()].map(({ peer, consumer }) => ({
        id: consumer.id,
        owner: peer,
        direction: 'inbound' as const,
        kind: consumer.kind,
        getStats: () => consumer.getStats(),
      })),
    ];
  }

  /** Leaves: closing the socket makes the server close everything of ours. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#liveness.stop();
    this.#client.close();
    this.#recv?.close();
    this.#send?.close();
    for (const [consumerId, { peer }] of this.#consumers) {
      this.#options.view.trackRemoved(peer, consumerId);
    }
    this.#consumers.clear();
    for (const peer of this.#peers.keys()) this.#options.view.peerLeft(peer);
    this.#peers.clear();
    this.#producers.length = 0;
  }

  async #setUp(): Promise<void> {
    const client = this.#client;
    this.#listen();
    const { room, peer, displayName } = this.#options;
    const joined = await client.request('join', {
      room,
      ...(peer === undefined ? {} : { peer }),
      ...(displayName === undefined ? {} : { displayName }),
    });
    this.#joined = joined;
    for (const { peer, displayName: name } of joined.peers) {
      if (!this.#ignored(peer)) this.#addPeer(peer, name);
    }
    // Queued now, before any later notification can be: they are older news.
    for (const info of joined.producers) this.#enqueue(() => this.#consume(info));
    const routerRtpCapabilities = await client.request('getRouterRtpCapabilities', {});
    await this.#device.load({ routerRtpCapabilities });
    this.#recv = await this.#transport('recv');
    this.#send = await this.#transport('send');
    for (const track of this.#options.local.getTracks()) {
      if (!this.#device.canProduce(track.kind as types.MediaKind)) continue;
      // The local tracks outlive this connection (a re-join produces them again).
      this.#producers.push(await this.#send.produce({ track, stopTracks: false }));
    }
    this.#setUpDone();
    await this.#queue;
  }

  #listen(): void {
    const client = this.#client;
    const handle = <E extends EventName>(
      event: E,
      peerOf: (data: Events[E]) => string | null,
      action: (data: Events[E]) => Promise<void> | void,
    ): void => {
      client.on(event, (data) => {
        this.#options.record(event, peerOf(data));
        this.#enqueue(() => action(data));
      });
    };
    handle(
      'peerJoined',
      (data) => data.peer,
      (data) => {
        if (!this.#leaving && !this.#ignored(data.peer)) this.#addPeer(data.peer, data.displayName);
      },
    );
    handle(
      'peerLeft',
      (data) => data.peer,
      (data) => {
        this.#removePeer(data.peer);
      },
    );
    handle(
      'newProducer',
      (data) => data.peer,
      (data) => (this.#leaving ? undefined : this.#consume(data)),
    );
    handle(
      'producerClosed',
      (data) => data.peer,
      (data) => {
        this.#closeConsumers((remote) => remote.consumer.producerId === data.producerId);
      },
    );
    handle(
      'consumerClosed',
      () => null,
      (data) => {
        this.#closeConsumers((_, consumerId) => consumerId === data.consumerId);
      },
    );
    handle(
      'reconnect',
      () => null,
      (data) => {
        this.#lost(`reconnect: ${data.reason}`);
      },
    );
    // Not queued: a move is acted on at once (the new connection makes its
    // own way), whatever this one is still setting up.
    client.on('move', (data) => {
      this.#options.record('move', null);
      this.#movedTo = data.url;
      if (!this.#closed) this.#options.move(this, data.url);
    });
    client.onClose(() => {
      this.#lost('connection closed');
    });
  }

  #enqueue(step: () => Promise<void> | void): void {
    this.#queue = this.#queue
      .then(async () => {
        if (!this.#closed) await step();
      })
      .catch((error: unknown) => {
        // One failed step (a producer that closed meanwhile) does not stop the others.
        if (!this.#closed) this.#options.record('error', null);
        console.warn('room step failed', error);
      });
  }

  #lost(reason: string): void {
    if (this.#closed) return;
    this.close();
    this.#options.lost(this, reason);
  }

  async #transport(direction: 'send' | 'recv'): Promise<types.Transport> {
    const client = this.#client;
    const answer = await client.request('createTransport', { direction });
    const options = {
      id: answer.id,
      iceParameters: answer.iceParameters,
      iceCandidates: answer.iceCandidates,
      dtlsParameters: answer.dtlsParameters,
    };
    const transport =
      direction === 'send'
        ? this.#device.createSendTransport(options)
        : this.#device.createRecvTransport(options);
    transport.on('connect', ({ dtlsParameters }, done, fail) => {
      client.request('connectTransport', { transportId: transport.id, dtlsParameters }).then(() => {
        done();
      }, fail);
    });
    transport.on('produce', ({ kind, rtpParameters }, done, fail) => {
      client
        .request('produce', { transportId: transport.id, kind, rtpParameters })
        .then(({ producerId }) => {
          done({ id: producerId });
        }, fail);
    });
    transport.on('connectionstatechange', (state) => {
      if (state === 'failed') this.#enqueue(() => this.#restartIce(transport));
    });
    return transport;
  }

  async #restartIce(transport: types.Transport): Promise<void> {
    const { iceParameters } = await this.#client.request('restartIce', {
      transportId: transport.id,
    });
    await transport.restartIce({ iceParameters });
  }

  /** A peer this connection does not show (our own other connection). */
  #ignored(peer: string): boolean {
    return this.#options.ignorePeers?.has(peer) ?? false;
  }

  async #consume(info: ProducerInfo): Promise<void> {
    if (this.#ignored(info.peer)) return;
    const recv = this.#recv;
    if (recv === undefined) throw new Error('consume before the recv transport exists');
    let answer;
    try {
      answer = await this.#client.request('consume', {
        transportId: recv.id,
        producerId: info.producerId,
        rtpCapabilities: this.#device.recvRtpCapabilities,
      });
    } catch (error) {
      // The producer closed before we asked: nothing to show.
      if (error instanceof SignalingError && error.code === 'not_found') return;
      throw error;
    }
    const consumer = await recv.consume({
      id: answer.consumerId,
      producerId: answer.producerId,
      kind: answer.kind,
      rtpParameters: answer.rtpParameters,
    });
    this.#consumers.set(consumer.id, { peer: info.peer, consumer });
    this.#addPeer(info.peer, this.#peers.get(info.peer) ?? null);
    this.#options.view.trackAdded(info.peer, consumer.id, consumer.track);
    // Resumed only now, so the first frame it forwards is a key frame we can decode.
    await this.#client.request('resumeConsumer', { consumerId: consumer.id });
  }

  #addPeer(peer: string, displayName: string | null): void {
    if (this.#peers.has(peer)) return;
    this.#peers.set(peer, displayName);
    this.#options.view.peerJoined(peer, displayName);
  }

  #removePeer(peer: string): void {
    this.#closeConsumers((remote) => remote.peer === peer);
    if (this.#peers.delete(peer)) this.#options.view.peerLeft(peer);
  }

  #closeConsumers(match: (remote: RemoteConsumer, consumerId: string) => boolean): void {
    for (const [consumerId, remote] of this.#consumers) {
      if (!match(remote, consumerId)) continue;
      remote.consumer.close();
      this.#consumers.delete(consumerId);
      this.#options.view.trackRemoved(remote.peer, consumerId);
    }
  }
}
