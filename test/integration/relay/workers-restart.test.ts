/**
 * The sharded relay (rtp-proxy/media/workers) across worker restarts and on
 * small port ranges, with 2 workers, real sockets and real UDP peers:
 *
 *   - a worker that dies between prepare and commit: its successor ends up
 *     with the config committed (not the one before), and forwards it;
 *   - `srtp.key: generate` legs keep their keys across a restart (peers
 *     hold them): the successor is given the keys its predecessor generated;
 *   - a worker whose slice of proxy.rtpPorts is used up allocates from the
 *     whole range (workers: 2 accepts what workers: 1 does), and a refusal
 *     names the range as configured;
 *   - routes and keys asked while a worker does not answer say which
 *     worker is missing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { MediaWorkers, workerOfRoute } from '../../../rtp-proxy/media/workers/index.js';
import { validateConfig, type MeshConfig } from '../../../src/config/index.js';
import { waitFor } from '../../helpers/process.js';
import { UdpPeer, rtp } from '../../helpers/udp.js';

const WORKERS = 2;

function nameOnWorker(prefix: string, worker: number, skip = 0): string {
  let found = 0;
  for (let n = 0; n < 1000; n += 1) {
    if (workerOfRoute(`${prefix}${n}`, WORKERS) !== worker) continue;
    if (found === skip) return `${prefix}${n}`;
    found += 1;
  }
  throw new Error(`no name ${prefix}<n> on worker ${worker}`);
}

interface RouteSpec {
  readonly name: string;
  readonly to: readonly UdpPeer[];
  readonly srtp?: boolean;
}

function config(
  rtpPorts: { start: number; end: number },
  routes: readonly RouteSpec[],
): MeshConfig {
  return validateConfig(
    {
      proxy: {
        mediaAddress: '127.0.0.1',
        rtpPorts,
        routes: routes.map((route) => ({
          name: route.name,
          listen: '127.0.0.1:0',
          rtcpMux: true,
          ...(route.srtp === true
            ? { srtp: { profile: 'AES_CM_128_HMAC_SHA1_80', key: 'generate' } }
            : {}),
          destinations: route.to.map((peer) => ({
            address: `127.0.0.1:${peer.port}`,
            rtcpMux: true,
          })),
        })),
      },
    },
    'test',
  );
}

const randomRange = (base: number, size: number): { start: number; end: number } => {
  const start = 2 * (base + Math.floor(Math.random() * 1_500));
  return { start, end: start + size - 1 };
};

/** Error records of the workers' log, for what a crashed worker threw. */
const errorLines: string[] = [];
const log = pino({ level: 'error' }, { write: (line: string) => errorLines.push(line) });

/** Worker `index` is back from a restart (its successor has its routes in force). */
async function restarted(workers: MediaWorkers, index: number, restarts: number): Promise<void> {
  await waitFor(
    () => {
      const state = workers.states()[index];
      return state?.restarts.get('crashed') === restarts && state.lastGapMs !== null
        ? true
        : undefined;
    },
    10_000,
    () => `worker ${index} restarted ${restarts} time(s)`,
  );
}

describe('media workers across restarts and small port ranges', { timeout: 90_000 }, () => {
  let workers: MediaWorkers;
  let sender: UdpPeer;
  let rx0: UdpPeer;
  let rx1: UdpPeer;
  let rxNew: UdpPeer;

  before(async () => {
    [sender, rx0, rx1, rxNew] = await Promise.all([
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
    ]);
    workers = new MediaWorkers({
      workers: WORKERS,
      log,
      udpIo: 'auto',
      srtpEngine: 'auto',
      unresponsiveMs: 10_000,
      pingIntervalMs: 100,
    });
  });

  after(async () => {
    await workers.close();
    for (const peer of [sender, rx0, rx1, rxNew]) peer.close();
  });

  it('gives a worker that died between prepare and commit the committed config, not the one before', async () => {
    const range = randomRange(20_000, 200);
    const old0 = nameOnWorker('old', 0);
    const new0 = nameOnWorker('new', 0);
    const other1 = nameOnWorker('other', 1);
    await workers.apply(
      config(range, [
        { name: old0, to: [rx0] },
        { name: other1, to: [rx1] },
      ]),
    );
    const change = await workers.prepare(
      config(range, [
        { name: old0, to: [rx0] },
        { name: new0, to: [rxNew] },
        { name: other1, to: [rx1] },
      ]),
    );
    await workers.testHooks.crash(0);
    // The successor is up with the config before (the only one committed so far).
    await restarted(workers, 0, 1);
    change.commit();
    const route = await waitFor(
      async () => (await workers.snapshot()).find((found) => found.name === new0),
      5_000,
      () => `${new0} (committed while worker 0 restarted) runs on its successor`,
    );
    const port = Number(route.listen.rtp.split(':')[1]);
    await sender.send(rtp({ sequence: 1 }), port);
    await rxNew.waitForCount(1);
    assert.deepEqual(
      (await workers.snapshot()).map((found) => found.name),
      [old0, new0, other1],
    );
  });

  it('keeps the keys of srtp.key: generate legs across a restart', async () => {
    const range = randomRange(21_000, 200);
    const secure0 = nameOnWorker('secure', 0);
    const secure1 = nameOnWorker('secure', 1);
    await workers.apply(
      config(range, [
        { name: secure0, to: [rx0], srtp: true },
        { name: secure1, to: [rx1], srtp: true },
      ]),
    );
    await workers.settled();
    const before = await workers.keys();
    assert.equal(before.length, 2);
    assert.ok(before.every((key) => key.generated));
    const restarts = workers.states()[0]?.restarts.get('crashed') ?? 0;
    errorLines.length = 0;
    await workers.testHooks.crash(0);
    await restarted(workers, 0, restarts + 1);
    // Node tells only the Worker's owner what a thread threw: the log must say it.
    const ended = errorLines
      .map((line) => JSON.parse(line) as { msg?: string; err?: { message?: string } })
      .find((record) => record.msg?.startsWith('media worker ended') === true);
    assert.match(
      ended?.err?.message ?? '',
      /crash requested by a test hook/,
      `the end's log record: ${errorLines.join('')}`,
    );
    await workers.settled();
    const afterRestart = await workers.keys();
    assert.deepEqual(
      afterRestart,
      before,
      'the restarted worker rebuilt its generated legs with the same keys, still shown as generated',
    );
    // A change of the route's config is a new leg: it gets a new key, as on one thread.
    await workers.apply(
      config(range, [
        { name: secure0, to: [rx0, rxNew], srtp: true },
        { name: secure1, to: [rx1], srtp: true },
      ]),
    );
    const changed = await workers.keys();
    assert.notEqual(
      changed.find((key) => key.route === secure0)?.inline,
      before.find((key) => key.route === secure0)?.inline,
    );
    assert.equal(
      changed.find((key) => key.route === secure1)?.inline,
      before.find((key) => key.route === secure1)?.inline,
    );
  });

  it("takes ports from the whole range once a worker's slice is used up, and names the configured range when it is full", async () => {
    // 4 pairs: each worker's slice holds 2. Each route takes 2 pairs (its
    // ingress, its destination's local pair), all three routes on worker 0.
    const range = randomRange(22_000, 8);
    const names = [0, 1, 2].map((skip) => nameOnWorker('small', 0, skip));
    const two = config(range, [
      { name: names[0] as string, to: [rx0] },
      { name: names[1] as string, to: [rx0] },
    ]);
    await workers.apply(two);
    await workers.settled();
    const routes = await workers.snapshot();
    assert.deepEqual(
      routes.map((route) => route.name),
      names.slice(0, 2),
      'two routes of worker 0 on a range whose slice of worker 0 holds one route',
    );
    for (const route of routes) {
      const port = Number(route.listen.rtp.split(':')[1]);
      assert.ok(port >= range.start && port <= range.end, `${port} in ${range.start}-${range.end}`);
      await sender.send(rtp({ sequence: 7 }), port);
    }
    await rx0.waitForCount(2);

    const refusal = await workers
      .prepare(
        config(
          range,
          names.map((name) => ({ name, to: [rx0] })),
        ),
      )
      .then(
        () => assert.fail('prepared 6 pairs on a range of 4'),
        (error: unknown) => error as Error,
      );
    assert.match(
      refusal.message,
      new RegExp(`proxy\\.routes ${names[2]}: .*proxy\\.rtpPorts ${range.start}-${range.end}`),
      'the refusal names the range as configured, not a worker slice',
    );
  });

  it('says which worker did not answer when routes or keys are asked while it is busy', async () => {
    const range = randomRange(23_000, 200);
    const secure0 = nameOnWorker('busy', 0);
    const secure1 = nameOnWorker('busy', 1);
    await workers.apply(
      config(range, [
        { name: secure0, to: [rx0], srtp: true },
        { name: secure1, to: [rx1], srtp: true },
      ]),
    );
    await workers.settled();
    const whole = await workers.snapshotReport();
    assert.deepEqual(whole.missingWorkers, []);
    assert.equal(whole.routes.length, 2);
    // Longer than a snapshot is waited for (2 s), shorter than the watchdog (10 s here).
    workers.testHooks.hang(1, 3_000);
    const [routes, keys] = await Promise.all([workers.snapshotReport(), workers.keysReport()]);
    assert.deepEqual(routes.missingWorkers, [1]);
    assert.deepEqual(
      routes.routes.map((route) => route.name),
      [secure0],
    );
    assert.deepEqual(keys.missingWorkers, [1]);
    assert.deepEqual(
      keys.keys.map((key) => key.route),
      [secure0],
    );
  });
});
