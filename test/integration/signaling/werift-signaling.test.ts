/**
 * werift clients of the WebSocket protocol with real media: a publisher
 * sending GStreamer's VP8 through a send transport, two subscribers each on
 * one PeerConnection and one recv transport, all in one room of a real
 * mediasoup worker. The SDP both ways is signaling/sdp's. One subscriber
 * learns the producer from `join`, the other from `newProducer`; both must
 * receive the publisher's RTP with (near) no loss and key frames;
 * pauseProducer must stop the flow at both and resumeProducer restart it;
 * a second publisher must reach a subscriber through a renegotiation of its
 * one PeerConnection; leaving must leave no mediasoup object behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { formatHostPort } from '../../../src/shared/address.js';
import { SignalingServer } from '../../../signaling/server/index.js';
import {
  WorkerPool,
  censusCounts,
  installCensus,
  type CensusCounts,
} from '../../../signaling/sfu/index.js';
import { SignalingClient, okData, until, type Frame } from '../../helpers/signaling-client.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import {
  RtpFanIn,
  WeriftPublisher,
  WeriftSubscriber,
  signalingChannel,
  startFannedVideo,
  type RtpReception,
} from '../../helpers/peers/werift-signaling.js';

const log = pino({ level: 'silent' });

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('werift clients of the signaling protocol', { timeout: 30_000 }, () => {
  let pool: WorkerPool;
  let server: SignalingServer;
  let url: string;
  let source: RtpFanIn;
  let baseline: CensusCounts;
  const clients: SignalingClient[] = [];
  const peers: { close(): Promise<void> }[] = [];

  const joined = async (room: string, peer: string): Promise<[SignalingClient, Frame]> => {
    const client = await SignalingClient.open(url);
    clients.push(client);
    return [client, await client.request('join', { room, peer })];
  };

  before(async () => {
    installCensus();
    pool = await WorkerPool.create({ size: 1, rtcMinPort: 47000, rtcMaxPort: 47999, log });
    server = await SignalingServer.start({
      listen: { host: '127.0.0.1', port: 0 },
      pool,
      maxPeersPerRoom: 10,
      rtc: { listenIp: '127.0.0.1' },
      peerLimits: { transports: 4, producers: 2, consumers: 8, incomingBitrate: 5_000_000 },
      log,
      metrics: new Registry(),
    });
    url = `ws://${formatHostPort(server.address)}/ws`;
    baseline = censusCounts();
    source = await startFannedVideo({ codec: 'VP8', timeoutMs: 60_000 });
  });

  after(async () => {
    await Promise.all(peers.map((peer) => peer.close().catch(() => undefined)));
    await Promise.all(clients.map((client) => client.close()));
    source.close();
    await stopAllPeers();
    await server.close();
    await pool.close();
  });

  it('a publisher reaches two subscribers; pause/resume stops and restarts the flow; a second publisher renegotiates; leave leaks nothing', async () => {
    await until(() => source.packets > 0, 'GStreamer sends VP8 RTP');

    // carol is in the room first: she learns the producer from newProducer.
    const [carolWs, carolJoin] = await joined('werift', 'carol');
    assert.deepEqual(okData(carolJoin).producers, []);
    const carol = await WeriftSubscriber.open(signalingChannel(carolWs));
    peers.push(carol);

    const [aliceWs, aliceJoin] = await joined('werift', 'alice');
    okData(aliceJoin);
    const alice = await WeriftPublisher.publish(signalingChannel(aliceWs));
    peers.push(alice);
    source.add((packet) => alice.writeRtp(packet));

    const announced = await carolWs.event('newProducer');
    assert.equal(announced.data?.producerId, alice.producerId);
    const [carolGets] = await carol.consume([alice.producerId]);

    // bob joins after: he learns it from join's producers.
    const [bobWs, bobJoin] = await joined('werift', 'bob');
    const listed = okData(bobJoin).producers as { producerId: string }[];
    assert.deepEqual(
      listed.map((p) => p.producerId),
      [alice.producerId],
    );
    const bob = await WeriftSubscriber.open(signalingChannel(bobWs));
    peers.push(bob);
    const [bobGets] = await bob.consume(listed.map((p) => p.producerId));
    const receptions = [carolGets, bobGets].filter((r): r is RtpReception => r !== undefined);
    assert.equal(receptions.length, 2);

    // ~30 packets/s or more: 2 s of video is well over 40 packets, with key frames.
    await sleep(2_000);
    await until(
      () => receptions.every((r) => r.received > 40 && r.keyframes > 0),
      'both subscribers receive packets and a key frame',
    );
    for (const r of receptions) {
      const loss = r.lost / r.counter.expected;
      assert.ok(loss <= 0.01, `loss ${(loss * 100).toFixed(2)}% at consumer ${r.consumerId}`);
    }
    assert.equal(carol.unrouted + bob.unrouted, 0, 'every packet belongs to a consumer');

    okData(await aliceWs.request('pauseProducer', { producerId: alice.producerId }));
    await Promise.all([carolWs.event('consumerPaused'), bobWs.event('consumerPaused')]);
    // Packets already on the wire may still land; then nothing.
    await sleep(300);
    const paused = receptions.map((r) => r.received);
    await sleep(1_000);
    assert.deepEqual(
      receptions.map((r) => r.received),
      paused,
      'no packet while the producer is paused',
    );

    okData(await aliceWs.request('resumeProducer', { producerId: alice.producerId }));
    await Promise.all([carolWs.event('consumerResumed'), bobWs.event('consumerResumed')]);
    await until(
      () => receptions.every((r, i) => r.received > (paused[i] ?? 0) + 20),
      'the flow restarts at both subscribers after resumeProducer',
    );

    // A second publisher: carol's one PeerConnection renegotiates and receives both.
    const [daveWs, daveJoin] = await joined('werift', 'dave');
    okData(daveJoin);
    const dave = await WeriftPublisher.publish(signalingChannel(daveWs));
    peers.push(dave);
    source.add((packet) => dave.writeRtp(packet));
    const second = await carolWs.event('newProducer');
    assert.equal(second.data?.producerId, dave.producerId);
    const [carolGetsDave] = await carol.consume([dave.producerId]);
    const before = carolGets?.received ?? 0;
    await until(
      () => (carolGetsDave?.received ?? 0) > 20 && (carolGets?.received ?? 0) > before + 20,
      'carol receives both publishers after renegotiating',
    );
    assert.equal(carol.receptions.size, 2);

    for (const client of [aliceWs, bobWs, carolWs, daveWs]) okData(await client.request('leave'));
    await Promise.all([alice.close(), bob.close(), carol.close(), dave.close()]);
    const { workers: _, ...expected } = baseline;
    const media = (): string => {
      const { workers: __, ...rest } = censusCounts();
      return JSON.stringify(rest);
    };
    await until(
      () => media() === JSON.stringify(expected),
      `mediasoup objects back to ${JSON.stringify(expected)} (now ${media()})`,
    );
  });
});
