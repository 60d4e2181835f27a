/**
 * The mediasoup objects of one WebSocket peer: its WebRTC transports and the
 * Producers and Consumers on them, within the per-peer limits. Everything is
 * closed with the peer (leave, a closed socket, a missed heartbeat), and a
 * transport whose DTLS fails or closes takes its producers and consumers
 * with it, so nothing outlives the client.
 */
import type { types } from 'mediasoup';
import { StreammeshError } from '../../src/shared/errors.js';
import type { ErrorCode, EventName } from '../protocol/index.js';
import {
  createWebRtcTransport,
  transportParameters,
  type RtcSettings,
  type TransportParameters,
} from '../sfu/index.js';
import { RoomError } from './rooms.js';
import { OverBudgetError, type WebRtcBudget } from './webrtc-budget.js';

export interface PeerLimits {
  readonly transports: number;
  readonly producers: number;
  readonly consumers: number;
  /** Bits/s per send transport. */
  readonly incomingBitrate: number;
}

/** A request refused; `code` is the protocol error code the client gets. */
export class MediaError extends StreammeshError {
  declare readonly code: ErrorCode;

  // Not useless: it narrows `code` to the protocol's codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: ErrorCode, message: string) {
    super(code, message);
  }
}

interface TransportAppData extends types.AppData {
  peer: string;
  direction: 'send' | 'recv';
}

export interface PeerMediaOptions {
  readonly peer: string;
  readonly router: types.Router;
  readonly rtc: RtcSettings;
  readonly limits: PeerLimits;
  /** Transports are created within its budget, charged to `source`. */
  readonly budget: WebRtcBudget;
  /** The peer's address (its WebSocket's remote address). */
  readonly source: string;
  /** Events about this peer's consumers (consumerClosed, consumerPaused, consumerResumed). */
  readonly notify: (event: EventName, data: unknown) => void;
  /**
   * Makes a producer consumable on `router` before a consume: one of
   * another signaling node is piped in first (Rooms.ensureProducer). Throws
   * a RoomError or MediaError the client is answered with.
   */
  readonly ensureProducer?: (producerId: string) => Promise<void>;
}

export interface ConsumerDescription {
  readonly consumerId: string;
  readonly producerId: string;
  readonly kind: types.MediaKind;
  readonly rtpParameters: types.RtpParameters;
  readonly type: types.ConsumerType;
  /** Consumers start paused: resume once the client is ready to receive. */
  readonly paused: boolean;
  readonly producerPaused: boolean;
}

export class PeerMedia {
  readonly #options: PeerMediaOptions;
  readonly #transports = new Map<string, types.WebRtcTransport<TransportAppData>>();
  readonly #producers = new Map<string, types.Producer>();
  readonly #consumers = new Map<string, types.Consumer>();
  /** Transports being created count against the limit too. */
  #pendingTransports = 0;
  #closed = false;

  constructor(options: PeerMediaOptions) {
    this.#options = options;
  }

  get producers(): ReadonlyMap<string, types.Producer> {
    return this.#producers;
  }

  get consumers(): ReadonlyMap<string, types.Consumer> {
    return this.#consumers;
  }

  get transports(): ReadonlyMap<string, types.WebRtcTransport> {
    return this.#transports;
  }

  async createTransport(direction: 'send' | 'recv'): Promise<TransportParameters> {
    const { limits, rtc, router, peer, budget, source } = this.#options;
    if (this.#transports.size + this.#pendingTransports >= limits.transports) {
      throw new MediaError('limit_exceeded', `at most ${limits.transports} transports per peer`);
    }
    this.#pendingTransports += 1;
    let transport: types.WebRtcTransport<TransportAppData>;
    try {
      transport = await budget.transport(source, () =>
        createWebRtcTransport<TransportAppData>(
          router,
          {
            ...rtc,
            maxIncomingBitrate: direction === 'send' ? limits.incomingBitrate : undefined,
          },
          { peer, direction },
        ),
      );
    } finally {
      this.#pendingTransports -= 1;
    }
    if (this.#closed) {
      transport.close();
      throw new MediaError('not_joined', 'the peer left while its transport was created');
    }
    this.#transports.set(transport.id, transport);
    transport.observer.once('close', () => {
      this.#transports.delete(transport.id);
    });
    transport.on('dtlsstatechange', (state) => {
      // A failed or remotely closed DTLS session never carries media again.
      if (state === 'failed' || state === 'closed') transport.close();
    });
    return transportParameters(transport);
  }

  async connectTransport(transportId: string, dtlsParameters: unknown): Promise<void> {
    await this.#transport(transportId).connect({
      dtlsParameters: dtlsParameters as types.DtlsParameters,
    });
  }

  async restartIce(transportId: string): Promise<types.IceParameters> {
    return this.#transport(transportId).restartIce();
  }

  async produce(
    transportId: string,
    kind: types.MediaKind,
    rtpParameters: unknown,
    appData: types.AppData,
  ): Promise<types.Producer> {
    const { limits } = this.#options;
    const transport = this.#transport(transportId, 'send');
    if (this.#producers.size >= limits.producers) {
      throw new MediaError('limit_exceeded', `at most ${limits.producers} producers per peer`);
    }
    checkCodecKinds(kind, rtpParameters);
    const producer = await transport.produce({
      kind,
      rtpParameters: rtpParameters as types.RtpParameters,
      appData,
    });
    if (this.#producers.size >= limits.producers || this.#closed) {
      // Two concurrent produce requests raced past the check above.
      producer.close();
      throw new MediaError('limit_exceeded', `at most ${limits.producers} producers per peer`);
    }
    this.#producers.set(producer.id, producer);
    producer.observer.once('close', () => {
      this.#producers.delete(producer.id);
    });
    return producer;
  }

  async consume(
    transportId: string,
    producerId: string,
    rtpCapabilities: unknown,
  ): Promise<ConsumerDescription> {
    const { limits, router, notify } = this.#options;
    const transport = this.#transport(transportId, 'recv');
    if (this.#consumers.size >= limits.consumers) {
      throw new MediaError('limit_exceeded', `at most ${limits.consumers} consumers per peer`);
    }
    const capabilities = rtpCapabilities as types.RtpCapabilities;
    await this.#options.ensureProducer?.(producerId);
    if (this.#isClosed()) throw new MediaError('not_joined', 'the peer left while consuming');
    let consumable: boolean;
    try {
      consumable = router.canConsume({ producerId, rtpCapabilities: capabilities });
    } catch (error) {
      throw asMediaError(error);
    }
    if (!consumable) {
      throw new MediaError(
        'not_found',
        `producer ${producerId} does not exist or cannot be consumed with these capabilities`,
      );
    }
    const consumer = await transport.consume({
      producerId,
      rtpCapabilities: capabilities,
      paused: true,
    });
    if (this.#closed) {
      consumer.close();
      throw new MediaError('not_joined', 'the peer left while consuming');
    }
    this.#consumers.set(consumer.id, consumer);
    const ids = { consumerId: consumer.id, producerId };
    consumer.observer.once('close', () => {
      this.#consumers.delete(consumer.id);
    });
    consumer.on('producerclose', () => {
      notify('consumerClosed', ids);
    });
    consumer.on('transportclose', () => {
      notify('consumerClosed', ids);
    });
    consumer.on('producerpause', () => {
      notify('consumerPaused', ids);
    });
    consumer.on('producerresume', () => {
      notify('consumerResumed', ids);
    });
    return {
      consumerId: consumer.id,
      producerId,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      type: consumer.type,
      paused: consumer.paused,
      producerPaused: consumer.producerPaused,
    };
  }

  producer(producerId: string): types.Producer {
    const producer = this.#producers.get(producerId);
    if (producer === undefined) throw new MediaError('not_found', `no producer ${producerId}`);
    return producer;
  }

  consumer(consumerId: string): types.Consumer {
    const consumer = this.#consumers.get(consumerId);
    if (consumer === undefined) throw new MediaError('not_found', `no consumer ${consumerId}`);
    return consumer;
  }

  /** Closes every transport, and with them every producer and consumer. */
  close(): void {
    this.#closed = true;
    for (const transport of [...this.#transports.values()]) transport.close();
  }

  /** `#closed` read where narrowing would assume it unchanged (after an await). */
  #isClosed(): boolean {
    return this.#closed;
  }

  #transport(
    transportId: string,
    direction?: 'send' | 'recv',
  ): types.WebRtcTransport<TransportAppData> {
    const transport = this.#transports.get(transportId);
    if (transport === undefined) throw new MediaError('not_found', `no transport ${transportId}`);
    if (direction !== undefined && transport.appData.direction !== direction) {
      throw new MediaError(
        'bad_message',
        `transport ${transportId} is a ${transport.appData.direction} transport`,
      );
    }
    return transport;
  }
}

/**
 * mediasoup takes an audio Producer with a video codec, which no consumer
 * could then use: refuse it here.
 */
function checkCodecKinds(kind: types.MediaKind, rtpParameters: unknown): void {
  const codecs = (rtpParameters as { codecs?: unknown } | null)?.codecs;
  if (!Array.isArray(codecs)) return; // mediasoup refuses it with its own message.
  for (const codec of codecs as unknown[]) {
    const mimeType = (codec as { mimeType?: unknown } | null)?.mimeType;
    if (typeof mimeType !== 'string') continue;
    const codecKind = mimeType.split('/')[0]?.toLowerCase();
    // Retransmission and FEC codecs (video/rtx, audio/red) carry the kind too.
    if (codecKind !== kind) {
      throw new MediaError('bad_message', `a ${kind} producer cannot use codec ${mimeType}`);
    }
  }
}

/**
 * mediasoup refuses bad parameters with TypeError (shape) or UnsupportedError
 * (codecs): the client's fault, answered bad_message. A room's refusal (a
 * remote producer that cannot be piped in) keeps its code. A spent budget (or no
 * port left) is over_budget. Anything else is ours.
 */
export function asMediaError(error: unknown): unknown {
  if (error instanceof MediaError) return error;
  if (error instanceof RoomError) return new MediaError(error.code, error.message);
  if (error instanceof OverBudgetError) return new MediaError('over_budget', error.message);
  if (error instanceof TypeError || (error instanceof Error && error.name === 'UnsupportedError')) {
    return new MediaError('bad_message', error.message);
  }
  return error;
}
