/**
 * The sharded relay as a config participant (rtp-proxy/media/workers), on
 * real sockets with real UDP peers, with 2 workers:
 *
 *   - one worker refusing its share (a fixed port taken) refuses the whole
 *     candidate with that worker's error, rebuilt on the main thread so it
 *     still names its MEDIA_ROUTE; the other worker's share (a new route, a
 *     changed one) is not applied and leaves no socket bound;
 *   - another participant refusing after both workers prepared aborts both:
 *     the node's transaction, all or none;
 *   - each worker allocates from its own slice of proxy.rtpPorts;
 *   - a worker whose event loop stops answering is ended by the watchdog
 *     and restarted with its routes, which forward again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  MediaWorkerRefusal,
  MediaWorkers,
  fnv1a32,
  workerOfRoute,
  workerPorts,
} from '../../../rtp-proxy/media/workers/index.js';
import { validateConfig, type MeshConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/shared/log.js';
import {
  applyConfigTransaction,
  ConfigRefusedError,
  type ConfigParticipant,
} from '../../../src/node-agent/index.js';
import { canBindUdp, freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';

const WORKERS = 2;

function nameOnWorker(prefix: string, worker: number): string {
  for (let n = 0; n < 1000; n += 1) {
    if (workerOfRoute(`${prefix}${n}`, WORKERS) === worker) return `${prefix}${n}`;
  }
  throw new Error(`no name ${prefix}<n> on worker ${worker}`);
}

const evenFreePort = (taken: readonly number[] = []): Promise<number> =>
  freePort((port) => port % 2 === 0 && !taken.includes(port));

describe('shard arithmetic', () => {
  it('hashes names with FNV-1a and splits proxy.rtpPorts into disjoint even-aligned slices', () => {
    // FNV-1a 32-bit reference values (draft-eastlake-fnv test vectors).
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
    const range = { start: 30000, end: 39999 };
    for (const workers of [1, 2, 3, 7]) {
      const slices = Array.from({ length: workers }, (_, index) =>
        workerPorts(range, index, workers),
      );
      assert.equal(slices[0]?.start, range.start);
      assert.equal(slices.at(-1)?.end, range.end);
      slices.forEach((slice, index) => {
        assert.equal(slice.start % 2, 0, 'each slice starts on an RTP (even) port');
        assert.ok(slice.end - slice.start >= 1, 'each slice holds a pair');
        const next = slices[index + 1];
        if (next !== undefined) assert.equal(next.start, slice.end + 1, 'no gap, no overlap');
      });
    }
    assert.deepEqual(
      workerPorts({ start: 30000, end: 30003 }, 1, 3),
      { start: 30000, end: 30003 },
      'fewer pairs than workers: every worker gets the whole range',
    );
  });
});

describe('media routes on 2 workers, as a config participant', { timeout: 60_000 }, () => {
  const log = createLogger('proxy', 'silent');
  const a = nameOnWorker('route-a', 0);
  const b = nameOnWorker('route-b', 1);
  const added0 = nameOnWorker('added-a', 0);
  const added1 = nameOnWorker('added-b', 1);
  let workers: MediaWorkers;
  let sender: UdpPeer;
  let rxA: UdpPeer;
  let rxB: UdpPeer;
  let rxExtra: UdpPeer;
  let portA: number;
  let portB: number;
  let rtpStart: number;

  interface RouteSpec {
    readonly name: string;
    readonly port: number;
    readonly to: readonly UdpPeer[];
  }
  const config = (routes: readonly RouteSpec[]): MeshConfig =>
    validateConfig(
      {
        proxy: {
          mediaAddress: '127.0.0.1',
          rtpPorts: { start: rtpStart, end: rtpStart + 199 },
          routes: routes.map((route) => ({
            name: route.name,
            listen: `127.0.0.1:${route.port}`,
            rtcpMux: true,
            destinations: route.to.map((peer) => ({
              address: `127.0.0.1:${peer.port}`,
              rtcpMux: true,
            })),
          })),
        },
      },
      'test',
    );
  const running = async (): Promise<[string, number][]> =>
    (await workers.snapshot()).map((route) => [route.name, route.destinations.length]);

  before(async () => {
    [sender, rxA, rxB, rxExtra] = await Promise.all([
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
    ]);
    portA = await evenFreePort();
    portB = await evenFreePort([portA]);
    // Even, and with its 200 ports below signaling.rtcPorts' default 50000-59999 (the config refuses an overlap).
    rtpStart = 2 * (20_000 + Math.floor(Math.random() * 2_000));
    workers = new MediaWorkers({
      workers: WORKERS,
      log,
      udpIo: 'auto',
      srtpEngine: 'auto',
      unresponsiveMs: 800,
      pingIntervalMs: 100,
    });
    await workers.apply(
      config([
        { name: a, port: portA, to: [rxA] },
        { name: b, port: portB, to: [rxB] },
      ]),
    );
  });

  after(async () => {
    await workers.close();
    for (const peer of [sender, rxA, rxB, rxExtra]) peer.close();
  });

  it("allocates each worker's ports from its own slice of proxy.rtpPorts", async () => {
    const routes = await workers.snapshot();
    for (const [name, worker] of [
      [a, 0],
      [b, 1],
    ] as const) {
      const slice = workerPorts({ start: rtpStart, end: rtpStart + 199 }, worker, WORKERS);
      const local = Number(
        routes.find((route) => route.name === name)?.destinations[0]?.local.split(':')[1],
      );
      assert.ok(
        local >= slice.start && local <= slice.end,
        `${name} (worker ${worker}) sends from ${local}, in ${slice.start}-${slice.end}`,
      );
    }
  });

  it("refuses the whole candidate when one worker refuses its share, with that worker's refusal naming the route", async () => {
    const squatter = await UdpPeer.bind(await evenFreePort([portA, portB]));
    const freeAdded = await evenFreePort([portA, portB, squatter.port]);
    try {
      const candidate = config([
        { name: a, port: portA, to: [rxA, rxExtra] },
        { name: b, port: portB, to: [rxB] },
        { name: added0, port: freeAdded, to: [rxExtra] },
        { name: added1, port: squatter.port, to: [rxExtra] },
      ]);
      const refusal = await workers.prepare(candidate).then(
        () => assert.fail('prepared although a fixed port is taken'),
        (error: unknown) => error,
      );
      assert.ok(refusal instanceof MediaWorkerRefusal, String(refusal));
      assert.equal(refusal.code, 'ERR_ROUTE_BUILD');
      assert.equal(refusal.worker, 1);
      assert.deepEqual(refusal.resources, [{ type: 'MEDIA_ROUTE', name: added1 }]);
      assert.match(refusal.message, new RegExp(`proxy\\.routes ${added1}: .*in use`));

      assert.deepEqual(
        await running(),
        [
          [a, 1],
          [b, 1],
        ],
        "worker 0's share (a new route, a changed one) was not applied",
      );
      assert.ok(await canBindUdp(freeAdded), "worker 0's prepared route left no socket bound");
      rxA.received.length = 0;
      for (let sequence = 0; sequence < 20; sequence += 1) {
        await sender.send(rtp({ sequence }), portA);
      }
      await rxA.waitForCount(20);
      await sleep(100);
      assert.equal(rxExtra.received.length, 0, `${a} still sends to its old destination only`);
    } finally {
      squatter.close();
    }
  });

  it('aborts both workers when another participant refuses, and puts both shares in force when none does', async () => {
    const freeAdded = await evenFreePort([portA, portB]);
    const candidate = config([
      { name: a, port: portA, to: [rxA, rxExtra] },
      { name: b, port: portB, to: [rxB, rxExtra] },
      { name: added0, port: freeAdded, to: [rxExtra] },
    ]);
    const refusing: ConfigParticipant = {
      name: 'l7',
      prepare: () => Promise.reject(new Error('listener address in use')),
    };
    await assert.rejects(
      applyConfigTransaction([workers, refusing], candidate),
      ConfigRefusedError,
    );
    assert.deepEqual(await running(), [
      [a, 1],
      [b, 1],
    ]);
    assert.ok(await canBindUdp(freeAdded), 'the aborted route left no socket bound');

    await applyConfigTransaction([workers], candidate);
    await waitFor(async () => ((await running()).length === 3 ? true : undefined), 3_000);
    assert.deepEqual(await running(), [
      [a, 2],
      [b, 2],
      [added0, 1],
    ]);
    rxExtra.received.length = 0;
    await sender.send(rtp({ sequence: 100 }), portA);
    await sender.send(rtp({ sequence: 100, ssrc: 0x77 }), portB);
    await sender.send(rtp({ sequence: 100, ssrc: 0x88 }), freeAdded);
    await rxExtra.waitForCount(3);
  });

  it('ends a worker whose event loop stops answering and restarts it with its routes', async () => {
    const worker = workers.workerOf(b);
    workers.testHooks.hang(worker, 5_000);
    const state = await waitFor(
      () => {
        const now = workers.states()[worker];
        return now?.restarts.get('unresponsive') === 1 && now.lastGapMs !== null ? now : undefined;
      },
      10_000,
      () => `worker ${worker} ended as unresponsive and back`,
    );
    assert.ok(state.up);
    rxB.received.length = 0;
    await sender.send(rtp({ sequence: 200, ssrc: 0x99 }), portB);
    await rxB.waitForCount(1);
    assert.equal(workers.states()[1 - worker]?.restarts.size, 0, 'the other worker was left alone');
  });
});
