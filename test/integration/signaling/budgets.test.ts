/**
 * The signaling node's budgets under attack (issue 14, points 5 and 6), on a
 * real SignalingServer and WorkerPool in-process. The attacker connects from
 * 127.0.0.1; the legitimate users from 127.0.0.2 (WHEP viewers and a
 * WebSocket peer) and 127.0.0.3 (the WHIP publisher they watch): the
 * listener is bound to 127.0.0.1, which on Linux accepts a client that binds
 * another loopback source address.
 *
 * - WebSocket and WHEP exhaustion: many WHEP offers and many WebSocket
 *   connections creating rooms and transports are refused at the attacker's
 *   per-source budgets (over_budget; 429 for HTTP), exactly as many as the
 *   budgets leave, counted by reason; a WHEP viewer watching throughout
 *   never loses its media and a new one gets 201 and media at the peak.
 * - A WHEP session that never completes ICE gives its transport back within
 *   10 s (the default connect timeout).
 * - Slowloris and idle sockets on the signaling port are cut at the head
 *   timeout (the config's default) and counted, the per-source cap refuses
 *   the rest, while a request from 127.0.0.2 is served.
 * - Ports running out in a worker is over_budget (WebSocket) and 503
 *   no_ports (WHEP), never `internal` or 500.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { meshConfigSchema } from '../../../src/config/index.js';
import { formatHostPort } from '../../../src/shared/address.js';
import {
  SignalingServer,
  type HttpRoute,
  type WebRtcBudgetLimits,
} from '../../../signaling/server/index.js';
import {
  WorkerPool,
  censusCounts,
  installCensus,
  type CensusCounts,
} from '../../../signaling/sfu/index.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, whipWhepRoutes } from '../../../signaling/whip-whep/index.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import {
  WhepViewer,
  WhipPublisher,
  postSdp,
  request,
  type HttpAnswer,
} from '../../helpers/peers/werift-whip.js';
import { repoRoot } from '../../helpers/process.js';
import { SignalingClient, until } from '../../helpers/signaling-client.js';

const log = pino({ level: 'silent' });
const ATTACKER = '127.0.0.1';
const USER = '127.0.0.2';
const PUBLISHER = '127.0.0.3';
const defaults = meshConfigSchema.parse({}).signaling;
const peerLimits = { transports: 4, producers: 4, consumers: 20, incomingBitrate: 5_000_000 };
/** Small enough for a 2-core machine, large enough that the attack reaches every per-source cap. */
const BUDGET: WebRtcBudgetLimits = {
  webSockets: { total: 200, perSource: 24 },
  rooms: { total: 100, perSource: 8 },
  transports: { total: 300, perSource: 60 },
  sessions: { total: 100, perSource: 16 },
};
const recvOffer = readFileSync(
  join(repoRoot, 'test', 'fixtures', 'sdp', 'werift-recv.sdp'),
  'utf8',
);
const sendOffer = readFileSync(
  join(repoRoot, 'test', 'fixtures', 'sdp', 'chrome-send.sdp'),
  'utf8',
);

async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A counter's value by its labels (0 before its first increment). */
async function counter(
  registry: Registry,
  name: string,
  labels: Readonly<Record<string, string>>,
): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  const found = metric?.values.find((value) =>
    Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted),
  );
  return found?.value ?? 0;
}

const overBudget = (registry: Registry, reason: string): Promise<number> =>
  counter(registry, 'streammesh_signaling_over_budget_total', { reason });

/** A route answering 200 at "/": the legitimate request of the slowloris test. */
const okRoute: HttpRoute = {
  prefix: '/',
  handle: (request, response) => {
    request.resume();
    response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  },
};

interface Node {
  readonly server: SignalingServer;
  readonly registry: Registry;
  readonly base: string;
}

/**
 * A signaling node on 127.0.0.1 with the config's default listener budget;
 * the WebRTC budget and the connect timeout are the defaults unless given.
 */
async function startNode(
  pool: WorkerPool,
  budget?: WebRtcBudgetLimits,
  connectTimeoutMs?: number,
): Promise<Node> {
  const registry = new Registry();
  const server = await SignalingServer.start({
    listen: { host: '127.0.0.1', port: 0 },
    pool,
    maxPeersPerRoom: 50,
    rtc: { listenIp: '127.0.0.1' },
    peerLimits,
    log,
    metrics: registry,
    connectionBudget: defaults.connections,
    ...(budget === undefined ? {} : { budget }),
    routes: (rooms, webrtcBudget) => [
      okRoute,
      ...whipWhepRoutes({
        rooms,
        budget: webrtcBudget,
        pool,
        rtc: { listenIp: '127.0.0.1' },
        log,
        metrics: registry,
        ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
      }),
    ],
  });
  return { server, registry, base: `http://${formatHostPort(server.address)}` };
}

/** A WebSocket client from `localAddress`, or the HTTP status that refused its upgrade. */
async function openFrom(url: string, localAddress: string): Promise<SignalingClient | number> {
  const client = new SignalingClient(url, { localAddress });
  const refused = new Promise<number>((resolve) => {
    client.socket.once('unexpected-response', (upgrade, response) => {
      resolve(response.statusCode ?? 0);
      upgrade.destroy();
    });
  });
  client.socket.on('error', () => undefined);
  const opened = once(client.socket, 'open').then(() => client);
  return Promise.race([opened, refused]);
}

describe('signaling budgets', () => {
  let pool: WorkerPool;
  /** Small budgets; the attacker's WHEP sessions are kept through the attack (the old 30 s). */
  let node: Node;
  /** Every default: the config's listener budget, DEFAULT_WEBRTC_BUDGET, the connect timeout. */
  let defaultNode: Node;
  let baseline: CensusCounts;
  const closers: (() => Promise<unknown>)[] = [];

  before(async () => {
    installCensus();
    pool = await WorkerPool.create({ size: 2, rtcMinPort: 45000, rtcMaxPort: 45999, log });
    baseline = censusCounts();
    node = await startNode(pool, BUDGET, 30_000);
    defaultNode = await startNode(pool);
  });

  after(async () => {
    await Promise.all(closers.map((close) => close().catch(() => undefined)));
    await stopAllPeers();
    await node.server.close();
    await defaultNode.server.close();
    await pool.close();
  });

  it('WebSocket and WHEP floods from one source stop at its budgets; a viewer from another gets 201 and media throughout', async () => {
    const { base, registry } = node;
    const ws = `${base.replace('http', 'ws')}/ws`;
    const publisher = await WhipPublisher.publish(`${base}/whip/stage`, {
      localAddress: PUBLISHER,
    });
    closers.push(() => publisher.close());
    await publisher.connected();
    const viewer = await WhepViewer.watch(`${base}/whep/rooms/stage`, { localAddress: USER });
    closers.push(() => viewer.close());
    await viewer.connected();
    await viewer.waitFor((got) => got.video.packets > 30, 'video before the attack');

    // The viewer's packets per second before and during the attack.
    const rate = async (): Promise<number> => {
      const start = viewer.received.video.packets;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return viewer.received.video.packets - start;
    };
    const quietRate = await rate();
    assert.ok(quietRate > 0, 'media flows before the attack');
    const samples: number[] = [];
    const attack = { on: true };
    const sampling = (async () => {
      while (attack.on) samples.push(await rate());
    })();
    // Stops with the test, whether or not it gets to the end.
    closers.push(async () => {
      attack.on = false;
      await sampling;
    });

    // WHEP: more offers than the attacker's session budget, all at once.
    const whepTries = BUDGET.sessions.perSource + 8;
    const whep = await Promise.all(
      Array.from({ length: whepTries }, () =>
        postSdp(`${base}/whep/rooms/stage`, recvOffer, ATTACKER),
      ),
    );
    const created = whep.filter((reply) => reply.status === 201);
    const refused = whep.filter((reply) => reply.status === 429);
    assert.equal(created.length, BUDGET.sessions.perSource, 'the per-source session cap');
    assert.equal(refused.length, whepTries - BUDGET.sessions.perSource, 'the rest: 429');
    for (const reply of refused) {
      assert.match(reply.body, /over budget: at most \d+ WHIP\/WHEP sessions per source/);
      assert.equal(reply.headers.get('retry-after'), '5');
    }
    closers.push(() =>
      Promise.all(
        created.map((reply) =>
          request(
            new URL(reply.headers.get('location') ?? '', base).toString(),
            'DELETE',
            undefined,
            {},
            ATTACKER,
          ),
        ),
      ),
    );

    // WebSockets: more connections than the attacker's budget.
    const wsTries = BUDGET.webSockets.perSource + 8;
    const opened = await Promise.all(Array.from({ length: wsTries }, () => openFrom(ws, ATTACKER)));
    const attackers = opened.filter((entry): entry is SignalingClient => typeof entry !== 'number');
    closers.push(() => Promise.all(attackers.map((client) => client.close())));
    assert.equal(attackers.length, BUDGET.webSockets.perSource);
    assert.deepEqual(
      opened.filter((entry) => typeof entry === 'number'),
      Array.from({ length: wsTries - BUDGET.webSockets.perSource }, () => 429),
    );

    // Rooms: each connection joins one of perSource + 2 rooms; those past its budget are never created.
    const roomNames = BUDGET.rooms.perSource + 2;
    // The Router its WHEP offers' payload types needed counts as one of its rooms.
    const roomsHeld = node.server.budget.inUse('rooms', ATTACKER);
    assert.equal(roomsHeld, 1, "the attacker's viewer Router is charged to it");
    const roomsLeft = BUDGET.rooms.perSource - roomsHeld;
    const joined: SignalingClient[] = [];
    let roomRefusals = 0;
    for (const [index, client] of attackers.entries()) {
      const answer = await client.request('join', { room: `attack-${index % roomNames}` });
      if (answer.ok === true) {
        joined.push(client);
      } else {
        assert.equal(answer.error?.code, 'over_budget');
        assert.match(answer.error.message ?? '', /rooms per source address/);
        roomRefusals += 1;
      }
    }
    const expectedRoomRefusals = attackers.filter(
      (_client, index) => index % roomNames >= roomsLeft,
    ).length;
    assert.equal(roomRefusals, expectedRoomRefusals);

    // Transports: every joined connection asks for its peer limit, concurrently.
    const transportsBefore = censusCounts().transports;
    const answers = await Promise.all(
      joined.map(async (client) => {
        const codes: string[] = [];
        for (let index = 0; index < peerLimits.transports; index += 1) {
          const answer = await client.request('createTransport', { direction: 'recv' });
          codes.push(answer.ok === true ? 'ok' : (answer.error?.code ?? '?'));
        }
        return codes;
      }),
    );
    const codes = answers.flat();
    const transportsLeft = BUDGET.transports.perSource - BUDGET.sessions.perSource;
    assert.equal(codes.filter((code) => code === 'ok').length, transportsLeft);
    assert.equal(
      codes.filter((code) => code === 'over_budget').length,
      codes.length - transportsLeft,
    );
    assert.equal(codes.includes('internal'), false);
    // Checked before a port is taken: no transport beyond the budget was ever made.
    assert.equal(censusCounts().transports - transportsBefore, transportsLeft);
    assert.equal(node.server.budget.inUse('transports', ATTACKER), BUDGET.transports.perSource);

    // At the peak: a new viewer and a WebSocket peer from another address are served.
    const second = await WhepViewer.watch(`${base}/whep/rooms/stage`, { localAddress: USER });
    closers.push(() => second.close());
    await second.connected();
    await second.waitFor((got) => got.video.packets > 30, 'video at the peak of the attack');
    const legit = await openFrom(ws, USER);
    assert.ok(legit instanceof SignalingClient, `a WebSocket from ${USER} is accepted`);
    closers.push(() => legit.close());
    assert.equal((await legit.request('join', { room: 'legit' })).ok, true);
    assert.equal((await legit.request('createTransport', { direction: 'send' })).ok, true);

    attack.on = false;
    await sampling;
    assert.ok(samples.length >= 1, 'sampled during the attack');
    for (const [index, packets] of samples.entries()) {
      assert.ok(
        packets >= quietRate / 2,
        `second ${index} of the attack: ${packets} packets (${quietRate}/s before)`,
      );
    }

    // Every refusal counted by reason.
    assert.equal(await overBudget(registry, 'sessions_per_source'), refused.length);
    assert.equal(
      await overBudget(registry, 'webSockets_per_source'),
      wsTries - BUDGET.webSockets.perSource,
    );
    assert.equal(await overBudget(registry, 'rooms_per_source'), roomRefusals);
    assert.equal(
      await overBudget(registry, 'transports_per_source'),
      codes.length - transportsLeft,
    );
    assert.equal(
      await counter(registry, 'streammesh_signaling_whip_whep_refused_total', {
        endpoint: 'whep',
        reason: 'over_budget',
      }),
      refused.length,
    );

    // The attacker leaves: every slot and mediasoup object it held is given back.
    await Promise.all(attackers.map((client) => client.close()));
    const deleted = await Promise.all(
      created.map((reply) =>
        request(
          new URL(reply.headers.get('location') ?? '', base).toString(),
          'DELETE',
          undefined,
          {},
          ATTACKER,
        ),
      ),
    );
    assert.deepEqual(
      deleted.map((reply: HttpAnswer) => reply.status),
      created.map(() => 200),
    );
    await until(
      () =>
        node.server.budget.inUse('transports', ATTACKER) === 0 &&
        node.server.budget.inUse('rooms', ATTACKER) === 0 &&
        node.server.budget.inUse('webSockets', ATTACKER) === 0 &&
        node.server.budget.inUse('sessions', ATTACKER) === 0,
      'the attacker holds nothing',
    );
    await legit.close();
    await second.close();
    await viewer.close();
    await publisher.close();
    await until(
      () => JSON.stringify(censusCounts()) === JSON.stringify(baseline),
      `census ${JSON.stringify(censusCounts())} back to ${JSON.stringify(baseline)}`,
    );
  });

  it('a WHEP session that never connects gives its transport back within 10 s', async () => {
    const { base, server } = defaultNode;
    const publisher = await WhipPublisher.publish(`${base}/whip/lonely`, {
      localAddress: PUBLISHER,
    });
    closers.push(() => publisher.close());
    await publisher.connected();
    const before = censusCounts().transports;
    // The offer's candidates lead nowhere: ICE never completes.
    const reply = await postSdp(`${base}/whep/rooms/lonely`, recvOffer, ATTACKER);
    const answeredAt = Date.now();
    assert.equal(reply.status, 201, reply.body);
    assert.equal(server.budget.inUse('transports', ATTACKER), 1);
    // Its transport, and the pipe into its viewer Router, are in the census until it ends.
    assert.ok(censusCounts().transports > before);
    await eventually(() => censusCounts().transports === before, 'the transport closed', 12_000);
    const held = Date.now() - answeredAt;
    assert.ok(
      held >= DEFAULT_CONNECT_TIMEOUT_MS - 200 && held < 10_000,
      `held ${held} ms (connect timeout ${DEFAULT_CONNECT_TIMEOUT_MS} ms)`,
    );
    assert.equal(server.budget.inUse('sessions', ATTACKER), 0);
    assert.equal(server.budget.inUse('rooms', ATTACKER), 0, 'its viewer Router went with it');
    const gone = await request(
      new URL(reply.headers.get('location') ?? '', base).toString(),
      'DELETE',
      undefined,
      {},
      ATTACKER,
    );
    assert.equal(gone.status, 404, 'the session ended by itself');
    await publisher.close();
  });

  it('slowloris and idle sockets are cut at the head timeout and counted; a request from another source is served', async () => {
    const { server, registry, base } = defaultNode;
    const { headTimeoutMs, maxPerSource } = defaults.connections;
    const listener = { listener: 'signaling' };
    // The previous test's requests have left: the attacker starts with no connection.
    await eventually(
      async () => (await counter(registry, 'streammesh_listener_connections', listener)) === 0,
      'no connection open',
      5_000,
    );
    const refusedBefore = {
      head: await counter(registry, 'streammesh_listener_refused_connections_total', {
        ...listener,
        reason: 'head_timeout',
      }),
      perSource: await counter(registry, 'streammesh_listener_refused_connections_total', {
        ...listener,
        reason: 'max_per_source',
      }),
    };
    const slowloris = 200;
    const idle = 100;
    const opened: { socket: Socket; closedAfter: Promise<number> }[] = [];
    const dial = async (): Promise<void> => {
      const socket = connect({
        port: server.address.port,
        host: '127.0.0.1',
        localAddress: ATTACKER,
      });
      socket.on('error', () => undefined);
      const openedAt = Date.now();
      const closedAfter = once(socket, 'close').then(() => Date.now() - openedAt);
      await once(socket, 'connect');
      opened.push({ socket, closedAfter });
    };
    for (let index = 0; index < slowloris; index += 1) await dial();
    const drips = opened.map(({ socket }) => socket);
    for (const socket of drips) socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    // A header byte a second, never the blank line that ends the head.
    const drip = setInterval(() => {
      for (const socket of drips) if (!socket.destroyed) socket.write('X');
    }, 1000);
    for (let index = 0; index < idle; index += 1) await dial();

    // Served while the attack holds its slots.
    const served = await request(`${base}/`, 'GET', undefined, {}, USER);
    assert.equal(served.status, 200);
    assert.equal(served.body, 'ok\n');

    const closedAfter = await Promise.all(opened.map((entry) => entry.closedAfter));
    clearInterval(drip);
    const admitted = maxPerSource;
    const refusedAtOnce = closedAfter.filter((ms) => ms < 1000);
    const cut = closedAfter.filter((ms) => ms >= headTimeoutMs - 200 && ms < headTimeoutMs + 2000);
    assert.equal(refusedAtOnce.length, slowloris + idle - admitted, 'over the per-source cap');
    assert.equal(cut.length, admitted, `cut at the head timeout: ${JSON.stringify(closedAfter)}`);
    assert.equal(
      (await counter(registry, 'streammesh_listener_refused_connections_total', {
        ...listener,
        reason: 'head_timeout',
      })) - refusedBefore.head,
      admitted,
    );
    assert.equal(
      (await counter(registry, 'streammesh_listener_refused_connections_total', {
        ...listener,
        reason: 'max_per_source',
      })) - refusedBefore.perSource,
      slowloris + idle - admitted,
    );
  });
});

describe('a worker out of ports', () => {
  let pool: WorkerPool;
  let node: Node;
  const clients: SignalingClient[] = [];

  before(async () => {
    installCensus();
    // Four ports: four transports (one UDP and one TCP port each, from separate pools).
    pool = await WorkerPool.create({ size: 1, rtcMinPort: 44000, rtcMaxPort: 44003, log });
    node = await startNode(pool);
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await node.server.close();
    await pool.close();
  });

  it('is over_budget for a WebSocket peer and 503 no_ports for WHEP, never internal', async () => {
    const { base, registry } = node;
    const whip = await postSdp(`${base}/whip/full`, sendOffer);
    assert.equal(whip.status, 201, whip.body);
    const codes: string[] = [];
    let message = '';
    for (const peer of ['a', 'b']) {
      const client = await SignalingClient.open(`${base.replace('http', 'ws')}/ws`);
      clients.push(client);
      assert.equal((await client.request('join', { room: 'full', peer })).ok, true);
      for (let index = 0; index < peerLimits.transports; index += 1) {
        const answer = await client.request('createTransport', { direction: 'recv' });
        codes.push(answer.ok === true ? 'ok' : (answer.error?.code ?? '?'));
        if (answer.ok !== true) message = answer.error?.message ?? '';
      }
    }
    const made = codes.filter((code) => code === 'ok').length;
    assert.ok(made >= 1 && made < codes.length, `transports made: ${made} of ${codes.length}`);
    assert.deepEqual(
      codes.slice(made),
      codes.slice(made).map(() => 'over_budget'),
    );
    assert.match(message, /no WebRTC port is free/);
    const whep = await postSdp(`${base}/whep/rooms/full`, recvOffer);
    assert.equal(whep.status, 503, whep.body);
    assert.match(whep.body, /no WebRTC port is free/);
    assert.equal(whep.headers.get('retry-after'), '5');
    assert.equal(
      await overBudget(registry, 'ports_exhausted'),
      codes.length - made + 1,
      'every exhaustion counted',
    );
    assert.equal(
      await counter(registry, 'streammesh_signaling_whip_whep_refused_total', {
        endpoint: 'whep',
        reason: 'no_ports',
      }),
      1,
    );
    assert.equal(
      await counter(registry, 'streammesh_signaling_whip_whep_refused_total', {
        endpoint: 'whep',
        reason: 'internal',
      }),
      0,
    );
    // Ports come back with the transports.
    await clients[0]?.request('leave');
    const again = await clients[1]?.request('createTransport', { direction: 'recv' });
    assert.equal(again?.ok, true, JSON.stringify(again));
    await request(new URL(whip.headers.get('location') ?? '', base).toString(), 'DELETE');
  });
});
