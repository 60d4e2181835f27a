/**
 * Issue 17, point 7, on the signaling node's HTTP listener: requests per
 * source address (HTTP requests and WebSocket upgrades alike, taken at the
 * listener's entry). A source over its rate gets 429 with Retry-After for
 * a request and for an upgrade, each counted in
 * streammesh_rate_limited_requests_total{listener="signaling"}; another
 * source (127.0.0.2) is served and its WebSocket opens meanwhile, and a
 * WebSocket the first source opened before stays open.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { SUBPROTOCOL } from '../../../signaling/protocol/messages.js';
import { SignalingServer } from '../../../signaling/server/index.js';
import { WorkerPool } from '../../../signaling/sfu/index.js';
import { formatHostPort } from '../../../src/shared/address.js';
import { metricValue } from '../../helpers/signaling-client.js';

const log = pino({ level: 'silent' });
const FLOODER = '127.0.0.1';
const OTHER = '127.0.0.2';
const BURST = 4;

/** A GET from `localAddress`: its status and Retry-After. */
function get(
  port: number,
  path: string,
  localAddress: string,
): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, path, localAddress, agent: false },
      (response) => {
        response.resume();
        response.once('end', () => {
          const retryAfter = response.headers['retry-after'];
          resolve({ status: response.statusCode ?? 0, retryAfter });
        });
      },
    );
    request.once('error', reject);
    request.end();
  });
}

/** Opens a WebSocket from `localAddress`: the socket, or the HTTP status that refused the upgrade. */
async function openWs(
  url: string,
  localAddress: string,
): Promise<{ ws: WebSocket; status: 101 } | { status: number; retryAfter: string | undefined }> {
  const ws = new WebSocket(url, SUBPROTOCOL, { localAddress });
  ws.on('error', () => undefined);
  return new Promise((resolve) => {
    ws.once('open', () => {
      resolve({ ws, status: 101 });
    });
    ws.once('unexpected-response', (_request, response) => {
      response.resume();
      resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] });
      ws.terminate();
    });
  });
}

describe('signaling listener: requests per source', () => {
  const registry = new Registry();
  const sockets: WebSocket[] = [];
  let pool: WorkerPool;
  let server: SignalingServer;
  let port = 0;
  let wsUrl = '';

  before(async () => {
    // No WebRTC transport is made here: the port range is never used.
    pool = await WorkerPool.create({ size: 1, rtcMinPort: 47000, rtcMaxPort: 47099, log });
    server = await SignalingServer.start({
      listen: { host: '127.0.0.1', port: 0 },
      pool,
      maxPeersPerRoom: 3,
      rtc: { listenIp: '127.0.0.1' },
      peerLimits: { transports: 4, producers: 4, consumers: 10, incomingBitrate: 5_000_000 },
      log,
      metrics: registry,
      // 0.1/s: no token comes back during the test, so the figures are exact.
      requestRate: { perSecond: 0.1, burst: BURST },
      routes: () => [
        {
          prefix: '/',
          handle: (_request, response) => {
            response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
          },
        },
      ],
    });
    port = server.address.port;
    wsUrl = `ws://${formatHostPort(server.address)}/ws`;
  });

  after(async () => {
    for (const ws of sockets) ws.terminate();
    await server.close();
    await pool.close();
  });

  it('answers 429 with Retry-After to requests and upgrades over the rate, counted; the other source is served', async () => {
    // A WebSocket opened within the burst, then plain requests up to it.
    const early = await openWs(wsUrl, FLOODER);
    assert.equal(early.status, 101);
    if ('ws' in early) sockets.push(early.ws);
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < BURST + 3; i += 1) {
      const answer = await get(port, '/whep/cam', FLOODER);
      statuses.push(answer.status);
      if (answer.status === 429) retryAfter = answer.retryAfter;
    }
    assert.deepEqual(statuses, [
      ...Array.from({ length: BURST - 1 }, () => 200),
      ...Array.from({ length: 4 }, () => 429),
    ]);
    assert.ok(Number(retryAfter) >= 1, `Retry-After ${retryAfter}`);
    // An upgrade is a request like any other.
    const refusedWs = await openWs(wsUrl, FLOODER);
    assert.equal(refusedWs.status, 429);
    assert.ok(!('ws' in refusedWs) && Number(refusedWs.retryAfter) >= 1);

    // The other source: its requests and its WebSocket go through.
    for (let i = 0; i < BURST - 1; i += 1) {
      assert.equal((await get(port, '/whip/room', OTHER)).status, 200);
    }
    const otherWs = await openWs(wsUrl, OTHER);
    assert.equal(otherWs.status, 101);
    if ('ws' in otherWs) sockets.push(otherWs.ws);

    // The flooder's WebSocket opened before is untouched: it still answers a ping.
    if ('ws' in early) {
      early.ws.ping();
      await once(early.ws, 'pong');
    }
    assert.equal(
      await metricValue(
        registry,
        'streammesh_rate_limited_requests_total',
        '{listener="signaling"}',
      ),
      statuses.filter((status) => status === 429).length + 1,
      'every refused request and the refused upgrade counted',
    );
  });
});
