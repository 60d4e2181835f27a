/**
 * The WebSocket signaling server in-process with real mediasoup workers and
 * real `ws` clients on 127.0.0.1: rooms (join, peerJoined/peerLeft, Router
 * closed when empty), RTP capabilities, bad input answered on a connection
 * that survives, the heartbeat, a SIGKILLed worker's rooms told to
 * reconnect, and no rooms or peers left behind.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { formatHostPort } from '../../../src/shared/address.js';
import { MAX_MESSAGE_BYTES, SUBPROTOCOL } from '../../../signaling/protocol/messages.js';
import { SignalingServer } from '../../../signaling/server/index.js';
import { WorkerPool } from '../../../signaling/sfu/index.js';
import { at } from '../../helpers/defined.js';
import { SignalingClient, metricValue, until } from '../../helpers/signaling-client.js';

const log = pino({ level: 'silent' });

describe('signaling server', () => {
  let pool: WorkerPool;
  let server: SignalingServer;
  let registry: Registry;
  let url: string;
  const clients: SignalingClient[] = [];

  const open = async (options: WebSocket.ClientOptions = {}): Promise<SignalingClient> => {
    const client = await SignalingClient.open(url, options);
    clients.push(client);
    return client;
  };
  const routers = (): number => pool.workers.reduce((sum, worker) => sum + worker.routers, 0);

  before(async () => {
    pool = await WorkerPool.create({
      size: 2,
      rtcMinPort: 46000,
      rtcMaxPort: 46999,
      log,
      restartBackoff: { baseMs: 50, maxMs: 200 },
    });
    registry = new Registry();
    server = await SignalingServer.start({
      listen: { host: '127.0.0.1', port: 0 },
      pool,
      maxPeersPerRoom: 3,
      rtc: { listenIp: '127.0.0.1' },
      peerLimits: { transports: 4, producers: 4, consumers: 100, incomingBitrate: 5_000_000 },
      log,
      metrics: registry,
      heartbeatIntervalMs: 200,
    });
    url = `ws://${formatHostPort(server.address)}/ws`;
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await server.close();
    await pool.close();
  });

  it('two peers join one room: peerJoined, RTP capabilities, leave, peerLeft, Router closed', async () => {
    const alice = await open();
    const bob = await open();
    assert.equal(alice.socket.protocol, SUBPROTOCOL);
    const first = await alice.request('join', { room: 'standup', peer: 'alice' });
    assert.equal(first.ok, true);
    // The answer names the peer as the others see it: no display name given, none shown.
    assert.deepEqual(first.data, {
      room: 'standup',
      peer: 'alice',
      displayName: null,
      peers: [],
      producers: [],
    });
    assert.equal(routers(), 1);

    const second = await bob.request('join', { room: 'standup', displayName: 'Bob' });
    assert.equal(second.ok, true);
    const bobName = second.data?.['peer'];
    assert.match(String(bobName), /^p-[0-9a-f]{12}$/);
    assert.deepEqual(second.data?.['peers'], [{ peer: 'alice', displayName: null }]);
    assert.equal(second.data['displayName'], 'Bob');
    const joined = await alice.event('peerJoined');
    assert.deepEqual(joined.data, { peer: bobName, displayName: 'Bob' });
    assert.equal(routers(), 1, 'one Router per room');
    assert.equal(await metricValue(registry, 'streammesh_signaling_rooms'), 1);
    assert.equal(await metricValue(registry, 'streammesh_signaling_peers'), 2);

    const caps = await bob.request('getRouterRtpCapabilities');
    assert.equal(caps.ok, true);
    const codecs = (caps.data?.['codecs'] ?? []) as { mimeType: string }[];
    const mimeTypes = codecs.map((codec) => codec.mimeType);
    for (const mimeType of ['audio/opus', 'video/VP8', 'video/H264']) {
      assert.ok(mimeTypes.includes(mimeType), mimeType);
    }

    assert.equal((await bob.request('join', { room: 'other' })).error?.code, 'already_joined');
    assert.equal((await bob.request('leave')).ok, true);
    assert.deepEqual((await alice.event('peerLeft')).data, { peer: bobName });
    assert.equal((await alice.request('leave')).ok, true);
    await until(() => routers() === 0, "the empty room's Router closed");
    assert.equal(await metricValue(registry, 'streammesh_signaling_rooms'), 0);
    assert.equal((await alice.request('leave')).error?.code, 'not_joined');
  });

  it('a full room or a taken peer name is refused', async () => {
    const members = await Promise.all([open(), open(), open()]);
    for (const [index, member] of members.entries()) {
      assert.equal((await member.request('join', { room: 'full', peer: `m${index}` })).ok, true);
    }
    const late = await open();
    const refused = await late.request('join', { room: 'full', peer: 'm9' });
    assert.equal(refused.error?.code, 'limit_exceeded');
    assert.equal((await members[0].request('leave')).ok, true);
    const taken = await late.request('join', { room: 'full', peer: 'm1' });
    assert.equal(taken.error?.code, 'already_joined');
    assert.equal((await late.request('join', { room: 'full', peer: 'm9' })).ok, true);
    await Promise.all([...members, late].map((member) => member.request('leave')));
    await until(() => routers() === 0, 'rooms closed');
  });

  it('bad input gets its error code and the connection stays open', async () => {
    const client = await open();
    const before = await metricValue(
      registry,
      'streammesh_signaling_bad_messages_total',
      '{code="bad_json"}',
    );
    client.sendRaw('{not json');
    const badJson = await client.take((frame) => frame.ok === false, 'bad_json');
    assert.deepEqual([badJson.id, badJson.error?.code], [null, 'bad_json']);

    client.sendRaw(JSON.stringify({ v: 1, id: 5, method: 'teleport', data: {} }));
    const unknown = await client.take((frame) => frame.id === 5, 'unknown_method');
    assert.equal(unknown.error?.code, 'unknown_method');

    client.sendRaw(JSON.stringify({ v: 2, id: 6, method: 'ping', data: {} }));
    const version = await client.take((frame) => frame.id === 6, 'unsupported_version');
    assert.equal(version.error?.code, 'unsupported_version');

    client.sendRaw(Buffer.from([1, 2, 3]), true);
    const binary = await client.take((frame) => frame.ok === false, 'binary');
    assert.equal(binary.error?.code, 'bad_message');

    const early = await client.request('getRouterRtpCapabilities');
    assert.equal(early.error?.code, 'not_joined');

    const later = await client.request('createTransport', { direction: 'send' });
    assert.equal(later.error?.code, 'not_joined');

    const bad = await client.request('join', { room: 'no spaces' });
    assert.equal(bad.error?.code, 'bad_message');

    assert.equal((await client.request('ping')).ok, true, 'still open');
    assert.equal(
      await metricValue(registry, 'streammesh_signaling_bad_messages_total', '{code="bad_json"}'),
      (Number.isNaN(before) ? 0 : before) + 1,
    );
  });

  it('a frame over maxPayload closes the connection with 1009', async () => {
    const client = await open();
    const closed = once(client.socket, 'close') as Promise<[number, Buffer]>;
    client.sendRaw(
      JSON.stringify({ v: 1, id: 1, method: 'ping', data: {}, pad: 'x'.repeat(MAX_MESSAGE_BYTES) }),
    );
    const [code] = await closed;
    assert.equal(code, 1009);
    await until(
      async () =>
        (await metricValue(
          registry,
          'streammesh_signaling_bad_messages_total',
          '{code="too_large"}',
        )) === 1,
      'too_large counted',
    );
  });

  it('refuses a handshake without the subprotocol and paths other than /ws', async () => {
    // terminate() after a refused handshake reports an error; it is expected here.
    const plain = new WebSocket(url);
    plain.on('error', () => undefined);
    const [, response] = (await once(plain, 'unexpected-response')) as [
      unknown,
      { statusCode: number },
    ];
    assert.equal(response.statusCode, 400);
    plain.terminate();
    const elsewhere = new WebSocket(url.replace(/\/ws$/, '/other'), SUBPROTOCOL);
    elsewhere.on('error', () => undefined);
    const [, notFound] = (await once(elsewhere, 'unexpected-response')) as [
      unknown,
      { statusCode: number },
    ];
    assert.equal(notFound.statusCode, 404);
    elsewhere.terminate();
  });

  it('a client that answers no pings is terminated and its peer leaves', async () => {
    const watcher = await open();
    const silent = await open({ autoPong: false });
    assert.equal((await watcher.request('join', { room: 'beat', peer: 'watcher' })).ok, true);
    assert.equal((await silent.request('join', { room: 'beat', peer: 'silent' })).ok, true);
    const [code] = (await once(silent.socket, 'close')) as [number];
    assert.equal(code, 1006, 'terminated, not closed');
    assert.deepEqual((await watcher.event('peerLeft')).data, { peer: 'silent' });
    assert.equal((await watcher.request('ping')).ok, true, 'a client that pongs stays');
    assert.equal((await watcher.request('leave')).ok, true);
  });

  it("a SIGKILLed worker's rooms get reconnect; the other rooms stay", async () => {
    const a = await open();
    const b = await open();
    const c = await open();
    assert.equal((await a.request('join', { room: 'r1', peer: 'a' })).ok, true);
    assert.equal((await b.request('join', { room: 'r1', peer: 'b' })).ok, true);
    assert.equal((await c.request('join', { room: 'r2', peer: 'c' })).ok, true);
    const r1Worker = server.rooms.workerIndex('r1');
    const r2Worker = server.rooms.workerIndex('r2');
    assert.notEqual(r1Worker, undefined);
    assert.notEqual(r1Worker, r2Worker, 'least-loaded placement: one room per worker');
    const victim = pool.workers.find((worker) => worker.index === r1Worker);
    assert.ok(victim);
    process.kill(victim.pid, 'SIGKILL');
    const moved = [a, b];
    for (const client of moved) {
      assert.deepEqual((await client.event('reconnect')).data, {
        room: 'r1',
        reason: 'the SFU worker hosting the room died',
      });
      assert.equal((await client.request('getRouterRtpCapabilities')).error?.code, 'not_joined');
    }
    assert.equal((await c.request('getRouterRtpCapabilities')).ok, true, 'r2 stays');
    assert.equal(server.rooms.workerIndex('r1'), undefined, 'r1 dropped');
    // Join again: the same room is re-created on a live worker, same peer names.
    for (const [client, peer] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      const again = await client.request('join', { room: 'r1', peer });
      assert.equal(again.ok, true);
    }
    const placed = server.rooms.workerIndex('r1');
    assert.ok(placed !== undefined && at(pool.workers, placed).alive, 'r1 on a live worker');
    assert.equal((await a.request('getRouterRtpCapabilities')).ok, true);
  });

  it('after every client disconnects, rooms and peers are back to 0', async () => {
    await Promise.all(clients.map((client) => client.close()));
    await until(
      async () =>
        (await metricValue(registry, 'streammesh_signaling_rooms')) === 0 &&
        (await metricValue(registry, 'streammesh_signaling_peers')) === 0 &&
        routers() === 0 &&
        server.connections === 0,
      'no rooms, peers, Routers or connections left',
    );
    assert.equal(
      (await metricValue(registry, 'streammesh_signaling_workers', '{state="alive"}')) +
        (await metricValue(registry, 'streammesh_signaling_workers', '{state="dead"}')),
      2,
    );
  });
});
