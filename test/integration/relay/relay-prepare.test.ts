/**
 * The relay as a config-transaction participant, over real UDP sockets on
 * 127.0.0.1: prepare builds aside and changes nothing that carries packets,
 * commit swaps (a changed route on a fixed port keeps its port), abort gives
 * back every socket and port prepare took, and a refusal at prepare leaves
 * the running routes as they were and names the resource at fault. Of two
 * prepares started together one is refused; a closed table takes no config,
 * and a change prepared before close() leaves no socket behind.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MediaRouteTable } from '../../../rtp-proxy/media/relay/media-route-table.js';
import {
  refusedResourcesOf,
  validateConfig,
  type MeshConfig,
  type MeshConfigInput,
} from '../../../src/config/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { canBindUdp, freePort } from '../../helpers/ports.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';

const log = createLogger('proxy', 'silent');
type RouteInput = NonNullable<NonNullable<MeshConfigInput['proxy']>['routes']>[number];

/** `count` consecutive UDP ports, all free a moment ago, starting at an even one. */
async function freeRun(count: number, avoid: ReadonlySet<number> = new Set()): Promise<number> {
  for (;;) {
    const start = await freePort((port) => port % 2 === 0 && !avoid.has(port));
    let free = true;
    for (let port = start; port < start + count && free; port += 1) {
      free = !avoid.has(port) && (await canBindUdp(port));
    }
    if (free) return start;
  }
}

describe('relay prepare / commit / abort', () => {
  let table: MediaRouteTable;
  let sender: UdpPeer;
  let oldDestination: UdpPeer;
  let newDestination: UdpPeer;
  /** proxy.rtpPorts: four pairs, so that a leak shows within a few rounds. */
  let rangeStart: number;
  /** A fixed listen port outside the range (RTCP on the next one). */
  let fixedPort: number;
  let sequence = 0;
  const extra: UdpPeer[] = [];

  const config = (routes: RouteInput[], mediaAddress = '127.0.0.1'): MeshConfig =>
    validateConfig(
      {
        proxy: { mediaAddress, rtpPorts: { start: rangeStart, end: rangeStart + 7 }, routes },
      },
      'test',
    );
  const steady = (destination: UdpPeer, rtcpMux = false): RouteInput => ({
    name: 'steady',
    listen: `127.0.0.1:${fixedPort}`,
    rtcpMux,
    destinations: [{ address: `127.0.0.1:${destination.port}` }],
  });
  const sendBurst = async (port: number, count: number): Promise<void> => {
    for (let i = 0; i < count; i += 1) await sender.send(rtp({ sequence: sequence++ }), port);
  };

  beforeEach(async () => {
    table = new MediaRouteTable(log);
    [sender, oldDestination, newDestination] = await Promise.all([
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
    ]);
    rangeStart = await freeRun(8);
    const range = new Set(Array.from({ length: 8 }, (_, i) => rangeStart + i));
    fixedPort = await freeRun(2, range);
    await table.apply(config([steady(oldDestination)]));
    await sendBurst(fixedPort, 5);
    await oldDestination.waitForCount(5);
  });

  afterEach(() => {
    table.close();
    for (const peer of [sender, oldDestination, newDestination, ...extra.splice(0)]) peer.close();
  });

  it('prepare changes no running route; commit moves the changed route on its own port', async () => {
    const candidate = config([
      steady(newDestination),
      {
        name: 'added',
        listen: '127.0.0.1:0',
        destinations: [{ address: `127.0.0.1:${newDestination.port}` }],
      },
    ]);
    const change = await table.prepare(candidate);
    await sendBurst(fixedPort, 10);
    await oldDestination.waitForCount(15);
    await sleep(50);
    assert.equal(newDestination.received.length, 0, 'prepared routes carry nothing');
    assert.deepEqual(
      table.snapshot().map((route) => [route.name, route.packetsIn]),
      [['steady', 15]],
    );

    change.commit();
    const added = table.routes.get('added');
    assert.ok(added);
    assert.equal(table.routes.get('steady')?.ingress.port, fixedPort, 'same port after the change');
    await sendBurst(fixedPort, 10);
    await sendBurst(added.ingress.port, 10);
    await newDestination.waitForCount(20);
    await sleep(50);
    assert.equal(oldDestination.received.length, 15, 'the old destination gets nothing more');
    assert.deepEqual(
      table.snapshot().map((route) => [route.name, route.packetsIn]),
      [
        ['steady', 10],
        ['added', 10],
      ],
    );
    assert.equal(
      table.snapshot()[0]?.listen.rtcp,
      `127.0.0.1:${fixedPort + 1}`,
      'RTCP port kept too',
    );
  });

  it('changing the destination of a fixed-port route loses no packet of a running stream', async () => {
    const stream = { sending: true };
    let sent = 0;
    const sending = (async () => {
      while (stream.sending) {
        await sender.send(rtp({ sequence: sequence++ }), fixedPort);
        sent += 1;
        if (sent % 10 === 0) await sleep(1);
      }
    })();
    for (let change = 0; change < 6; change += 1) {
      await sleep(10);
      const destination = change % 2 === 0 ? newDestination : oldDestination;
      await table.apply(config([steady(destination)]));
    }
    await sleep(10);
    stream.sending = false;
    await sending;
    await sleep(100);
    const arrived = oldDestination.received.length + newDestination.received.length;
    assert.equal(arrived, 5 + sent, 'every packet reached one of the destinations');
    assert.ok(newDestination.received.length > 0, 'sent to the new destination after a change');
    assert.ok(oldDestination.received.length > 5, 'and to the old one while sending');
  });

  it('abort gives back every socket and port prepare took, round after round', async () => {
    const addedPort = await freeRun(1, new Set([fixedPort, fixedPort + 1]));
    const candidate = config([
      steady(oldDestination),
      {
        name: 'added',
        listen: `127.0.0.1:${addedPort}`,
        rtcpMux: true,
        srtp: { profile: 'AES_CM_128_HMAC_SHA1_80', key: 'generate' },
        destinations: [{ address: `127.0.0.1:${newDestination.port}` }],
      },
    ]);
    const rangePorts = Array.from({ length: 8 }, (_, i) => rangeStart + i);
    const heldBefore = await Promise.all(rangePorts.map((port) => canBindUdp(port)));
    // Four pairs, one held by the steady route: a leak would exhaust them by round four.
    for (let round = 0; round < 5; round += 1) {
      const change = await table.prepare(candidate);
      assert.equal(await canBindUdp(addedPort), false, 'prepare bound the new route');
      await change.abort();
      assert.ok(await canBindUdp(addedPort), `round ${round}: the new route's port is free`);
      assert.deepEqual(
        await Promise.all(rangePorts.map((port) => canBindUdp(port))),
        heldBefore,
        `round ${round}: the range is as before`,
      );
    }
    await sendBurst(fixedPort, 10);
    await oldDestination.waitForCount(15);
    assert.deepEqual([...table.routes.keys()], ['steady']);
  });

  it('of two prepares started together one is refused; the next goes through after abort', async () => {
    const addedPort = await freeRun(1, new Set([fixedPort, fixedPort + 1]));
    const added = {
      name: 'added',
      listen: `127.0.0.1:${addedPort}`,
      rtcpMux: true,
      destinations: [{ address: `127.0.0.1:${newDestination.port}` }],
    };
    // Not awaited in between: both run their awaits (media-address check, binds) interleaved.
    const results = await Promise.allSettled([
      table.prepare(config([steady(newDestination), added])),
      table.prepare(config([steady(newDestination)])),
    ]);
    const prepared = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    assert.equal(prepared.length, 1, 'one prepare went through');
    assert.match(String(refused[0]), /neither committed/, 'the other was refused');
    const [change] = prepared;
    assert.ok(change);
    await change.abort();
    assert.ok(await canBindUdp(addedPort), 'nothing of either prepare stays bound');
    await table.apply(config([steady(newDestination)]));
    await sendBurst(fixedPort, 3);
    await newDestination.waitForCount(3);
  });

  it('a taken RTCP port for a route leaving rtcp-mux refuses at prepare; the route runs on', async () => {
    await table.apply(config([steady(oldDestination, true)]));
    extra.push(await UdpPeer.bind(fixedPort + 1));
    await assert.rejects(table.prepare(config([steady(newDestination, false)])), (error) => {
      assert.match(String(error), /proxy\.routes steady: .*RTCP port.*EADDRINUSE/);
      assert.deepEqual(refusedResourcesOf(error), [{ type: 'MEDIA_ROUTE', name: 'steady' }]);
      return true;
    });
    await sendBurst(fixedPort, 10);
    await oldDestination.waitForCount(15);
    await sleep(50);
    assert.equal(newDestination.received.length, 0);
  });

  it('a media address this node does not have refuses at prepare; the routes run on', async () => {
    // 192.0.2.1 (TEST-NET-1) is valid config but no address of this machine.
    await assert.rejects(table.prepare(config([steady(newDestination)], '192.0.2.1')), (error) => {
      assert.match(String(error), /proxy\.mediaAddress: 192\.0\.2\.1 cannot be bound on this node/);
      assert.deepEqual(refusedResourcesOf(error), [{ type: 'MESH_SETTINGS', name: 'mesh' }]);
      return true;
    });
    await sendBurst(fixedPort, 10);
    await oldDestination.waitForCount(15);
    await sleep(50);
    assert.equal(newDestination.received.length, 0);
    assert.deepEqual(
      table.snapshot().map((route) => route.destinations.map((d) => d.address)),
      [[`127.0.0.1:${oldDestination.port}`]],
    );
  });

  it('a closed table refuses prepare; a change prepared before close() is released, not started', async () => {
    const addedPort = await freeRun(1, new Set([fixedPort, fixedPort + 1]));
    const rangePorts = Array.from({ length: 8 }, (_, i) => rangeStart + i);
    const candidate = config([
      steady(newDestination),
      {
        name: 'added',
        listen: `127.0.0.1:${addedPort}`,
        rtcpMux: true,
        destinations: [{ address: `127.0.0.1:${newDestination.port}` }],
      },
    ]);
    const change = await table.prepare(candidate);
    table.close();
    change.commit();
    assert.deepEqual([...table.routes.keys()], [], 'no route started after close');
    assert.ok(await canBindUdp(addedPort), "the prepared route's port is free");
    assert.ok(await canBindUdp(fixedPort), "the steady route's port is free");
    assert.deepEqual(
      await Promise.all(rangePorts.map((port) => canBindUdp(port))),
      rangePorts.map(() => true),
      'no destination socket of the range is left open',
    );
    await assert.rejects(table.prepare(candidate), { code: 'ERR_RELAY_CLOSED' });
    assert.ok(await canBindUdp(addedPort), 'the refused prepare bound nothing');
    await sendBurst(addedPort, 3);
    await sleep(50);
    assert.equal(newDestination.received.length, 0);
  });
});
