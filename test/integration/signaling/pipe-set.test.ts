/**
 * PipeSet between two signaling nodes' Routers, each on its own WorkerPool (one
 * worker) in this process, pipes on 127.0.0.11 (node A) and 127.0.0.12 (node
 * B); the PIPE ends are passed by hand, as the control plane would relay them.
 * A producer on A consumed by three consumers on B at once crosses once (one
 * pipe producer on B, one pipe consumer on A) and its RTP reaches a consumer
 * on B; A's pause and close, mirrored on B, reach B's consumers; closing the
 * pipes brings the census back to where it was. A peer that makes its pipe
 * again (a restart) is followed by both ends, which settle on one pair.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { types } from 'mediasoup';
import {
  PipeSet,
  type PipeConnectResult,
  type PipeSetEvents,
} from '../../../signaling/cascade/pipe-set.js';
import type { PipeEndpoint } from '../../../signaling/cascade/pipe-endpoint.js';
import { registerPipeMetrics } from '../../../signaling/cascade/pipe-metrics.js';
import {
  WorkerPool,
  censusCounts,
  installCensus,
  liveConsumers,
  liveProducers,
  type CensusCounts,
} from '../../../signaling/sfu/index.js';
import { at } from '../../helpers/defined.js';
import { waitFor } from '../../helpers/process.js';
import { UdpPeer, rtp } from '../../helpers/udp.js';

const log = pino({ level: 'silent' });
const NODE_A = 'node-a';
const NODE_B = 'node-b';
const ROOM = 'pipes';
const PIPE_ID = `pipe/${ROOM}/${NODE_A}~${NODE_B}`;
const codecs: types.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];
const VP8_SSRC = 0x1111;
/** VP8 payload descriptor (S=1, partition 0) and a payload header with P=0: a key frame. */
const VP8_KEY_FRAME = Buffer.concat([Buffer.from([0x10, 0x00]), Buffer.alloc(180, 0x42)]);

interface Node {
  readonly pool: WorkerPool;
  readonly router: types.Router;
}

async function startNode(rtcMinPort: number): Promise<Node> {
  const pool = await WorkerPool.create({ size: 1, rtcMinPort, rtcMaxPort: rtcMinPort + 199, log });
  const { router } = await pool.createRouter(codecs, { room: ROOM });
  return { pool, router };
}

function pipeSet(node: Node, id: string, ip: string): PipeSet {
  return new PipeSet({ router: node.router, room: ROOM, node: id, rtc: { listenIp: ip }, log });
}

/** A publisher on `router`: a PlainTransport on 127.0.0.1 fed VP8 key frames from a UDP socket. */
async function publish(router: types.Router) {
  const transport = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: true,
  });
  const producer = await transport.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 }],
      encodings: [{ ssrc: VP8_SSRC }],
    },
  });
  const sender = await UdpPeer.bind();
  let sequence = 0;
  const timer = setInterval(() => {
    for (let burst = 0; burst < 4; burst += 1) {
      const packet = rtp({ sequence, ssrc: VP8_SSRC, payload: VP8_KEY_FRAME });
      sequence += 1;
      sender.socket.send(packet, transport.tuple.localPort, '127.0.0.1');
    }
  }, 20);
  return {
    transport,
    producer,
    stop() {
      clearInterval(timer);
      sender.close();
    },
  };
}

/** A consumer on `router` sending to a UDP socket on 127.0.0.1. */
async function subscribe(router: types.Router, producerId: string) {
  const receiver = await UdpPeer.bind();
  const transport = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: false,
  });
  await transport.connect({ ip: '127.0.0.1', port: receiver.port });
  const consumer = await transport.consume({
    producerId,
    rtpCapabilities: router.rtpCapabilities,
  });
  return { receiver, transport, consumer };
}

/** RTP (not RTCP) packets a receiver got. */
function rtpCount(peer: UdpPeer): number {
  return peer.received.filter(({ packet }) => {
    const type = packet[1] ?? 0;
    return !(type >= 192 && type <= 223);
  }).length;
}

/** Pipe objects on `router`, by the census (pipe transports carry appData.pipeId). */
function pipeObjects(router: types.Router): { producers: number; consumers: number } {
  const onPipe = (stream: { transport: types.Transport; router: types.Router }): boolean =>
    stream.router === router && typeof stream.transport.appData.pipeId === 'string';
  return {
    producers: [...liveProducers()].filter(onPipe).length,
    consumers: [...liveConsumers()].filter(onPipe).length,
  };
}

async function transportsOf(router: types.Router): Promise<number> {
  return (await router.dump()).transportIds.length;
}

/** Opens both ends and connects each to the other, as two PIPE pushes would. */
async function connectPair(a: PipeSet, b: PipeSet): Promise<void> {
  const [endA, endB] = await Promise.all([a.open(NODE_B, PIPE_ID), b.open(NODE_A, PIPE_ID)]);
  const [resultA, resultB] = await Promise.all([
    a.connect(NODE_B, endB, { ownEnd: endA }),
    b.connect(NODE_A, endA, { ownEnd: endB }),
  ]);
  assert.equal(resultA.state, 'connected');
  assert.equal(resultB.state, 'connected');
}

describe('PipeSet between two nodes', () => {
  let nodeA: Node;
  let nodeB: Node;
  let baseline: CensusCounts;

  before(async () => {
    installCensus();
    nodeA = await startNode(42000);
    nodeB = await startNode(42200);
    baseline = censusCounts();
  });

  after(async () => {
    await Promise.all([nodeA.pool.close(), nodeB.pool.close()]);
  });

  it('pipes a producer once for concurrent consumers, mirrors pause and close, and leaves nothing behind', async () => {
    const setA = pipeSet(nodeA, NODE_A, '127.0.0.11');
    const setB = pipeSet(nodeB, NODE_B, '127.0.0.12');
    const publisher = await publish(nodeA.router);
    const subscribers: Awaited<ReturnType<typeof subscribe>>[] = [];
    try {
      const [endA, endB] = await Promise.all([
        setA.open(NODE_B, PIPE_ID),
        setB.open(NODE_A, PIPE_ID),
      ]);
      assert.match(endA.address, /^127\.0\.0\.11:\d+$/);
      assert.match(endB.address, /^127\.0\.0\.12:\d+$/);
      assert.deepEqual(await setA.open(NODE_B, PIPE_ID), endA, 'open is idempotent');
      await connectPair(setA, setB);

      const producerId = publisher.producer.id;
      // Three consumers on B ask for A's producer at the same time.
      const ensure = async (): Promise<types.Producer> =>
        setB.pipeIn(NODE_A, { producerId, ...(await setA.pipeOut(NODE_B, producerId)) });
      const piped = await Promise.all([ensure(), ensure(), ensure()]);
      assert.equal(new Set(piped).size, 1, 'one pipe producer shared by all callers');
      assert.equal(at(piped, 0).id, producerId, 'the pipe producer keeps the origin id');
      for (let index = 0; index < 3; index += 1) {
        subscribers.push(await subscribe(nodeB.router, producerId));
      }
      assert.deepEqual(pipeObjects(nodeB.router), { producers: 1, consumers: 0 });
      assert.deepEqual(pipeObjects(nodeA.router), { producers: 0, consumers: 1 });
      assert.equal(setA.stats().pipedOut, 1);
      assert.equal(setB.stats().pipedIn, 1);
      assert.deepEqual(
        setB.stats().pipes.map(({ peer, connected }) => ({ peer, connected })),
        [{ peer: NODE_A, connected: true }],
      );
      // Both nodes live in this process: the gauges sum A's and B's sets.
      const metrics = new Registry();
      registerPipeMetrics(metrics);
      const values = async (name: string): Promise<Record<string, number>> => {
        const metric = (await metrics.getMetricsAsJSON()).find((entry) => entry.name === name);
        return Object.fromEntries(
          (metric?.values ?? []).map((value) => [Object.values(value.labels).join(), value.value]),
        );
      };
      assert.deepEqual(await values('streammesh_signaling_piped_producers'), { in: 1, out: 1 });
      assert.deepEqual(await values('streammesh_signaling_pipes'), { connected: 2, waiting: 0 });

      const first = at(subscribers, 0);
      await waitFor(
        () => (rtpCount(first.receiver) > 0 ? true : undefined),
        5_000,
        () => 'RTP from A at a consumer on B',
      );

      // A's pause, mirrored on B, reaches B's consumers.
      await publisher.producer.pause();
      assert.equal(first.consumer.producerPaused, false, 'the pause does not cross by itself');
      assert.equal(await setB.pausePipedIn(producerId), true);
      await waitFor(
        () => (subscribers.every(({ consumer }) => consumer.producerPaused) ? true : undefined),
        3_000,
        () => 'consumers on B paused',
      );
      await publisher.producer.resume();
      assert.equal(await setB.resumePipedIn(producerId), true);
      await waitFor(
        () => (subscribers.every(({ consumer }) => !consumer.producerPaused) ? true : undefined),
        3_000,
        () => 'consumers on B resumed',
      );

      // A's close, mirrored on B, closes B's consumers.
      publisher.producer.close();
      assert.equal(setB.closePipedIn(producerId), true);
      await waitFor(
        () => (subscribers.every(({ consumer }) => consumer.closed) ? true : undefined),
        3_000,
        () => 'consumers on B closed',
      );
      await waitFor(
        () => (setA.stats().pipedOut === 0 ? true : undefined),
        3_000,
        () => 'the pipe consumer on A gone with its producer',
      );
      assert.deepEqual(pipeObjects(nodeA.router), { producers: 0, consumers: 0 });
      assert.deepEqual(pipeObjects(nodeB.router), { producers: 0, consumers: 0 });
    } finally {
      publisher.stop();
      publisher.transport.close();
      for (const { receiver, transport } of subscribers) {
        transport.close();
        receiver.close();
      }
      await Promise.all([setA.closePeer(NODE_B), setB.closePeer(NODE_A)]);
    }
    assert.deepEqual(censusCounts(), baseline);
    assert.equal(await transportsOf(nodeA.router), 0);
    assert.equal(await transportsOf(nodeB.router), 0);
    setA.close();
    setB.close();
  });

  it('closes the pipe consumers and producers with closePeer', async () => {
    const setA = pipeSet(nodeA, NODE_A, '127.0.0.11');
    const setB = pipeSet(nodeB, NODE_B, '127.0.0.12');
    const publisher = await publish(nodeA.router);
    try {
      await connectPair(setA, setB);
      const producerId = publisher.producer.id;
      const subscriber = await (async () => {
        await setB.pipeIn(NODE_A, { producerId, ...(await setA.pipeOut(NODE_B, producerId)) });
        return subscribe(nodeB.router, producerId);
      })();
      await setB.closePeer(NODE_A);
      await waitFor(
        () => (subscriber.consumer.closed ? true : undefined),
        3_000,
        () => 'the consumer on B closed with the pipe',
      );
      await setA.closePeer(NODE_B);
      assert.equal(setA.stats().pipes.length, 0);
      assert.deepEqual(pipeObjects(nodeA.router), { producers: 0, consumers: 0 });
      assert.deepEqual(pipeObjects(nodeB.router), { producers: 0, consumers: 0 });
      subscriber.transport.close();
      subscriber.receiver.close();
      await assert.rejects(setA.pipeOut(NODE_B, producerId), { code: 'ERR_PIPE_NO_PEER' });
    } finally {
      publisher.stop();
      publisher.transport.close();
      setA.close();
      setB.close();
    }
    assert.deepEqual(censusCounts(), baseline);
  });

  it('refuses a producer piped in from a second peer, and an unknown producer', async () => {
    const setA = pipeSet(nodeA, NODE_A, '127.0.0.11');
    const setB = pipeSet(nodeB, NODE_B, '127.0.0.12');
    const publisher = await publish(nodeA.router);
    try {
      await connectPair(setA, setB);
      const producerId = publisher.producer.id;
      const out = await setA.pipeOut(NODE_B, producerId);
      await setB.pipeIn(NODE_A, { producerId, ...out });
      await assert.rejects(setB.pipeIn('node-c', { producerId, ...out }), {
        code: 'ERR_PIPE_DUPLICATE',
      });
      await assert.rejects(setA.pipeOut(NODE_B, 'no-such-producer'), { code: 'ERR_PIPE_MEDIA' });
      assert.equal(setA.stats().pipedOut, 1);
    } finally {
      publisher.stop();
      publisher.transport.close();
      setA.close();
      setB.close();
    }
    assert.deepEqual(censusCounts(), baseline);
    assert.equal(await transportsOf(nodeA.router), 0);
  });

  it('follows a peer that makes its pipe again, and both ends settle on one pair that carries media', async () => {
    const setA = pipeSet(nodeA, NODE_A, '127.0.0.11');
    let setB = pipeSet(nodeB, NODE_B, '127.0.0.12');
    const publisher = await publish(nodeA.router);
    const resets: PipeSetEvents['peer-reset'][] = [];
    setA.on('peer-reset', (...args) => resets.push(args));
    let subscriber: Awaited<ReturnType<typeof subscribe>> | undefined;
    try {
      // The PIPE body as the control plane keeps it: each end as last reported.
      const body: { a: PipeEndpoint; b: PipeEndpoint } = {
        a: await setA.open(NODE_B, PIPE_ID),
        b: await setB.open(NODE_A, PIPE_ID),
      };
      await connectPair(setA, setB);
      const oldA = body.a;

      // B restarts: a new PipeSet, a new transport; the body still holds B's old end.
      setB.close();
      setB = pipeSet(nodeB, NODE_B, '127.0.0.12');
      const freshB = await setB.open(NODE_A, PIPE_ID);
      const waiting = await setB.connect(NODE_A, body.a, { ownEnd: body.b });
      assert.equal(waiting.state, 'waiting', "A's end beside B's old one is bound to it");

      // Push the body to both ends until neither changes its end (bounded).
      body.b = freshB;
      let settled = false;
      for (let round = 0; round < 5 && !settled; round += 1) {
        const resultA: PipeConnectResult = await setA.connect(NODE_B, body.b, { ownEnd: body.a });
        body.a = resultA.endpoint;
        const resultB: PipeConnectResult = await setB.connect(NODE_A, body.a, { ownEnd: body.b });
        body.b = resultB.endpoint;
        settled =
          resultA.state === 'connected' &&
          resultB.state === 'connected' &&
          !resultA.recreated &&
          !resultB.recreated;
      }
      assert.ok(settled, 'both ends connected to each other');
      assert.notDeepEqual(body.a, oldA, "A made its end again for B's new one");
      assert.deepEqual(resets, [[NODE_B]]);
      assert.deepEqual(
        setA.endpoints().map(({ endpoint }) => endpoint),
        [body.a],
      );

      const producerId = publisher.producer.id;
      await setB.pipeIn(NODE_A, { producerId, ...(await setA.pipeOut(NODE_B, producerId)) });
      subscriber = await subscribe(nodeB.router, producerId);
      const receiver = subscriber.receiver;
      await waitFor(
        () => (rtpCount(receiver) > 0 ? true : undefined),
        5_000,
        () => 'RTP from A at B over the new pair',
      );
    } finally {
      publisher.stop();
      publisher.transport.close();
      subscriber?.transport.close();
      subscriber?.receiver.close();
      setA.close();
      setB.close();
    }
    assert.deepEqual(censusCounts(), baseline);
  });

  it('closes with its Router (a worker died), and refuses work after', async () => {
    const { router } = await nodeA.pool.createRouter(codecs, { room: 'short-lived' });
    const set = new PipeSet({
      router,
      room: 'short-lived',
      node: NODE_A,
      rtc: { listenIp: '127.0.0.11' },
      log,
    });
    await set.open(NODE_B, `pipe/short-lived/${NODE_A}~${NODE_B}`);
    const closed = new Promise<void>((resolve) => set.once('close', resolve));
    router.close();
    await closed;
    assert.equal(set.closed, true);
    assert.deepEqual(set.stats().pipes, []);
    await assert.rejects(set.open(NODE_B, 'x'), { code: 'ERR_PIPE_CLOSED' });
    await assert.rejects(set.pipeOut(NODE_B, 'p'), { code: 'ERR_PIPE_CLOSED' });
    assert.deepEqual(censusCounts(), baseline);
  });

  it('reads each worker process its CPU time', async () => {
    const [usage] = await nodeA.pool.resourceUsage();
    assert.ok(usage !== undefined);
    assert.equal(usage.pid, at(nodeA.pool.workers, 0).pid);
    assert.ok(usage.cpuMs > 0, 'a worker that started and piped media used CPU');
  });
});
