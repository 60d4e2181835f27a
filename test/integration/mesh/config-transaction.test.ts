/**
 * A proxy's config change is one transaction over its services: when the
 * last service to prepare cannot bind its new address, the relay and the RTSP
 * proxy run exactly their old config (packets flow on the old route and none
 * on the new, the RTSP listener is the old one serving the old path, nothing
 * of the candidate stays bound), whichever order the services prepare in.
 * The same candidate with every port free is in force in all of them.
 *
 * The three proxy participants for real (MediaRouteTable, RtspService,
 * HttpService); UDP peers, an RTSP client and squatting listeners on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { MediaRouteTable } from '../../../rtp-proxy/media/relay/media-route-table.js';
import { RtspService } from '../../../rtp-proxy/media/rtsp/rtsp-service.js';
import { HttpService } from '../../../rtp-proxy/l7/l7-service.js';
import { validateConfig, type MeshConfig } from '../../../src/config/index.js';
import { applyConfigTransaction, ConfigRefusedError } from '../../../src/node-agent/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { createMetricsRegistry } from '../../../src/shared/metrics.js';
import { canBindUdp, freePort } from '../../helpers/ports.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';

const log = createLogger('proxy', 'silent');
const ANNOUNCED_SDP = Buffer.from(
  'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n',
);

async function listenTcp(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, resolve);
  });
  return server;
}

async function closeTcp(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function tcpPortFree(port: number): Promise<boolean> {
  try {
    await closeTcp(await listenTcp(port));
    return true;
  } catch {
    return false;
  }
}

/** The L7 proxy's own answer on a listener with no route: proof it is the one serving there. */
async function l7NoRouteAnswer(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/probe`, {
    signal: AbortSignal.timeout(3_000),
  });
  return `${response.status} ${await response.text()}`;
}

/** The six orders of three. */
function orders<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, at) =>
    orders([...items.slice(0, at), ...items.slice(at + 1)]).map((rest) => [item, ...rest]),
  );
}

interface Ports {
  /** The route both configs have, on a fixed port (RTCP on the next). */
  readonly oldRoute: number;
  /** The route only the candidate has (rtcp-mux). */
  readonly newRoute: number;
  readonly newRtsp: number;
  readonly oldL7: number;
  readonly newL7: number;
}

async function pickPorts(): Promise<Ports> {
  const taken = new Set<number>();
  const pick = async (accept: (port: number) => boolean = () => true): Promise<number> => {
    for (;;) {
      const port = await freePort((candidate) => !taken.has(candidate) && accept(candidate));
      if (port % 2 === 0 && !(await canBindUdp(port + 1))) continue;
      taken.add(port).add(port + 1);
      return port;
    }
  };
  const even = (port: number): boolean => port % 2 === 0;
  return {
    oldRoute: await pick(even),
    newRoute: await pick(even),
    newRtsp: await pick(),
    oldL7: await pick(),
    newL7: await pick(),
  };
}

function configs(
  ports: Ports,
  destinations: { readonly old: number; readonly next: number },
): { readonly old: MeshConfig; readonly candidate: MeshConfig } {
  const proxy = (
    routes: object[],
    rtspListen: string,
    path: string,
    l7Port: number,
  ): Record<string, unknown> => ({
    mediaAddress: '127.0.0.1',
    rtpPorts: { start: 42000, end: 42999 },
    routes,
    rtsp: { listen: rtspListen, demo: false, paths: { [path]: { source: 'publisher' } } },
    http: { listeners: [{ name: 'web', listen: `127.0.0.1:${l7Port}` }] },
  });
  const oldRoute = {
    name: 'steady',
    listen: `127.0.0.1:${ports.oldRoute}`,
    destinations: [{ address: `127.0.0.1:${destinations.old}` }],
  };
  return {
    old: validateConfig({ proxy: proxy([oldRoute], '127.0.0.1:0', 'before', ports.oldL7) }, 'old'),
    candidate: validateConfig(
      {
        proxy: proxy(
          [
            // Same fixed port, another destination: the route is rebuilt.
            { ...oldRoute, destinations: [{ address: `127.0.0.1:${destinations.next}` }] },
            {
              name: 'added',
              listen: `127.0.0.1:${ports.newRoute}`,
              rtcpMux: true,
              destinations: [{ address: `127.0.0.1:${destinations.next}` }],
            },
          ],
          `127.0.0.1:${ports.newRtsp}`,
          'after',
          ports.newL7,
        ),
      },
      'candidate',
    ),
  };
}

/** ANNOUNCE to a publisher path: 200 where the path is served, 404 where it is unknown. */
async function announceStatus(port: number, path: string): Promise<number | undefined> {
  const client = await RtspTestClient.connect(port);
  try {
    const response = await client.request(
      'ANNOUNCE',
      `rtsp://127.0.0.1:${port}/${path}`,
      { 'Content-Type': 'application/sdp' },
      ANNOUNCED_SDP,
    );
    return response?.status;
  } finally {
    client.close();
  }
}

describe('config transaction over the proxy services', () => {
  let relay: MediaRouteTable;
  let rtsp: RtspService;
  let l7: HttpService;
  let sender: UdpPeer;
  let oldDestination: UdpPeer;
  let newDestination: UdpPeer;
  let ports: Ports;
  let old: MeshConfig;
  let candidate: MeshConfig;
  let sequence = 0;
  const squatters: { close(): unknown }[] = [];

  beforeEach(async () => {
    relay = new MediaRouteTable(log);
    rtsp = new RtspService(log);
    l7 = new HttpService(log, createMetricsRegistry('proxy'));
    [sender, oldDestination, newDestination] = await Promise.all([
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
    ]);
    ports = await pickPorts();
    ({ old, candidate } = configs(ports, {
      old: oldDestination.port,
      next: newDestination.port,
    }));
    await applyConfigTransaction([relay, rtsp, l7], old);
  });

  afterEach(async () => {
    relay.close();
    await rtsp.close();
    await l7.close();
    for (const squatter of squatters.splice(0)) await squatter.close();
    for (const peer of [sender, oldDestination, newDestination]) peer.close();
  });

  after(() => {
    relay.close();
  });

  const l7Listening = (): string[] =>
    [...l7.listeners.values()].map((listener) => listener.config.listen);
  const sendBurst = async (port: number, count: number): Promise<void> => {
    for (let i = 0; i < count; i += 1) await sender.send(rtp({ sequence: sequence++ }), port);
  };

  /** Holds the port the participant named `name` wants to bind for the candidate. */
  const squat = async (name: string): Promise<void> => {
    if (name === 'relay') {
      squatters.push(await UdpPeer.bind(ports.newRoute));
    } else {
      const server = await listenTcp(name === 'rtsp' ? ports.newRtsp : ports.newL7);
      squatters.push({ close: () => closeTcp(server) });
    }
  };

  for (const order of orders(['relay', 'rtsp', 'l7'] as const)) {
    const last = order[order.length - 1] ?? 'l7';
    it(`a bind failure in ${last}, prepared last of ${order.join(' -> ')}, leaves every service in the old config`, async () => {
      const participants = { relay, rtsp, l7 };
      const oldRtsp = rtsp.address;
      assert.ok(oldRtsp !== null);
      const oldRtspPort = Number(oldRtsp.slice(oldRtsp.lastIndexOf(':') + 1));
      await sendBurst(ports.oldRoute, 5);
      await oldDestination.waitForCount(5);

      await squat(last);
      await assert.rejects(
        applyConfigTransaction(
          order.map((name) => participants[name]),
          candidate,
        ),
        (error: unknown) => error instanceof ConfigRefusedError && error.participant === last,
      );

      // Packets flow on the old route, to the old destination, and nowhere else.
      await sendBurst(ports.oldRoute, 20);
      if (last !== 'relay') await sendBurst(ports.newRoute, 20);
      await oldDestination.waitForCount(25);
      await sleep(100);
      assert.equal(oldDestination.received.length, 25);
      assert.equal(newDestination.received.length, 0, 'nothing reaches the new destination');
      assert.deepEqual(
        relay.snapshot().map((route) => [route.name, route.destinations.map((d) => d.address)]),
        [['steady', [`127.0.0.1:${oldDestination.port}`]]],
      );
      assert.equal(relay.snapshot()[0]?.packetsIn, 25, 'the old route kept its counters');

      // The RTSP proxy: the old listener, serving the old path only.
      assert.equal(rtsp.address, oldRtsp);
      assert.deepEqual(
        rtsp.snapshot().paths.map((path) => path.name),
        ['before'],
      );
      assert.equal(await announceStatus(oldRtspPort, 'before'), 200);
      assert.equal(await announceStatus(oldRtspPort, 'after'), 404);

      // The L7 listeners: the old one only.
      assert.deepEqual(l7Listening(), [`127.0.0.1:${ports.oldL7}`]);
      assert.match(await l7NoRouteAnswer(ports.oldL7), /^404 no route for/);

      // Nothing of the candidate stays bound (the squatter holds the failing one's port).
      if (last !== 'relay') assert.ok(await canBindUdp(ports.newRoute), 'new route port free');
      if (last !== 'rtsp') assert.ok(await tcpPortFree(ports.newRtsp), 'new RTSP port free');
      if (last !== 'l7') assert.ok(await tcpPortFree(ports.newL7), 'new L7 port free');
    });
  }

  it('the same candidate with every port free is in force in all three services', async () => {
    const oldRtsp = rtsp.address;
    assert.ok(oldRtsp !== null);
    const oldRtspPort = Number(oldRtsp.slice(oldRtsp.lastIndexOf(':') + 1));
    await applyConfigTransaction([relay, rtsp, l7], candidate);

    // Both routes now go to the new destination; the rebuilt one on its same port.
    await sendBurst(ports.oldRoute, 10);
    await sendBurst(ports.newRoute, 10);
    await newDestination.waitForCount(20);
    await sleep(100);
    assert.equal(oldDestination.received.length, 0, 'nothing reaches the old destination');
    assert.deepEqual(
      relay.snapshot().map((route) => [route.name, route.listen.rtp, route.packetsIn]),
      [
        ['steady', `127.0.0.1:${ports.oldRoute}`, 10],
        ['added', `127.0.0.1:${ports.newRoute}`, 10],
      ],
    );

    assert.equal(rtsp.address, `127.0.0.1:${ports.newRtsp}`);
    assert.deepEqual(
      rtsp.snapshot().paths.map((path) => path.name),
      ['after'],
    );
    assert.equal(await announceStatus(ports.newRtsp, 'after'), 200);
    assert.equal(await announceStatus(ports.newRtsp, 'before'), 404);
    await sleep(50);
    assert.ok(await tcpPortFree(oldRtspPort), 'the old RTSP listener is closed');

    assert.deepEqual(l7Listening(), [`127.0.0.1:${ports.newL7}`]);
    assert.match(await l7NoRouteAnswer(ports.newL7), /^404 no route for/);
  });
});
