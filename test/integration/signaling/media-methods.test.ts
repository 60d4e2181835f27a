/**
 * The media methods of the WebSocket protocol against real mediasoup workers,
 * without media flowing (the browser and werift tests send real media): the
 * produce/consume flow and its notifications, per-peer limits including
 * concurrent requests racing the limit, out-of-order and malformed requests
 * answered with their codes, and no mediasoup object left behind when peers
 * leave, close their sockets, or sent garbage first (counted by the census).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type WebSocket from 'ws';
import { Registry } from 'prom-client';
import { formatHostPort } from '../../../src/shared/address.js';
import { SignalingServer } from '../../../signaling/server/index.js';
import {
  WorkerPool,
  censusCounts,
  installCensus,
  type CensusCounts,
} from '../../../signaling/sfu/index.js';
import { at } from '../../helpers/defined.js';
import { SignalingClient, okData, until, type Frame } from '../../helpers/signaling-client.js';

const log = pino({ level: 'silent' });

function vp8Parameters(ssrc: number): Record<string, unknown> {
  return {
    mid: '0',
    codecs: [
      {
        mimeType: 'video/VP8',
        payloadType: 96,
        clockRate: 90000,
        rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
      },
    ],
    headerExtensions: [],
    encodings: [{ ssrc }],
    rtcp: { cname: `c${ssrc}` },
  };
}

function errorCode(frame: Frame): string | undefined {
  return frame.ok === false ? frame.error?.code : undefined;
}

describe('signaling media methods', () => {
  let pool: WorkerPool;
  let server: SignalingServer;
  let url: string;
  let baseline: CensusCounts;
  const clients: SignalingClient[] = [];

  const open = async (options: WebSocket.ClientOptions = {}): Promise<SignalingClient> => {
    const client = await SignalingClient.open(url, options);
    clients.push(client);
    return client;
  };
  const joined = async (room: string, peer: string): Promise<SignalingClient> => {
    const client = await open();
    okData(await client.request('join', { room, peer }));
    return client;
  };
  const mediaCounts = (): Omit<CensusCounts, 'workers'> => {
    const { workers: _, ...rest } = censusCounts();
    return rest;
  };
  const backToBaseline = async (): Promise<void> => {
    const { workers: _, ...expected } = baseline;
    await until(
      () => JSON.stringify(mediaCounts()) === JSON.stringify(expected),
      `mediasoup objects back to ${JSON.stringify(expected)} (now ${JSON.stringify(mediaCounts())})`,
    );
  };

  before(async () => {
    installCensus();
    pool = await WorkerPool.create({ size: 1, rtcMinPort: 46000, rtcMaxPort: 46999, log });
    server = await SignalingServer.start({
      listen: { host: '127.0.0.1', port: 0 },
      pool,
      maxPeersPerRoom: 10,
      rtc: { listenIp: '127.0.0.1' },
      peerLimits: { transports: 2, producers: 2, consumers: 3, incomingBitrate: 2_000_000 },
      log,
      metrics: new Registry(),
      heartbeatIntervalMs: 200,
      // The mutation test sends a thousand requests as fast as it can.
      requestBudget: { burst: 10_000, perSecond: 10_000 },
    });
    url = `ws://${formatHostPort(server.address)}/ws`;
    baseline = censusCounts();
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await server.close();
    await pool.close();
  });

  it('produce, consume, pause, resume and close, with notifications both ways', async () => {
    const alice = await joined('flow', 'alice');
    const send = okData(await alice.request('createTransport', { direction: 'send' }));
    assert.equal(typeof send.id, 'string');
    const candidates = send.iceCandidates as { ip: string; protocol: string }[];
    assert.ok(candidates.some((candidate) => candidate.protocol === 'udp'));
    assert.ok(candidates.every((candidate) => candidate.ip === '127.0.0.1'));
    const produced = okData(
      await alice.request('produce', {
        transportId: send.id,
        kind: 'video',
        rtpParameters: vp8Parameters(1111),
        appData: { source: 'camera' },
      }),
    );
    const producerId = produced.producerId as string;

    const bob = await open();
    const join = okData(await bob.request('join', { room: 'flow', peer: 'bob' }));
    assert.deepEqual(join.producers, [
      { peer: 'alice', producerId, kind: 'video', paused: false, appData: { source: 'camera' } },
    ]);
    const capabilities = okData(await bob.request('getRouterRtpCapabilities'));
    const recv = okData(await bob.request('createTransport', { direction: 'recv' }));
    const consumed = okData(
      await bob.request('consume', {
        transportId: recv.id,
        producerId,
        rtpCapabilities: capabilities,
      }),
    );
    assert.equal(consumed.paused, true, 'consumers start paused');
    assert.equal(consumed.kind, 'video');
    const consumerId = consumed.consumerId as string;
    okData(await bob.request('resumeConsumer', { consumerId }));

    okData(await alice.request('pauseProducer', { producerId }));
    await bob.event('producerPaused');
    assert.deepEqual((await bob.event('consumerPaused')).data, { consumerId, producerId });
    okData(await alice.request('resumeProducer', { producerId }));
    await bob.event('consumerResumed');

    const restarted = okData(await alice.request('restartIce', { transportId: send.id }));
    const before = send.iceParameters as { usernameFragment: string };
    const afterRestart = restarted.iceParameters as { usernameFragment: string };
    assert.notEqual(afterRestart.usernameFragment, before.usernameFragment);

    okData(await alice.request('closeProducer', { producerId }));
    assert.deepEqual((await bob.event('producerClosed')).data, { peer: 'alice', producerId });
    assert.deepEqual((await bob.event('consumerClosed')).data, { consumerId, producerId });
    assert.equal(errorCode(await bob.request('resumeConsumer', { consumerId })), 'not_found');

    const second = okData(
      await alice.request('produce', {
        transportId: send.id,
        kind: 'video',
        rtpParameters: vp8Parameters(2222),
      }),
    );
    assert.equal((await bob.event('newProducer')).data?.producerId, second.producerId);
    await alice.close();
    await bob.event('peerLeft');
    await bob.close();
    await backToBaseline();
  });

  it('a peer that stops answering the heartbeat is cleaned up with its media', async () => {
    const silent = await open({ autoPong: false });
    okData(await silent.request('join', { room: 'dead', peer: 'ghost' }));
    const send = okData(await silent.request('createTransport', { direction: 'send' }));
    const produced = okData(
      await silent.request('produce', {
        transportId: send.id,
        kind: 'video',
        rtpParameters: vp8Parameters(4444),
      }),
    );
    const watcher = await joined('dead', 'watcher');
    assert.equal(censusCounts().producers - baseline.producers, 1);
    assert.deepEqual((await watcher.event('producerClosed')).data, {
      peer: 'ghost',
      producerId: produced.producerId,
    });
    assert.deepEqual((await watcher.event('peerLeft')).data, { peer: 'ghost' });
    await watcher.close();
    await backToBaseline();
  });

  it('per-peer limits hold, also against concurrent requests', async () => {
    const carol = await joined('limits', 'carol');
    const transports = await Promise.all(
      [1, 2, 3, 4].map(() => carol.request('createTransport', { direction: 'send' })),
    );
    assert.equal(transports.filter((frame) => frame.ok === true).length, 2);
    assert.ok(
      transports
        .filter((frame) => frame.ok !== true)
        .every((frame) => errorCode(frame) === 'limit_exceeded'),
    );
    const send = transports.find((frame) => frame.ok === true)?.data?.id;
    const produced = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        carol.request('produce', {
          transportId: send,
          kind: 'video',
          rtpParameters: { ...vp8Parameters(3000 + n), mid: String(n) },
        }),
      ),
    );
    assert.equal(produced.filter((frame) => frame.ok === true).length, 2);
    assert.equal(produced.filter((frame) => errorCode(frame) === 'limit_exceeded').length, 3);
    assert.equal(censusCounts().producers - baseline.producers, 2, 'the racers were closed');
    await carol.close();
    await backToBaseline();
  });

  it('answers out-of-order and malformed media requests with their codes', async () => {
    const dave = await joined('bad', 'dave');
    const send = okData(await dave.request('createTransport', { direction: 'send' }));
    const recv = okData(await dave.request('createTransport', { direction: 'recv' }));
    const caps = okData(await dave.request('getRouterRtpCapabilities'));
    const cases: [string, Record<string, unknown>, string][] = [
      ['connectTransport', { transportId: 'nope', dtlsParameters: {} }, 'not_found'],
      ['connectTransport', { transportId: send.id, dtlsParameters: { x: 1 } }, 'bad_message'],
      ['restartIce', { transportId: 'nope' }, 'not_found'],
      [
        'produce',
        { transportId: recv.id, kind: 'video', rtpParameters: vp8Parameters(1) },
        'bad_message',
      ],
      ['produce', { transportId: send.id, kind: 'video', rtpParameters: {} }, 'bad_message'],
      [
        'produce',
        {
          transportId: send.id,
          kind: 'video',
          rtpParameters: { ...vp8Parameters(2), codecs: [{ mimeType: 'video/H265' }] },
        },
        'bad_message',
      ],
      [
        'produce',
        { transportId: send.id, kind: 'audio', rtpParameters: vp8Parameters(3) },
        'bad_message',
      ],
      ['consume', { transportId: recv.id, producerId: 'nope', rtpCapabilities: caps }, 'not_found'],
      [
        'consume',
        { transportId: send.id, producerId: 'nope', rtpCapabilities: caps },
        'bad_message',
      ],
      ['pauseProducer', { producerId: 'nope' }, 'not_found'],
      ['closeConsumer', { consumerId: 'nope' }, 'not_found'],
      ['createTransport', { direction: 'sideways' }, 'bad_message'],
      ['produce', { transportId: send.id }, 'bad_message'],
    ];
    for (const [method, data, code] of cases) {
      const answer = await dave.request(method, data);
      assert.equal(errorCode(answer), code, `${method} ${JSON.stringify(data)}`);
      assert.equal(typeof answer.error?.message, 'string');
    }
    assert.equal(censusCounts().producers, baseline.producers, 'no producer from a refusal');
    okData(await dave.request('ping'));
    okData(await dave.request('leave'));
    assert.equal(
      errorCode(await dave.request('createTransport', { direction: 'send' })),
      'not_joined',
    );
    await backToBaseline();
    await dave.close();
  });

  it('a request flood is answered rate_limited; the connection and its peer stay', async () => {
    const flooded = await SignalingServer.start({
      listen: { host: '127.0.0.1', port: 0 },
      pool,
      maxPeersPerRoom: 10,
      rtc: { listenIp: '127.0.0.1' },
      peerLimits: { transports: 2, producers: 2, consumers: 3, incomingBitrate: 2_000_000 },
      log,
      metrics: new Registry(),
      requestBudget: { burst: 20, perSecond: 10 },
    });
    try {
      const client = await SignalingClient.open(`ws://${formatHostPort(flooded.address)}/ws`);
      clients.push(client);
      const answers = await Promise.all(Array.from({ length: 100 }, () => client.request('ping')));
      const limited = answers.filter((answer) => errorCode(answer) === 'rate_limited').length;
      assert.equal(answers.length - limited, 20, 'the burst is served');
      assert.ok(limited >= 75, `${limited} refused`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      okData(await client.request('ping'));
    } finally {
      await flooded.close();
    }
  });

  it('1000 mutated requests from peers in one room leak nothing and crash nothing', async () => {
    const peers = await Promise.all(['m1', 'm2', 'm3'].map((peer) => joined('fuzz', peer)));
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const caps = okData(await at(peers, 0).request('getRouterRtpCapabilities'));
    const ids: string[] = ['nope'];
    const garbage = (): unknown =>
      pick([pick(ids), random() * 1e6, null, { a: 1 }, 'send', 'video', [], 'x'.repeat(100)]);
    const templates: Record<string, () => Record<string, unknown>> = {
      createTransport: () => ({ direction: pick(['send', 'recv']) }),
      connectTransport: () => ({ transportId: pick(ids), dtlsParameters: { role: 'client' } }),
      restartIce: () => ({ transportId: pick(ids) }),
      produce: () => ({
        transportId: pick(ids),
        kind: pick(['audio', 'video']),
        rtpParameters: vp8Parameters(Math.floor(random() * 1e6)),
      }),
      consume: () => ({ transportId: pick(ids), producerId: pick(ids), rtpCapabilities: caps }),
      pauseProducer: () => ({ producerId: pick(ids) }),
      closeProducer: () => ({ producerId: pick(ids) }),
      resumeConsumer: () => ({ consumerId: pick(ids) }),
      closeConsumer: () => ({ consumerId: pick(ids) }),
    };
    const methodNames = Object.keys(templates);
    for (let round = 0; round < 1000; round += 1) {
      const method = pick(methodNames);
      const template = templates[method]?.() ?? {};
      // Mutate a third of them: drop a field, garble one, or add an unknown one.
      const mutation = random();
      const key = pick(Object.keys(template));
      const data: Record<string, unknown> =
        mutation < 0.1
          ? Object.fromEntries(Object.entries(template).filter(([name]) => name !== key))
          : mutation < 0.25
            ? { ...template, [key]: garbage() }
            : mutation < 0.3
              ? { ...template, extra: garbage() }
              : template;
      const answer = await pick(peers).request(method, data);
      const created = answer.data?.id ?? answer.data?.producerId ?? answer.data?.consumerId;
      if (typeof created === 'string') ids.push(created);
    }
    // The mutations must reach past validation: transports and producers got made.
    assert.ok(ids.length > 5, `only ${ids.length - 1} objects created`);
    for (const client of peers) okData(await client.request('ping'));
    await Promise.all(peers.map((client) => client.close()));
    await backToBaseline();
  });
});
