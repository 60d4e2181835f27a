/**
 * How long a participant on node B takes to see a new producer published on
 * node A (`bench:sfu --nodes 2`), next to a participant on A itself:
 *
 *   t0           the publisher's `produce` request leaves (its send
 *                transport is already connected: ICE and DTLS are not in
 *                the figure)
 *   answered     A answers produce (the producer exists on A)
 *   newProducer  the event reaches the participant on A / on B (over the
 *                cascade link: producerAdded, then B's own notification)
 *   consume      the participant consumes at once on newProducer: its
 *   answered     consume request answered (on B: pipeRequest to A,
 *                pipeReady, the pipe producer, then B's consumer)
 *   consumed     and werift's SDP done and resumeConsumer answered
 *   first RTP    that consumer's first RTP packet arrives
 *
 * Both participants hear every newProducer, but only one consumes in each
 * trial, A and B in turn: both live in this process, and werift's SDP work
 * for one would delay the other's clock readings. Every trial is a new
 * publisher in a room where the pipe already runs (a warm publisher on A,
 * consumed by both), so the figure is the path of one more producer, not
 * the set-up of a room's pipe. Its source is a GStreamer VP8 stream of its
 * own, every frame a key frame at 60 fps: a consumer starts at a key frame,
 * and with the load's one per second the wait for the next one (0-1 s)
 * would hide everything else; here it is one frame (17 ms) at most after
 * the consume, on either node. The participants are replaced every
 * `trialsPerRoom` trials (a new room), so their PeerConnections do not grow
 * by a consumer per trial without bound.
 *
 * Runs in the driver process, on an SFU with no load on it; all times are
 * read from one clock (performance.now()).
 */
import { MediaStreamTrack, type RTCPeerConnection } from 'werift';
import {
  answerSetup,
  buildAnswer,
  dtlsParametersFromSdp,
  parseWebrtcSdp,
  rtpParametersFromMedia,
} from '../../signaling/sdp/index.js';
import {
  RtpFanIn,
  WeriftSubscriber,
  signalingChannel,
  startVideoSource,
  waitConnected,
  weriftPeerConnection,
  type SfuChannel,
} from '../../test/helpers/peers/werift-signaling.js';
import { SignalingClient, type Frame } from '../../test/helpers/signaling-client.js';
import { round } from '../rtp/stats.js';

export interface LatencyOptions {
  /** ws:// URLs of node A (publishers, the reference participant) and node B. */
  readonly urlA: string;
  readonly urlB: string;
  /** Trials in which A's participant consumes, and as many in which B's does. */
  readonly trials: number;
  readonly trialsPerRoom: number;
  /** Bound on one trial (both first packets), ms. */
  readonly trialTimeoutMs: number;
  /** No trial starts after this (Date.now()). */
  readonly deadline: number;
}

/** One trial's times after t0 (the produce request sent), ms; null: not seen. */
export interface LatencyTrial {
  /** Whose participant consumed in this trial. */
  readonly consumer: 'a' | 'b';
  readonly answeredMs: number;
  readonly newProducerMs: { readonly a: number | null; readonly b: number | null };
  readonly consumeAnsweredMs: number | null;
  readonly consumedMs: number | null;
  readonly firstRtpMs: number | null;
}

interface PerNode<T> {
  readonly a: T;
  readonly b: T;
}

export interface Distribution {
  readonly samples: number;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

export interface LatencyResult {
  readonly trials: readonly LatencyTrial[];
  /** Trials whose consumer got no first packet within trialTimeoutMs (or that failed). */
  readonly incomplete: number;
  readonly answeredMs: Distribution;
  /** Over every trial (both participants hear each one). */
  readonly newProducerMs: PerNode<Distribution>;
  /** Over the trials in which that node's participant consumed. */
  readonly consumeAnsweredMs: PerNode<Distribution>;
  readonly consumedMs: PerNode<Distribution>;
  readonly firstRtpMs: PerNode<Distribution>;
  /**
   * What the cascade adds, B minus A: newProducer per trial; the others as
   * the difference of the medians (A and B consume in different trials).
   */
  readonly cascadeAddsMs: {
    readonly newProducer: Distribution;
    readonly consumeAnsweredP50: number | null;
    readonly consumedP50: number | null;
    readonly firstRtpP50: number | null;
  };
  readonly errors: readonly string[];
}

/** p50 and p99 (nearest rank: with 50 samples p99 is the largest). */
export function distribution(values: readonly (number | null)[]): Distribution {
  const sorted = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  const rank = (q: number): number | null =>
    sorted.length === 0 ? null : round(sorted[Math.ceil(q * sorted.length) - 1] ?? 0, 1);
  return {
    samples: sorted.length,
    p50: rank(0.5),
    p99: rank(0.99),
    max: sorted.length === 0 ? null : round(sorted[sorted.length - 1] ?? 0, 1),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function joined(url: string, room: string, peer: string): Promise<[SignalingClient, Frame]> {
  const client = await SignalingClient.open(url);
  const answer = await client.request('join', { room, peer });
  if (answer.ok !== true) {
    await client.close();
    throw new Error(`join ${room} at ${url}: ${answer.error?.code ?? '?'}`);
  }
  return [client, answer];
}

/** A send transport connected (ICE, DTLS) before anything is produced on it. */
interface ReadyPublisher {
  readonly pc: RTCPeerConnection;
  readonly track: MediaStreamTrack;
  produce(): Promise<string>;
}

async function readyPublisher(channel: SfuChannel, timeoutMs: number): Promise<ReadyPublisher> {
  const capabilities = await channel.routerRtpCapabilities();
  const transport = await channel.createTransport('send');
  const pc = weriftPeerConnection(['VP8']);
  try {
    const track = new MediaStreamTrack({ kind: 'video' });
    pc.addTransceiver(track, { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    const offer = parseWebrtcSdp(pc.localDescription?.sdp);
    const media = offer.medias[0];
    if (media?.mid === undefined) throw new Error('werift offered no video m-section');
    const rtpParameters = rtpParametersFromMedia(media, capabilities);
    const answer = buildAnswer(offer, transport, [
      { mid: media.mid, kind: 'video', direction: 'recvonly', rtpParameters },
    ]);
    await channel.connectTransport(
      transport.id,
      dtlsParametersFromSdp(offer, answerSetup(offer.setup)),
    );
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await waitConnected(pc, timeoutMs);
    return { pc, track, produce: () => channel.produce(transport.id, 'video', rtpParameters) };
  } catch (error) {
    await pc.close();
    throw error;
  }
}

/**
 * A participant that notes when each newProducer arrives and, while
 * `consumes`, consumes it at once (and the join answer's producers), noting
 * when the consume is answered, done, and its first RTP packet arrives.
 * Events are heard from the join on, before its PeerConnection exists;
 * their consumes wait for it.
 */
class Watcher {
  consumes = true;
  readonly newProducerAt = new Map<string, number>();
  readonly consumeAnsweredAt = new Map<string, number>();
  readonly consumedAt = new Map<string, number>();
  readonly errors: string[] = [];
  readonly #firstBySsrc = new Map<number, number>();
  readonly #ssrcOf = new Map<string, number>();
  readonly #client: SignalingClient;
  #subscriber: Promise<WeriftSubscriber> | undefined;

  private constructor(client: SignalingClient) {
    this.#client = client;
    client.socket.on('message', (data) => {
      const at = performance.now();
      const frame = JSON.parse((data as Buffer).toString('utf8')) as Frame;
      const producerId = frame.data?.['producerId'];
      if (frame.event !== 'newProducer' || typeof producerId !== 'string') return;
      this.newProducerAt.set(producerId, at);
      if (this.consumes) void this.#consume(producerId);
    });
  }

  static async open(url: string, room: string, peer: string, timeoutMs: number): Promise<Watcher> {
    const [client, answer] = await joined(url, room, peer);
    const watcher = new Watcher(client);
    const channel = signalingChannel(client);
    const timed: SfuChannel = {
      ...channel,
      consume: async (transportId, producerId, capabilities) => {
        const consumer = await channel.consume(transportId, producerId, capabilities);
        watcher.consumeAnsweredAt.set(producerId, performance.now());
        return consumer;
      },
    };
    watcher.#subscriber = WeriftSubscriber.open(timed, { connectTimeoutMs: timeoutMs }).then(
      (subscriber) => {
        subscriber.pc.onTrack.subscribe((track) => {
          track.onReceiveRtp.subscribe((packet) => {
            const { ssrc } = packet.header;
            if (!watcher.#firstBySsrc.has(ssrc)) watcher.#firstBySsrc.set(ssrc, performance.now());
          });
        });
        return subscriber;
      },
    );
    await watcher.#subscriber.catch(async (error: unknown) => {
      await client.close();
      throw error;
    });
    for (const listed of (answer.data?.['producers'] ?? []) as { producerId?: unknown }[]) {
      if (typeof listed.producerId === 'string') void watcher.#consume(listed.producerId);
    }
    return watcher;
  }

  async #consume(producerId: string): Promise<void> {
    try {
      const subscriber = await this.#subscriber;
      if (subscriber === undefined) throw new Error('no PeerConnection yet');
      const [reception] = await subscriber.consume([producerId]);
      this.consumedAt.set(producerId, performance.now());
      if (reception !== undefined) this.#ssrcOf.set(producerId, reception.ssrc);
    } catch (error) {
      this.errors.push(`consume ${producerId}: ${String(error)}`);
    }
  }

  /** When the first RTP packet of `producerId`'s consumer arrived, if it did. */
  firstRtp(producerId: string): number | undefined {
    const ssrc = this.#ssrcOf.get(producerId);
    return ssrc === undefined ? undefined : this.#firstBySsrc.get(ssrc);
  }

  async close(): Promise<void> {
    const subscriber = await this.#subscriber?.catch(() => undefined);
    await subscriber?.close().catch(() => undefined);
    await this.#client.close().catch(() => undefined);
  }
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await sleep(2);
  }
  return true;
}

/** Runs the trials; every peer, socket and the source it started are closed when it returns. */
export async function cascadeLatency(options: LatencyOptions): Promise<LatencyResult> {
  const source = await RtpFanIn.bind();
  const video = startVideoSource({
    codec: 'VP8',
    ports: [source.port],
    fps: 60,
    keyframeInterval: 1,
    bitrateKbps: 600,
    timeoutMs: 2 * options.trials * options.trialTimeoutMs + 120_000,
  });
  const trials: LatencyTrial[] = [];
  const errors: string[] = [];
  let incomplete = 0;
  const timeoutMs = options.trialTimeoutMs;
  try {
    const total = 2 * options.trials;
    for (let room = 0; trials.length + incomplete < total; room += 1) {
      if (Date.now() > options.deadline) break;
      const name = `latency-${room}`;
      const closers: (() => Promise<void>)[] = [];
      try {
        // The warm publisher: the room spans A and B, its pipe runs, both watchers are connected.
        const [warmClient] = await joined(options.urlA, name, 'warm');
        closers.push(() => warmClient.close());
        const warm = await readyPublisher(signalingChannel(warmClient), timeoutMs);
        closers.push(() => warm.pc.close());
        const detachWarm = source.add((packet) => warm.track.writeRtp(packet));
        closers.push(() => {
          detachWarm();
          return Promise.resolve();
        });
        const warmId = await warm.produce();
        const a = await Watcher.open(options.urlA, name, 'watch-a', timeoutMs);
        closers.push(() => a.close());
        const b = await Watcher.open(options.urlB, name, 'watch-b', timeoutMs);
        closers.push(() => b.close());
        const warmed = await until(
          () => a.firstRtp(warmId) !== undefined && b.firstRtp(warmId) !== undefined,
          3 * timeoutMs,
        );
        if (!warmed) throw new Error(`${name}: the warm producer never reached both watchers`);
        for (let k = 0; k < options.trialsPerRoom; k += 1) {
          if (trials.length + incomplete >= total || Date.now() > options.deadline) break;
          const consumer = k % 2 === 0 ? a : b;
          a.consumes = consumer === a;
          b.consumes = consumer === b;
          const trial = await oneTrial(
            options.urlA,
            name,
            `t${k}`,
            source,
            [a, b],
            consumer,
            timeoutMs,
          );
          if (trial === undefined) incomplete += 1;
          else trials.push(trial);
        }
        errors.push(...a.errors, ...b.errors);
      } catch (error) {
        errors.push(String(error));
        incomplete += 1;
      } finally {
        for (const close of closers.reverse()) await close().catch(() => undefined);
      }
    }
  } finally {
    source.close();
    await video.stop();
  }
  const perNode = (time: (t: LatencyTrial) => number | null): PerNode<Distribution> => ({
    a: distribution(trials.filter((t) => t.consumer === 'a').map(time)),
    b: distribution(trials.filter((t) => t.consumer === 'b').map(time)),
  });
  const consumeAnsweredMs = perNode((t) => t.consumeAnsweredMs);
  const consumedMs = perNode((t) => t.consumedMs);
  const firstRtpMs = perNode((t) => t.firstRtpMs);
  return {
    trials,
    incomplete,
    answeredMs: distribution(trials.map((t) => t.answeredMs)),
    newProducerMs: {
      a: distribution(trials.map((t) => t.newProducerMs.a)),
      b: distribution(trials.map((t) => t.newProducerMs.b)),
    },
    consumeAnsweredMs,
    consumedMs,
    firstRtpMs,
    cascadeAddsMs: {
      newProducer: distribution(
        trials.map(({ newProducerMs: { a, b } }) => (a === null || b === null ? null : b - a)),
      ),
      consumeAnsweredP50: medianDifference(consumeAnsweredMs),
      consumedP50: medianDifference(consumedMs),
      firstRtpP50: medianDifference(firstRtpMs),
    },
    errors: [...new Set(errors)].slice(0, 10),
  };
}

function medianDifference({ a, b }: PerNode<Distribution>): number | null {
  return a.p50 === null || b.p50 === null ? null : round(b.p50 - a.p50, 1);
}

/** One new publisher on A; undefined when `consumer` did not get its first packet in time. */
async function oneTrial(
  urlA: string,
  room: string,
  peer: string,
  source: RtpFanIn,
  [a, b]: readonly [Watcher, Watcher],
  consumer: Watcher,
  timeoutMs: number,
): Promise<LatencyTrial | undefined> {
  const [client] = await joined(urlA, room, peer);
  const publisher = await readyPublisher(signalingChannel(client), timeoutMs).catch(
    async (error: unknown) => {
      await client.close();
      throw error;
    },
  );
  const detach = source.add((packet) => publisher.track.writeRtp(packet));
  try {
    const t0 = performance.now();
    const producerId = await publisher.produce();
    const answered = performance.now();
    const complete = await until(() => consumer.firstRtp(producerId) !== undefined, timeoutMs);
    const since = (at: number | undefined): number | null =>
      at === undefined ? null : round(at - t0, 2);
    const trial: LatencyTrial = {
      consumer: consumer === a ? 'a' : 'b',
      answeredMs: round(answered - t0, 2),
      newProducerMs: {
        a: since(a.newProducerAt.get(producerId)),
        b: since(b.newProducerAt.get(producerId)),
      },
      consumeAnsweredMs: since(consumer.consumeAnsweredAt.get(producerId)),
      consumedMs: since(consumer.consumedAt.get(producerId)),
      firstRtpMs: since(consumer.firstRtp(producerId)),
    };
    return complete ? trial : undefined;
  } finally {
    detach();
    await publisher.pc.close().catch(() => undefined);
    await client.close().catch(() => undefined);
    // The producer's close reaches the consumer (consumerClosed) before the next trial.
    await sleep(200);
  }
}
