/**
 * Issue 14, attack 4: idle sockets must not lock viewers out of the RTSP
 * listener. 1,100 TCP connections that send nothing (from 127.0.0.1 and
 * 127.0.0.3-20, so the per-source cap leaves them be and they fill the total)
 * take every slot; those over maxConnections are refused at once, the
 * admitted ones are cut at the head timeout, and both are counted by reason
 * in streammesh_listener_refused_connections_total{listener="rtsp"}. A viewer
 * from 127.0.0.2 is refused while the listener is full, then gets
 * DESCRIBE/SETUP/PLAY answered and receives RTP of the demo camera within
 * 12 s. The per-source cap refuses a connection over it at once, counted,
 * while another source is still admitted.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { RtspService } from '../../../rtp-proxy/media/rtsp/rtsp-service.js';
import { validateConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { waitFor } from '../../helpers/process.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { sleep } from '../../helpers/udp.js';

const log = createLogger('proxy', 'silent');
const MAX_CONNECTIONS = 1024;
const MAX_PER_SOURCE = 64;
const HEAD_TIMEOUT_MS = 3000;
const IDLE_SOCKETS = 1100;
/** 127.0.0.1 and 127.0.0.3-20: 19 sources, 58 idle sockets each, under the per-source cap. */
const IDLE_SOURCES = ['127.0.0.1', ...Array.from({ length: 18 }, (_, i) => `127.0.0.${i + 3}`)];
const VIEWER_SOURCE = '127.0.0.2';
/** Issue 14: the legitimate viewer must be watching within this. */
const VIEWER_DEADLINE_MS = 12_000;

/** A socket that never sends a byte, with when it connected and when the server closed it. */
interface IdleSocket {
  readonly socket: Socket;
  readonly connectedMs: number;
  closedMs: number | undefined;
}

function openIdle(port: number, localAddress: string): Promise<IdleSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    socket.on('error', () => undefined);
    socket.once('error', reject);
    socket.once('connect', () => {
      const idle: IdleSocket = { socket, connectedMs: performance.now(), closedMs: undefined };
      socket.once('close', () => {
        idle.closedMs = performance.now();
      });
      socket.resume();
      resolve(idle);
    });
  });
}

describe('RTSP listener: no lock-out by idle sockets', { timeout: 60_000 }, () => {
  const registry = new Registry();
  const rtsp = new RtspService(log);
  const opened: Socket[] = [];
  const clients: RtspTestClient[] = [];
  let port = 0;

  const refusals = async (reason: string): Promise<number> => {
    const metric = registry.getSingleMetric('streammesh_listener_refused_connections_total');
    const values = (await metric?.get())?.values ?? [];
    return (
      values.find((v) => v.labels['listener'] === 'rtsp' && v.labels['reason'] === reason)?.value ??
      0
    );
  };

  before(async () => {
    rtsp.countConnectionsIn(registry);
    await rtsp.apply(
      validateConfig(
        {
          proxy: {
            rtsp: {
              listen: '127.0.0.1:0',
              demo: true,
              maxConnections: MAX_CONNECTIONS,
              maxConnectionsPerSource: MAX_PER_SOURCE,
              headTimeoutMs: HEAD_TIMEOUT_MS,
            },
          },
        },
        'test',
      ),
    );
    const address = rtsp.address;
    assert.ok(address !== null);
    port = Number(address.slice(address.lastIndexOf(':') + 1));
  });

  after(async () => {
    for (const socket of opened) socket.destroy();
    for (const client of clients) client.close();
    await rtsp.close();
  });

  it('refuses idle sockets over the total, cuts the rest at the head timeout, and a viewer gets in', async () => {
    const idle: IdleSocket[] = [];
    // In batches, so that the listen backlog never overflows (a dropped SYN is retried a second later).
    for (let first = 0; first < IDLE_SOCKETS; first += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, IDLE_SOCKETS - first) }, (_, i) =>
          openIdle(port, IDLE_SOURCES[(first + i) % IDLE_SOURCES.length] ?? '127.0.0.1'),
        ),
      );
      for (const socket of batch) opened.push(socket.socket);
      idle.push(...batch);
    }
    await waitFor(
      () =>
        rtsp.snapshot().refusedConnections >= IDLE_SOCKETS - MAX_CONNECTIONS ? true : undefined,
      5000,
    );
    assert.equal(rtsp.snapshot().connections, MAX_CONNECTIONS, 'the idle sockets fill the total');
    assert.equal(await refusals('max_connections'), IDLE_SOCKETS - MAX_CONNECTIONS);
    assert.equal(await refusals('max_per_source'), 0, 'no source is over its cap');

    // The viewer, from a source of its own, tries until it is served.
    const started = performance.now();
    let refusedAttempts = 0;
    let viewer: RtspTestClient | undefined;
    let describeStatus: number | undefined;
    while (performance.now() - started < VIEWER_DEADLINE_MS) {
      const attempt = await RtspTestClient.connect(port, '127.0.0.1', VIEWER_SOURCE);
      clients.push(attempt);
      describeStatus = (await attempt.request('DESCRIBE', `rtsp://127.0.0.1:${port}/demo`))?.status;
      if (describeStatus !== undefined) {
        viewer = attempt;
        break;
      }
      refusedAttempts += 1;
      await sleep(100);
    }
    assert.ok(viewer !== undefined, `no DESCRIBE answered within ${VIEWER_DEADLINE_MS} ms`);
    assert.equal(describeStatus, 200);
    assert.ok(
      refusedAttempts >= 1,
      'the viewer was refused while the idle sockets held every slot',
    );
    const url = `rtsp://127.0.0.1:${port}/demo`;
    const setup = await viewer.request('SETUP', `${url}/trackID=0`, {
      Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
    });
    assert.equal(setup?.status, 200);
    const session = setup.headers.get('Session')?.split(';')[0] ?? '';
    assert.equal((await viewer.request('PLAY', url, { Session: session }))?.status, 200);
    const left = VIEWER_DEADLINE_MS - (performance.now() - started);
    const watching = viewer;
    await waitFor(
      () => (watching.frames.some((f) => f.channel === 0) ? true : undefined),
      Math.max(left, 1),
    );
    const watchingAfterMs = performance.now() - started;
    assert.ok(watchingAfterMs < VIEWER_DEADLINE_MS, `RTP after ${Math.round(watchingAfterMs)} ms`);

    // Every admitted idle socket was cut at the head timeout, none long after it.
    await waitFor(() => (idle.every((s) => s.closedMs !== undefined) ? true : undefined), 5000);
    const lifetimes = idle.map((s) => (s.closedMs ?? Infinity) - s.connectedMs);
    const cut = lifetimes.filter((ms) => ms >= HEAD_TIMEOUT_MS / 2);
    const refusedAtOnce = lifetimes.filter((ms) => ms < HEAD_TIMEOUT_MS / 2);
    assert.equal(cut.length, MAX_CONNECTIONS);
    assert.equal(refusedAtOnce.length, IDLE_SOCKETS - MAX_CONNECTIONS);
    assert.ok(Math.min(...cut) >= HEAD_TIMEOUT_MS - 50, `cut after ${Math.min(...cut)} ms`);
    assert.ok(Math.max(...cut) <= HEAD_TIMEOUT_MS + 1500, `cut after ${Math.max(...cut)} ms`);
    assert.ok(Math.max(...refusedAtOnce) < 500, `refused after ${Math.max(...refusedAtOnce)} ms`);
    assert.equal(await refusals('head_timeout'), MAX_CONNECTIONS, 'the viewer met its deadline');
    assert.equal(
      await refusals('max_connections'),
      IDLE_SOCKETS - MAX_CONNECTIONS + refusedAttempts,
    );
    assert.equal(
      rtsp.snapshot().refusedConnections,
      IDLE_SOCKETS - MAX_CONNECTIONS + refusedAttempts,
    );
    console.log(
      `viewer watching after ${Math.round(watchingAfterMs)} ms (${refusedAttempts} refused attempts); ` +
        `idle sockets cut after ${Math.round(Math.min(...cut))}-${Math.round(Math.max(...cut))} ms`,
    );
    viewer.close();
  });

  it('refuses a connection over the per-source cap at once, and counts it', async () => {
    const before = await refusals('max_per_source');
    const source = '127.0.0.21';
    const held = await Promise.all(
      Array.from({ length: MAX_PER_SOURCE }, () => openIdle(port, source)),
    );
    for (const socket of held) opened.push(socket.socket);
    const over = await openIdle(port, source);
    opened.push(over.socket);
    const other = await openIdle(port, '127.0.0.22');
    opened.push(other.socket);
    await waitFor(() => (over.closedMs !== undefined ? true : undefined), 1000);
    const refusedAfterMs = (over.closedMs ?? Infinity) - over.connectedMs;
    assert.ok(refusedAfterMs < 500, `refused after ${refusedAfterMs} ms`);
    assert.equal(await refusals('max_per_source'), before + 1);
    await sleep(300);
    assert.equal(other.closedMs, undefined, 'another source is still admitted');
    assert.equal(held.filter((s) => s.closedMs !== undefined).length, 0, 'the cap admits its own');
    for (const socket of [...held, over, other]) socket.socket.destroy();
  });
});
