/**
 * A proxy's services closed while a config transaction is under way: the
 * three real participants (relay, RTSP, L7) on 127.0.0.1 and, in the
 * transaction, a gate participant that holds it where the test wants the
 * shutdown to land. Whatever the transaction had reached, nothing of the
 * candidate may be bound once the services are closed and the transaction
 * has ended: no UDP socket of the new route or of the port range, no RTSP or
 * L7 listener. (In the proxy the node closes first and waits for the
 * transaction; these are the services' own guards, for whatever still
 * reaches them.)
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { HttpService } from '../../../rtp-proxy/l7/l7-service.js';
import { MediaRouteTable } from '../../../rtp-proxy/media/relay/media-route-table.js';
import { RtspService } from '../../../rtp-proxy/media/rtsp/rtsp-service.js';
import { validateConfig, type MeshConfig } from '../../../src/config/index.js';
import {
  applyConfigTransaction,
  type ConfigParticipant,
  type PreparedChange,
} from '../../../src/node-agent/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { createMetricsRegistry } from '../../../src/shared/metrics.js';
import { canBindUdp, freePort } from '../../helpers/ports.js';
import { udpSockets } from '../../helpers/proc-udp.js';
import { UdpPeer } from '../../helpers/udp.js';

const log = createLogger('proxy', 'silent');
const RANGE = 16;

async function tcpPortFree(port: number): Promise<boolean> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(true));
  });
  if (bound) await new Promise<void>((resolve) => server.close(() => resolve()));
  return bound;
}

/** A participant that holds the transaction at its prepare until released. */
class Gate implements ConfigParticipant {
  readonly name = 'gate';
  #release: (() => void) | undefined;
  #reached: (() => void) | undefined;
  /** Resolves when the transaction reaches this participant. */
  readonly reached = new Promise<void>((resolve) => {
    this.#reached = resolve;
  });

  prepare(): Promise<PreparedChange> {
    this.#reached?.();
    return new Promise((resolve) => {
      this.#release = () => resolve({ commit: () => undefined, abort: () => Promise.resolve() });
    });
  }

  release(): void {
    this.#release?.();
  }
}

describe('proxy services closed during a config transaction', () => {
  let sink: UdpPeer;
  let rangeStart: number;
  let routes: MediaRouteTable;
  let rtsp: RtspService;
  let http: HttpService;
  let ports: { route: number; rtsp: number; l7: number };

  const inRange = (port: number): boolean => port >= rangeStart && port < rangeStart + RANGE;
  const candidate = (): MeshConfig =>
    validateConfig(
      {
        proxy: {
          mediaAddress: '127.0.0.1',
          rtpPorts: { start: rangeStart, end: rangeStart + RANGE - 1 },
          routes: [
            {
              name: 'added',
              listen: `127.0.0.1:${ports.route}`,
              destinations: [
                { address: `127.0.0.1:${sink.port}` },
                { address: `127.0.0.1:${sink.port}` },
              ],
            },
          ],
          rtsp: { listen: `127.0.0.1:${ports.rtsp}`, demo: false },
          http: { listeners: [{ name: 'edge', listen: `127.0.0.1:${ports.l7}` }] },
        },
      },
      'test',
    );
  const closeServices = async (): Promise<void> => {
    routes.close();
    await rtsp.close();
    await http.close();
  };
  /** Nothing of the candidate (nor of any config) is bound. */
  const assertNothingBound = async (): Promise<void> => {
    const open = new Set(udpSockets().map((row) => row.port));
    assert.equal(open.has(ports.route), false, "the new route's socket is closed");
    assert.deepEqual([...open].filter(inRange), [], 'no destination socket of the range is left');
    assert.ok(await canBindUdp(ports.route));
    assert.ok(await tcpPortFree(ports.rtsp), 'no RTSP listener is left');
    assert.ok(await tcpPortFree(ports.l7), 'no L7 listener is left');
  };

  before(async () => {
    sink = await UdpPeer.bind();
    for (;;) {
      rangeStart = await freePort((port) => port % 2 === 0 && port < 60_000);
      const range = Array.from({ length: RANGE }, (_, i) => rangeStart + i);
      if ((await Promise.all(range.map((port) => canBindUdp(port)))).every(Boolean)) break;
    }
  });
  after(() => sink.close());

  beforeEach(async () => {
    routes = new MediaRouteTable(log);
    rtsp = new RtspService(log);
    http = new HttpService(log, createMetricsRegistry('test'));
    const route = await freePort((port) => port % 2 === 0 && !inRange(port) && !inRange(port + 1));
    const rtspPort = await freePort((port) => port !== route && port !== route + 1);
    const l7 = await freePort((port) => ![route, route + 1, rtspPort].includes(port));
    ports = { route, rtsp: rtspPort, l7 };
  });
  afterEach(closeServices);

  it('closed after every service prepared: the commit puts nothing in force', async () => {
    const gate = new Gate();
    const transaction = applyConfigTransaction([routes, rtsp, http, gate], candidate());
    await gate.reached;
    assert.equal(await canBindUdp(ports.route), false, 'the relay prepared the new route');
    await closeServices();
    gate.release();
    await transaction;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual([...routes.routes.keys()], [], 'no route started after close');
    assert.equal(rtsp.address, null);
    assert.deepEqual([...http.listeners.keys()], []);
    await assertNothingBound();
  });

  it('closed before any service prepared: the transaction is refused and binds nothing', async () => {
    const gate = new Gate();
    const transaction = applyConfigTransaction([gate, routes, rtsp, http], candidate());
    await gate.reached;
    await closeServices();
    gate.release();
    await assert.rejects(transaction, { code: 'ERR_CONFIG_REFUSED' });
    await assertNothingBound();
  });

  it('closed between two services: the prepared ones are aborted and nothing stays bound', async () => {
    const gate = new Gate();
    const transaction = applyConfigTransaction([routes, gate, rtsp, http], candidate());
    await gate.reached;
    await closeServices();
    gate.release();
    await assert.rejects(transaction, /rtsp: .*closed/);
    await assertNothingBound();
  });
});
