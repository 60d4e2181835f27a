/**
 * The relay sharded over media worker threads (issue 20, point 3), through a
 * real proxy and control plane in this process (proxy.workers: 2), with real
 * UDP senders and receivers on 127.0.0.1:
 *
 *   - routes land on both workers, /streams and the per-route series still
 *     show every route as before, and each worker counts its packets;
 *   - a route's packets keep their order while both workers carry load;
 *   - a worker that crashes (the facade's test hook: an uncaught exception
 *     in the worker, as a bug would throw) is restarted with its routes on
 *     the same fixed ports; packets are lost only during the gap, which is
 *     measured, and the other worker's route loses none;
 *   - a config whose route one worker cannot build (its fixed port taken)
 *     is NACKed naming that route. That the other worker's share is not
 *     applied either (all or none) is shown on the participant itself in
 *     workers-transaction.test.ts: through the node, the control plane may
 *     push the rest again without the refused route.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { workerOfRoute, type MediaRouteSnapshot } from '../../../rtp-proxy/media/workers/index.js';
import { startProxy, type RunningProxy } from '../../../rtp-proxy/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { parseConfigText } from '../../../src/config/index.js';
import { httpUrl } from '../../../src/shared/address.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import type { NodeView } from '../../helpers/in-process-mesh.js';
import { getJson, getText, putText } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';
import { metric } from '../../helpers/exposition.js';

const WORKERS = 2;
const PROXY_ID = 'proxy-workers';

/**
 * A control plane and a proxy in this process, as test/helpers/in-process-mesh.ts
 * makes them, but waiting up to 30 s for the first config: each media worker
 * compiles the relay's modules when it starts (about a second alone, several
 * on a machine as loaded as the shared test machines get).
 */
class WorkersMesh {
  readonly #adminToken = newAdminToken();
  readonly #grpcPort: number;
  plane: RunningControlPlane | undefined;
  proxy: RunningProxy | undefined;

  private constructor(grpcPort: number) {
    this.#grpcPort = grpcPort;
  }

  static async start(proxyYaml: string): Promise<WorkersMesh> {
    const mesh = new WorkersMesh(await freePort());
    const log = createLogger('test', 'silent');
    mesh.plane = await startControlPlane({
      config: parseConfigText(mesh.#configText(proxyYaml), 'control plane'),
      log,
      credentials: AdminCredentials.ofToken(mesh.#adminToken),
      placementGraceMs: 10 * 60_000,
    });
    mesh.proxy = await startProxy(parseConfigText(mesh.#configText(proxyYaml), 'proxy'), log);
    await waitFor(
      async () => (((await mesh.node())?.ackedVersion ?? '') === '' ? undefined : true),
      30_000,
      () => 'the proxy to acknowledge its first config',
    );
    return mesh;
  }

  #configText(proxyYaml: string): string {
    return [
      'logLevel: silent',
      'controlPlane:',
      '  admin: 127.0.0.1:0',
      `  grpc: 127.0.0.1:${this.#grpcPort}`,
      '  heartbeatIntervalMs: 200',
      'proxy:',
      `  id: ${PROXY_ID}`,
      '  admin: 127.0.0.1:0',
      '  rtsp: { enabled: false }',
      ...proxyYaml.split('\n').map((line) => `  ${line}`),
      'signaling:',
      '  admin: 127.0.0.1:0',
      '  listen: 127.0.0.1:0',
    ].join('\n');
  }

  get proxyUrl(): string {
    assert.ok(this.proxy);
    return httpUrl(this.proxy.admin);
  }

  async put(proxyYaml: string): Promise<string> {
    assert.ok(this.plane);
    const put = await putText<{ version: string }>(
      `${httpUrl(this.plane.admin)}/config`,
      this.#configText(proxyYaml),
      this.#adminToken,
    );
    assert.equal(put.status, 200);
    return put.body.version;
  }

  async node(): Promise<NodeView | undefined> {
    assert.ok(this.plane);
    const { body } = await getJson<{ nodes: NodeView[] }>(`${httpUrl(this.plane.admin)}/nodes`);
    return body.nodes.find((node) => node.id === PROXY_ID);
  }

  async close(): Promise<void> {
    await this.proxy?.close();
    await this.plane?.close();
  }
}

/** The first name `prefix<n>` that hashes to `worker`. */
function nameOnWorker(prefix: string, worker: number): string {
  for (let n = 0; n < 1000; n += 1) {
    if (workerOfRoute(`${prefix}${n}`, WORKERS) === worker) return `${prefix}${n}`;
  }
  throw new Error(`no name ${prefix}<n> on worker ${worker}`);
}

const evenFreePort = (taken: readonly number[] = []): Promise<number> =>
  freePort((port) => port % 2 === 0 && !taken.includes(port));

function sequencesOf(peer: UdpPeer): number[] {
  return peer.received.map(({ packet }) => packet.readUInt16BE(2));
}

describe('media routes sharded over 2 workers', { timeout: 120_000 }, () => {
  const a = nameOnWorker('route-a', 0);
  const b = nameOnWorker('route-b', 1);
  const added0 = nameOnWorker('added-a', 0);
  const added1 = nameOnWorker('added-b', 1);
  let mesh: WorkersMesh;
  let sender: UdpPeer;
  let rxA: UdpPeer;
  let rxB: UdpPeer;
  let rxExtra: UdpPeer;
  let portA: number;
  let portB: number;
  let rtpStart: number;

  const routeLine = (name: string, port: number, receivers: readonly UdpPeer[]): string =>
    `  - { name: ${name}, listen: 127.0.0.1:${port}, rtcpMux: true, destinations: [${receivers
      .map((peer) => `{ address: 127.0.0.1:${peer.port}, rtcpMux: true }`)
      .join(', ')}] }`;
  const proxyYaml = (routes: readonly string[]): string =>
    [
      `workers: ${WORKERS}`,
      'mediaAddress: 127.0.0.1',
      `rtpPorts: { start: ${rtpStart}, end: ${rtpStart + 199} }`,
      'routes:',
      ...routes,
    ].join('\n');
  const streams = async (): Promise<MediaRouteSnapshot[]> =>
    (await getJson<{ routes: MediaRouteSnapshot[] }>(`${mesh.proxyUrl}/streams`)).body.routes;
  const relay = () => {
    assert.ok(mesh.proxy);
    return mesh.proxy.relay;
  };

  before(async () => {
    [sender, rxA, rxB, rxExtra] = await Promise.all([
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
    ]);
    portA = await evenFreePort();
    portB = await evenFreePort([portA]);
    rtpStart = 2 * (21_000 + Math.floor(Math.random() * 2_000));
    mesh = await WorkersMesh.start(
      proxyYaml([routeLine(a, portA, [rxA]), routeLine(b, portB, [rxB])]),
    );
    await waitFor(async () => ((await streams()).length === 2 ? true : undefined), 5_000);
  });

  after(async () => {
    await mesh.close();
    for (const peer of [sender, rxA, rxB, rxExtra]) peer.close();
  });

  it('puts the routes on both workers; /streams and the per-route series show them as before', async () => {
    assert.equal(relay().workers, WORKERS);
    for (let sequence = 0; sequence < 50; sequence += 1) {
      await sender.send(rtp({ sequence }), portA);
      await sender.send(rtp({ sequence, ssrc: 0x22 }), portB);
    }
    await rxA.waitForCount(50);
    await rxB.waitForCount(50);
    const routes = await streams();
    assert.deepEqual(
      routes.map((route) => [route.name, route.packetsIn]),
      [
        [a, 50],
        [b, 50],
      ],
      'every route, in config order, counted where it runs',
    );
    const { text } = await getText(`${mesh.proxyUrl}/metrics`);
    assert.equal(metric(text, 'streammesh_proxy_route_worker', { route: a, worker: '0' }), 1);
    assert.equal(metric(text, 'streammesh_proxy_route_worker', { route: b, worker: '1' }), 1);
    assert.equal(metric(text, 'streammesh_proxy_route_received_packets_total', { route: a }), 50);
    assert.equal(metric(text, 'streammesh_proxy_route_sent_packets_total', { route: b }), 50);
    assert.match(
      text,
      new RegExp(`^streammesh_proxy_stream_received_packets_total\\{route="${b}",ssrc="34"`, 'm'),
      'per-stream series keep their labels (no worker label added)',
    );
    for (const worker of ['0', '1']) {
      assert.equal(metric(text, 'streammesh_proxy_worker_received_packets_total', { worker }), 50);
      assert.equal(metric(text, 'streammesh_proxy_worker_sent_packets_total', { worker }), 50);
      assert.equal(metric(text, 'streammesh_proxy_worker_up', { worker }), 1);
      const busy = metric(text, 'streammesh_proxy_worker_event_loop_utilization', { worker });
      assert.ok(busy !== undefined && busy >= 0 && busy <= 1, `utilization of ${worker}: ${busy}`);
    }
  });

  it("keeps a route's packets in order while both workers carry load", async () => {
    rxA.received.length = 0;
    rxB.received.length = 0;
    const count = 20_000;
    for (let sequence = 0; sequence < count; sequence += 1) {
      sender.socket.send(rtp({ sequence, ssrc: 0x33 }), portA, '127.0.0.1');
      sender.socket.send(rtp({ sequence, ssrc: 0x44 }), portB, '127.0.0.1');
      // Paced (about 50 packets per route per ms at most): a burst of 40,000 would
      // overflow loopback buffers on a busy machine, and a test of order needs packets.
      if (sequence % 50 === 49) await sleep(1);
    }
    await sleep(500);
    for (const [name, peer] of [
      [a, rxA],
      [b, rxB],
    ] as const) {
      const sequences = sequencesOf(peer);
      assert.ok(
        sequences.length >= count / 2,
        `${name}: ${sequences.length} of ${count} relayed (loopback dropping most would hide the order)`,
      );
      const outOfOrder = sequences.filter(
        (value, index) => index > 0 && value <= (sequences[index - 1] ?? -1),
      );
      assert.deepEqual(outOfOrder, [], `${name}: sequence numbers only increase`);
    }
  });

  it('restarts a crashed worker with its routes on their ports; loss only during the gap, none on the other worker', async () => {
    rxA.received.length = 0;
    rxB.received.length = 0;
    const intervalMs = 2;
    const sentAt: number[] = [];
    let crashAt = 0;
    let backAt = 0;
    let sequence = 0;
    const start = performance.now();
    const crashAfterMs = 1000;
    let crashed = false;
    // About 500 packets/s on each route for ~2.5 s, the crash 1 s in.
    while (performance.now() - start < crashAfterMs + 1500 || backAt === 0) {
      if (performance.now() - start > 15_000) assert.fail('worker 0 did not come back in 15 s');
      const now = performance.now();
      sentAt.push(now);
      sender.socket.send(rtp({ sequence, ssrc: 0x55 }), portA, '127.0.0.1');
      sender.socket.send(rtp({ sequence, ssrc: 0x66 }), portB, '127.0.0.1');
      sequence += 1;
      if (!crashed && now - start >= crashAfterMs) {
        crashed = true;
        crashAt = performance.now();
        void relay().testHooks.crash(0);
      }
      if (crashed && backAt === 0 && relay().states()[0]?.lastGapMs !== null) {
        backAt = performance.now();
      }
      await sleep(intervalMs);
    }
    await sleep(300);
    const state = relay().states()[0];
    assert.ok(state);
    assert.equal(state.restarts.get('crashed'), 1, 'worker 0 ended by its crash, once');
    const gapMs = state.lastGapMs;
    assert.ok(gapMs !== null);

    const gotA = new Set(sequencesOf(rxA));
    const lost = sentAt.flatMap((at, seq) => (gotA.has(seq) ? [] : [{ seq, at }]));
    assert.ok(
      lost.length > 0,
      'packets sent while worker 0 was down are lost (else no crash happened)',
    );
    const first = lost[0];
    const last = lost.at(-1);
    assert.ok(first !== undefined && last !== undefined);
    // In flight or queued on the old socket when it went: a few ms before the crash at most.
    assert.ok(
      first.at >= crashAt - 20,
      `first loss ${Math.round(crashAt - first.at)} ms before the crash`,
    );
    assert.ok(
      last.at <= backAt + 5,
      `a loss ${Math.round(last.at - backAt)} ms after the routes came back`,
    );
    assert.equal(last.seq - first.seq + 1, lost.length, 'the losses are one run: the gap');
    // The outage as the sender saw it runs from the crash to the routes back
    // (polled every intervalMs); the supervisor's gap starts later, when the
    // dead thread's exit reaches the main thread, and is reported apart.
    const lostSpanMs = last.at - first.at;
    const outageMs = backAt - crashAt;
    assert.ok(
      lostSpanMs <= outageMs + 25,
      `lost ${lost.length} packets over ${Math.round(lostSpanMs)} ms, outage ${Math.round(outageMs)} ms`,
    );
    assert.deepEqual(
      sequencesOf(rxB).length,
      sequence,
      'the route on worker 1 lost nothing while worker 0 restarted',
    );
    const routes = await streams();
    assert.equal(routes.find((route) => route.name === a)?.listen.rtp, `127.0.0.1:${portA}`);
    const { text } = await getText(`${mesh.proxyUrl}/metrics`);
    assert.equal(
      metric(text, 'streammesh_proxy_worker_restarts_total', { worker: '0', reason: 'crashed' }),
      1,
    );
    const gapSeconds = metric(text, 'streammesh_proxy_worker_restart_gap_seconds', { worker: '0' });
    assert.ok(gapSeconds !== undefined && Math.abs(gapSeconds * 1000 - gapMs) < 1);
    console.log(
      `worker restart: outage ${outageMs.toFixed(1)} ms from the crash, of which ${gapMs.toFixed(1)} ms ` +
        `from the supervisor seeing the exit; ${lost.length} of ${sequence} packets lost over ` +
        `${lostSpanMs.toFixed(1)} ms (one every ${intervalMs} ms + send time), all within the outage; worker 1: 0 lost`,
    );
  });

  it('NACKs a config that one worker cannot build, naming that route (the other worker is not asked to hold anything of it)', async () => {
    const squatter = await UdpPeer.bind(await evenFreePort([portA, portB]));
    const freeAdded = await evenFreePort([portA, portB, squatter.port]);
    try {
      const before = await mesh.node();
      assert.ok(before);
      await mesh.put(
        proxyYaml([
          routeLine(a, portA, [rxA, rxExtra]),
          routeLine(b, portB, [rxB]),
          routeLine(added0, freeAdded, [rxExtra]),
          routeLine(added1, squatter.port, [rxExtra]),
        ]),
      );
      const nack = await waitFor(
        async () => {
          const node = await mesh.node();
          return node?.lastNack !== undefined && node.lastNack.version !== before.lastNack?.version
            ? node
            : undefined;
        },
        10_000,
        () => 'the NACK',
      );
      assert.match(
        nack.lastNack?.reason ?? '',
        new RegExp(`relay: proxy\\.routes ${added1}: .*in use`),
      );
      const refused = nack.resources.filter((resource) => resource.nacked !== null);
      assert.deepEqual(
        refused.map((resource) => [resource.type, resource.name]),
        [['MEDIA_ROUTE', added1]],
        'the NACK names the route worker 1 could not build, and only it',
      );
      assert.ok(
        (await streams()).every((route) => route.name !== added1),
        'the refused route never runs',
      );
    } finally {
      squatter.close();
    }
  });

  it('says in /streams which worker did not answer, rather than leaving its routes out silently', async () => {
    const busy = workerOfRoute(b, WORKERS);
    // Longer than /streams waits for a worker (2 s), shorter than the watchdog (5 s).
    relay().testHooks.hang(busy, 3_000);
    const { status, body } = await getJson<{
      routes: MediaRouteSnapshot[];
      missingWorkers?: number[];
    }>(`${mesh.proxyUrl}/streams`);
    assert.equal(status, 200);
    assert.deepEqual(body.missingWorkers, [busy]);
    assert.ok(body.routes.every((route) => route.name !== b));
    const answered = await waitFor(
      async () => {
        const again = await getJson<{ routes: MediaRouteSnapshot[]; missingWorkers?: number[] }>(
          `${mesh.proxyUrl}/streams`,
        );
        return again.body.missingWorkers === undefined ? again.body : undefined;
      },
      10_000,
      () => `worker ${busy} answers again`,
    );
    assert.ok(answered.routes.some((route) => route.name === b));
  });
});
