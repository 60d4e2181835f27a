/**
 * Issue 17, point 7, on the RTSP proxy, over real TCP from two source
 * addresses (127.0.0.1 and 127.0.0.2):
 *
 * - requests per source: a source over its rate gets 503 with Retry-After on
 *   the same connection, which stays open; the other source is served; each
 *   refusal is counted in streammesh_rate_limited_requests_total{rtsp};
 * - sessions per source: a SETUP over maxSessionsPerSource gets 453 and is
 *   counted; the other source sets up; a slot is freed by TEARDOWN, by the
 *   close of a TCP session's connection and by a UDP session's timeout, so
 *   none leaks;
 * - streams per node (proxy.maxStreams): a viewer of a second camera is
 *   refused 453 and counted in streammesh_proxy_streams_refused_total while
 *   the stream carried keeps flowing and takes another viewer; once it ends
 *   its slot serves the second camera.
 *
 * The cameras are a second RtspService serving its demo clip.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { registerRtspMetrics } from '../../../rtp-proxy/media/metrics/index.js';
import { RtspService } from '../../../rtp-proxy/media/rtsp/rtsp-service.js';
import { validateConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { waitFor } from '../../helpers/process.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { metricValue } from '../../helpers/signaling-client.js';

const log = createLogger('proxy', 'silent');
const FLOODER = '127.0.0.1';
const OTHER = '127.0.0.2';
const TCP = 'RTP/AVP/TCP;unicast;interleaved=0-1';

function portOf(address: string | null): number {
  assert.ok(address !== null, 'RTSP listening');
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** An RtspService with these proxy settings (proxy.rtsp merged with a listener on port 0). */
async function startRtsp(
  registry: Registry | undefined,
  proxy: Record<string, unknown>,
): Promise<{ rtsp: RtspService; port: number }> {
  const rtsp = new RtspService(log);
  if (registry !== undefined) registerRtspMetrics(registry, rtsp);
  const { rtsp: settings, ...rest } = proxy;
  await rtsp.apply(
    validateConfig(
      {
        proxy: {
          ...rest,
          rtsp: { listen: '127.0.0.1:0', ...(settings as Record<string, unknown>) },
        },
      },
      'test',
    ),
  );
  return { rtsp, port: portOf(rtsp.address) };
}

describe('RTSP: requests per source', () => {
  const registry = new Registry();
  const BURST = 5;
  const clients: RtspTestClient[] = [];
  let rtsp: RtspService;
  let port = 0;

  before(async () => {
    // 0.1/s: no token comes back during the test, so the figures are exact.
    ({ rtsp, port } = await startRtsp(registry, {
      rtsp: { demo: false, requestsPerSecondPerSource: 0.1, requestBurstPerSource: BURST },
    }));
  });

  after(async () => {
    for (const client of clients) client.close();
    await rtsp.close();
  });

  it('answers 503 with Retry-After over the rate, keeps the connection, and serves the other source', async () => {
    const flooder = await RtspTestClient.connect(port, '127.0.0.1', FLOODER);
    const second = await RtspTestClient.connect(port, '127.0.0.1', FLOODER);
    const other = await RtspTestClient.connect(port, '127.0.0.1', OTHER);
    clients.push(flooder, second, other);
    const statuses: number[] = [];
    for (let i = 0; i < BURST + 5; i += 1) {
      const response = await flooder.request('OPTIONS', '*');
      statuses.push(response?.status ?? 0);
      if (response?.status === 503) {
        assert.ok(Number(response.headers.get('Retry-After')) >= 1, 'Retry-After in seconds');
      }
    }
    assert.deepEqual(statuses, [
      ...Array.from({ length: BURST }, () => 200),
      ...Array.from({ length: 5 }, () => 503),
    ]);
    // The rate is the source's, whatever connection it uses.
    assert.equal((await second.request('OPTIONS', '*'))?.status, 503);
    // The connections stay open and answer in order.
    assert.equal(flooder.socket.destroyed, false);
    assert.equal((await flooder.request('OPTIONS', '*'))?.status, 503);
    // The other source has its own bucket.
    for (let i = 0; i < BURST; i += 1) {
      assert.equal((await other.request('OPTIONS', '*'))?.status, 200);
    }
    const refused = statuses.filter((status) => status === 503).length + 2;
    assert.equal(rtsp.snapshot().rateLimitedRequests, refused);
    assert.equal(
      await metricValue(registry, 'streammesh_rate_limited_requests_total', '{listener="rtsp"}'),
      refused,
    );
  });
});

describe('RTSP: sessions per source', { timeout: 40_000 }, () => {
  const registry = new Registry();
  const MAX_SESSIONS = 2;
  const clients: RtspTestClient[] = [];
  let rtsp: RtspService;
  let port = 0;
  let url = '';

  const connect = async (source: string): Promise<RtspTestClient> => {
    const client = await RtspTestClient.connect(port, '127.0.0.1', source);
    clients.push(client);
    return client;
  };
  /** A SETUP of a new session on its own connection: its status, session id and connection. */
  const setup = async (
    source: string,
    transport = TCP,
  ): Promise<{ status: number; session: string; client: RtspTestClient }> => {
    const client = await connect(source);
    const response = await client.request('SETUP', `${url}/trackID=0`, { Transport: transport });
    const session = (response?.headers.get('Session') ?? '').split(';')[0] ?? '';
    return { status: response?.status ?? 0, session, client };
  };
  const heldBy = (source: string): number =>
    rtsp.snapshot().sessions.filter((s) => s.client === source).length;
  const refusals = (): Promise<number> =>
    metricValue(
      registry,
      'streammesh_proxy_rtsp_bad_input_total',
      '{reason="sessions_per_source"}',
    );
  /** Every refusal counted (a scrape reuses a snapshot for 100 ms, so wait for it). */
  const refusalsReach = (value: number): Promise<boolean> =>
    waitFor(
      async () => ((await refusals()) === value ? true : undefined),
      2_000,
      () => `sessions_per_source refusals = ${value}`,
    );

  before(async () => {
    ({ rtsp, port } = await startRtsp(registry, {
      rtsp: { demo: true, maxSessionsPerSource: MAX_SESSIONS, sessionTimeoutSec: 5 },
    }));
    url = `rtsp://127.0.0.1:${port}/demo`;
  });

  after(async () => {
    for (const client of clients) client.close();
    await rtsp.close();
  });

  it('refuses a SETUP over the limit with 453, counted; TEARDOWN, close and timeout free a slot', async () => {
    const tcp = await setup(FLOODER);
    const udp = await setup(FLOODER, 'RTP/AVP;unicast;client_port=40000-40001');
    assert.deepEqual([tcp.status, udp.status], [200, 200]);
    // The UDP session outlives its connection (RFC 2326): it still holds its slot.
    udp.client.close();
    await udp.client.closed;

    const over = await setup(FLOODER);
    assert.equal(over.status, 453);
    assert.equal(over.session, '', 'no session made');
    await refusalsReach(1);
    assert.equal(heldBy(FLOODER), MAX_SESSIONS);
    // Another source sets up meanwhile.
    const other = await setup(OTHER);
    assert.equal(other.status, 200);

    // TEARDOWN frees a slot.
    assert.equal(
      (await tcp.client.request('TEARDOWN', url, { Session: tcp.session }))?.status,
      200,
    );
    const afterTeardown = await setup(FLOODER);
    assert.equal(afterTeardown.status, 200);
    assert.equal((await setup(FLOODER)).status, 453);

    // Closing a TCP session's connection frees its slot.
    afterTeardown.client.close();
    await waitFor(() => (heldBy(FLOODER) < MAX_SESSIONS ? true : undefined), 5_000);
    const afterClose = await setup(FLOODER);
    assert.equal(afterClose.status, 200);
    assert.equal((await setup(FLOODER)).status, 453);

    // The silent UDP session times out (sessionTimeoutSec 5) and frees its slot.
    await waitFor(() => (heldBy(FLOODER) < MAX_SESSIONS ? true : undefined), 15_000);
    assert.ok(
      rtsp.snapshot().sessions.every((s) => s.session !== udp.session),
      'the UDP session timed out',
    );
    assert.equal((await setup(FLOODER)).status, 200);
    assert.equal(heldBy(FLOODER), MAX_SESSIONS);

    await refusalsReach(3);
    // The other source's session was never touched.
    assert.ok(rtsp.snapshot().sessions.some((s) => s.session === other.session));
    assert.equal(heldBy(OTHER), 1);
  });
});

describe('RTSP: streams per node (proxy.maxStreams)', { timeout: 40_000 }, () => {
  const registry = new Registry();
  const clients: RtspTestClient[] = [];
  let camera: RtspService;
  let proxy: RtspService;
  let base = '';

  const connect = async (source: string): Promise<RtspTestClient> => {
    const client = await RtspTestClient.connect(portOf(proxy.address), '127.0.0.1', source);
    clients.push(client);
    return client;
  };
  /** DESCRIBE, SETUP (TCP) and PLAY of a path; the status of the first refusal, else 200. */
  const watch = async (
    client: RtspTestClient,
    path: string,
  ): Promise<{ status: number; session: string }> => {
    const describe = await client.request('DESCRIBE', `${base}/${path}`, {
      Accept: 'application/sdp',
    });
    if (describe?.status !== 200) return { status: describe?.status ?? 0, session: '' };
    const setup = await client.request('SETUP', `${base}/${path}/trackID=0`, { Transport: TCP });
    if (setup?.status !== 200) return { status: setup?.status ?? 0, session: '' };
    const session = (setup.headers.get('Session') ?? '').split(';')[0] ?? '';
    const play = await client.request('PLAY', `${base}/${path}`, { Session: session });
    return { status: play?.status ?? 0, session };
  };
  const framesOf = (client: RtspTestClient): number =>
    client.frames.filter((frame) => frame.channel === 0).length;
  const refusedStreams = (): Promise<number> =>
    metricValue(registry, 'streammesh_proxy_streams_refused_total');
  /** The metric once it shows `value` (a scrape reuses a snapshot for 100 ms). */
  const refusedStreamsReach = (value: number): Promise<boolean> =>
    waitFor(
      async () => ((await refusedStreams()) === value ? true : undefined),
      2_000,
      () => `streammesh_proxy_streams_refused_total = ${value}`,
    );

  before(async () => {
    ({ rtsp: camera } = await startRtsp(undefined, { rtsp: { demo: true } }));
    const source = `rtsp://127.0.0.1:${portOf(camera.address)}/demo`;
    ({ rtsp: proxy } = await startRtsp(registry, {
      maxStreams: 1,
      rtsp: {
        demo: false,
        paths: {
          cam1: { source, transport: 'tcp', lingerMs: 0 },
          cam2: { source, transport: 'tcp', lingerMs: 0 },
        },
      },
    }));
    base = `rtsp://127.0.0.1:${portOf(proxy.address)}`;
  });

  after(async () => {
    for (const client of clients) client.close();
    await proxy.close();
    await camera.close();
  });

  it('refuses a viewer that needs one more stream with 453, counted; the stream carried is untouched', async () => {
    const first = await connect(FLOODER);
    assert.equal((await watch(first, 'cam1')).status, 200);
    await waitFor(() => (framesOf(first) > 0 ? true : undefined), 10_000);
    assert.equal(proxy.snapshot().streams.carried, 1);

    const refusedBefore = await refusedStreams();
    const second = await connect(OTHER);
    const describe = await second.request('DESCRIBE', `${base}/cam2`, {
      Accept: 'application/sdp',
    });
    assert.equal(describe?.status, 453);
    assert.match(describe.headers.get('X-Streammesh-Reason') ?? '', /maxStreams/);
    await refusedStreamsReach(refusedBefore + 1);
    assert.deepEqual(proxy.snapshot().streams, { carried: 1, max: 1, refused: 1 });

    // The stream carried keeps flowing, and takes another viewer (no new stream).
    const flowing = framesOf(first);
    const third = await connect(OTHER);
    assert.equal((await watch(third, 'cam1')).status, 200);
    await waitFor(() => (framesOf(first) > flowing + 10 ? true : undefined), 10_000);
    await waitFor(() => (framesOf(third) > 0 ? true : undefined), 10_000);
    assert.equal(proxy.snapshot().streams.refused, 1, 'joining a carried stream is free');
    await refusedStreamsReach(refusedBefore + 1);

    // Once cam1's viewers leave (lingerMs 0) its slot serves cam2.
    first.close();
    third.close();
    await waitFor(() => (proxy.snapshot().streams.carried === 0 ? true : undefined), 10_000);
    const fourth = await connect(OTHER);
    assert.equal((await watch(fourth, 'cam2')).status, 200);
    await waitFor(() => (framesOf(fourth) > 0 ? true : undefined), 10_000);
    assert.equal(proxy.snapshot().streams.carried, 1);
  });
});
