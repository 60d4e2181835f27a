/**
 * A load generator (a child process of run.ts): werift publishers and
 * subscribers in rooms, on the driver's request. Every publisher here sends
 * the packets of the one shared RTP source (GStreamer VP8, started by the
 * driver, sent to this process's UDP port); every subscriber's one
 * PeerConnection consumes all the publishers of its room and counts each
 * consumer's packets and loss. Peers run here, not in the driver and not in
 * the SFU process, so their work is not billed to the SFU.
 *
 * Publishers join at one URL, subscribers at theirs (with --nodes 2, some
 * on the other node: the room is cascaded). A subscriber consumes once its
 * node knows every producer of the room: the join answer lists what the
 * node knew, the rest comes as newProducer (a producer of another node is
 * known there once the nodes have synced the room).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SignalingClient, type Frame } from '../../test/helpers/signaling-client.js';
import {
  RtpFanIn,
  WeriftPublisher,
  WeriftSubscriber,
  signalingChannel,
  type SfuChannel,
} from '../../test/helpers/peers/werift-signaling.js';
import { bareChannel } from './bare-rpc.js';
import {
  CHILD_MAX_LIFETIME_MS,
  type AllClosed,
  type GeneratorConfig,
  type GeneratorPort,
  type GeneratorRequest,
  type GeneratorSnapshot,
  type RoomsAdded,
  type SideName,
} from './messages.js';

const config = JSON.parse(process.argv[2] ?? '{}') as GeneratorConfig;
const source = await RtpFanIn.bind();

interface Peer {
  readonly client: SignalingClient | undefined;
  close(): Promise<void>;
}

const peers: Peer[] = [];
/** How late this event loop runs (timers, socket reads): the generator's own saturation. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const subscribers: WeriftSubscriber[] = [];
/** consumerClosed events to subscribers: nothing in the load closes a producer, so the SFU did. */
let consumersClosed = 0;
/** Bound on a subscriber's node learning of the room's producers (the cascade syncs the room). */
const PRODUCERS_KNOWN_MS = 15_000;

function reply(message: GeneratorPort | RoomsAdded | GeneratorSnapshot | AllClosed): void {
  process.send?.(message);
}

/** One peer's channel: its own WebSocket joined to the room, or the bare RPC. */
async function channel(
  side: SideName,
  url: string,
  room: string,
  peer: string,
): Promise<{
  channel: SfuChannel;
  client: SignalingClient | undefined;
  joined: Frame | undefined;
}> {
  if (side === 'bare') {
    return { channel: bareChannel(url, room), client: undefined, joined: undefined };
  }
  const client = await SignalingClient.open(url);
  const joined = await client.request('join', { room, peer });
  if (joined.ok !== true) {
    await client.close();
    throw new Error(`join ${room}: ${joined.error?.code ?? '?'} ${joined.error?.message ?? ''}`);
  }
  return { channel: signalingChannel(client), client, joined };
}

/** Resolves once the subscriber's node has named every one of `producerIds` (join answer or newProducer). */
async function producersKnown(
  client: SignalingClient,
  joined: Frame,
  producerIds: readonly string[],
): Promise<void> {
  const listed = (joined.data?.['producers'] ?? []) as readonly { producerId?: unknown }[];
  const missing = new Set(producerIds);
  for (const producer of listed) missing.delete(String(producer.producerId));
  const deadline = Date.now() + PRODUCERS_KNOWN_MS;
  while (missing.size > 0) {
    if (Date.now() > deadline) throw new Error(`${missing.size} producers never announced`);
    // take() gives up after 5 s; the loop's own deadline bounds the wait.
    const frame = await client
      .take(
        (f) => f.event === 'newProducer' && missing.has(String(f.data?.['producerId'])),
        'newProducer',
      )
      .catch(() => undefined);
    if (frame !== undefined) missing.delete(String(frame.data?.['producerId']));
  }
}

/** A room: its publishers connect at once, then its subscribers, each consuming them all. */
async function buildRoom(
  side: SideName,
  url: string,
  subscriberUrls: readonly string[],
  room: string,
  publisherCount: number,
  subscriberCount: number,
): Promise<void> {
  const options = { connectTimeoutMs: config.connectTimeoutMs };
  const producerIds = await Promise.all(
    Array.from({ length: publisherCount }, async (_, i) => {
      const { channel: sfu, client } = await channel(side, url, room, `pub${i}`);
      const publisher = await WeriftPublisher.publish(sfu, options).catch(
        async (error: unknown) => {
          await client?.close();
          throw error;
        },
      );
      const detach = source.add((packet) => publisher.writeRtp(packet));
      peers.push({
        client,
        close: async () => {
          detach();
          await publisher.close();
        },
      });
      return publisher.producerId;
    }),
  );
  await Promise.all(
    Array.from({ length: subscriberCount }, async (_, i) => {
      const at = subscriberUrls[i % subscriberUrls.length] ?? url;
      const { channel: sfu, client, joined } = await channel(side, at, room, `sub${i}`);
      client?.socket.on('message', (data) => {
        if ((data as Buffer).includes('"consumerClosed"')) consumersClosed += 1;
      });
      const subscriber = await (async () => {
        if (client !== undefined && joined !== undefined) {
          await producersKnown(client, joined, producerIds);
        }
        return WeriftSubscriber.open(sfu, options);
      })().catch(async (error: unknown) => {
        await client?.close();
        throw error;
      });
      peers.push({ client, close: () => subscriber.close() });
      await subscriber.consume(producerIds);
      subscribers.push(subscriber);
    }),
  );
}

async function addRooms(request: Extract<GeneratorRequest, { type: 'addRooms' }>): Promise<void> {
  const started = performance.now();
  const errors = new Set<string>();
  let failedRooms = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < request.rooms.length) {
      const room = request.rooms[next] ?? '';
      next += 1;
      try {
        await buildRoom(
          request.side,
          request.url,
          request.subscriberUrls,
          room,
          request.publishers,
          request.subscribers,
        );
      } catch (error) {
        failedRooms += 1;
        if (errors.size < 5) errors.add(error instanceof Error ? error.message : String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, request.concurrency) }, worker));
  reply({
    type: 'addRooms',
    rooms: request.rooms.length - failedRooms,
    failedRooms,
    errors: [...errors],
    ms: Math.round(performance.now() - started),
  });
}

function snapshot(): void {
  const received: number[] = [];
  const expected: number[] = [];
  let keyframes = 0;
  let unrouted = 0;
  for (const subscriber of subscribers) {
    unrouted += subscriber.unrouted;
    for (const reception of subscriber.receptions.values()) {
      received.push(reception.received);
      expected.push(reception.counter.expected);
      keyframes += reception.keyframes;
    }
  }
  const loopDelayMs = {
    p99: Math.round(loopDelay.percentile(99) / 1e6),
    max: Math.round(loopDelay.max / 1e6),
  };
  loopDelay.reset();
  reply({
    type: 'snapshot',
    loopDelayMs,
    received,
    expected,
    keyframes,
    sourcePackets: source.packets,
    unrouted,
    consumersClosed,
  });
}

async function closeAll(): Promise<void> {
  const started = performance.now();
  const closing = peers.splice(0);
  subscribers.splice(0);
  for (let i = 0; i < closing.length; i += 20) {
    await Promise.all(
      closing.slice(i, i + 20).map(async (peer) => {
        // A socket that errored on its way out must not take the generator down.
        await peer.close().catch(() => undefined);
        await peer.client?.close().catch(() => undefined);
      }),
    );
  }
  // Closing the publishers closed their consumers: not the SFU's doing.
  consumersClosed = 0;
  reply({ type: 'closeAll', closed: closing.length, ms: Math.round(performance.now() - started) });
}

process.on('message', (message: GeneratorRequest) => {
  switch (message.type) {
    case 'port':
      reply({ type: 'port', port: source.port });
      break;
    case 'addRooms':
      void addRooms(message);
      break;
    case 'snapshot':
      snapshot();
      break;
    case 'closeAll':
      void closeAll();
      break;
    case 'exit':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
setTimeout(() => process.exit(0), CHILD_MAX_LIFETIME_MS).unref();

process.send?.({ type: 'ready', pid: process.pid });
