/**
 * Edge tokens at the signaling edges, with real peers: a control plane with
 * its mesh CA mints tokens (POST /tokens); a SignalingServer whose WHIP/WHEP
 * routes and /ws check them against the control plane's trust bundle (as
 * signaling.requireToken does). A werift WHIP publisher with a publisher
 * token reaches a werift WHEP viewer with a viewer token (`?jwt=`); WHEP
 * without a token, with a forged one or one of another room gets 401/403
 * and no session, counted by reason; a viewer's token cannot WHIP. A /ws
 * upgrade without a token is refused 401 before upgrading; with a token of
 * another room the join is refused `forbidden` and no media is announced;
 * with the room's token the peer joins and is told of the publisher's video,
 * but may not produce. Chromium, on another origin, plays WHEP with its
 * token as Authorization: Bearer (through the CORS preflight); another
 * room's token is 403.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Page } from 'puppeteer-core';
import { formatHostPort } from '../../../src/shared/address.js';
import { EdgeTokenGate, type MintRequest } from '../../../src/shared/edge-token/index.js';
import { SignalingServer } from '../../../signaling/server/index.js';
import { WorkerPool } from '../../../signaling/sfu/index.js';
import { whipWhepRoutes } from '../../../signaling/whip-whep/index.js';
import { startSecurePlane, TRUST_DOMAIN, type SecurePlane } from '../control-plane/mtls-harness.js';
import { postToken } from '../../helpers/edge-token.js';
import { closeAllChromium, launchChromium, LOCAL_ORIGIN } from '../../helpers/peers/chromium.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import { postSdp, request, WhepViewer, WhipPublisher } from '../../helpers/peers/werift-whip.js';
import { metricValue, SignalingClient, upgradeStatus } from '../../helpers/signaling-client.js';

const log = pino({ level: 'silent' });
/** An SDP offer is not even read before the token is checked: any text will do. */
const OFFER = 'v=0\r\n';

describe('edge tokens at WHIP/WHEP and WebSocket rooms', { timeout: 120_000 }, () => {
  let secure: SecurePlane;
  let adminToken: string;
  let pool: WorkerPool;
  let server: SignalingServer;
  let base: string;
  const registry = new Registry();
  const clients: { close(): Promise<unknown> }[] = [];

  const tokenFor = (request: MintRequest): Promise<string> =>
    postToken(secure.adminUrl, adminToken, request);
  const refused = async (endpoint: string, reason: string): Promise<number> => {
    const value = await metricValue(
      registry,
      'streammesh_signaling_whip_whep_refused_total',
      `{endpoint="${endpoint}",reason="${reason}"}`,
    );
    return Number.isNaN(value) ? 0 : value;
  };
  const track = <T extends { close(): Promise<unknown> }>(client: T): T => {
    clients.push(client);
    return client;
  };

  before(async () => {
    secure = await startSecurePlane();
    adminToken = readFileSync(join(secure.dir, 'state', 'admin-token'), 'utf8').trim();
    const edgeTokens = new EdgeTokenGate({
      trustBundle: () => secure.bundle,
      trustDomain: TRUST_DOMAIN,
    });
    pool = await WorkerPool.create({ size: 1, rtcMinPort: 46100, rtcMaxPort: 46399, log });
    server = await SignalingServer.start({
      listen: { host: '127.0.0.1', port: 0 },
      pool,
      maxPeersPerRoom: 8,
      rtc: { listenIp: '127.0.0.1' },
      peerLimits: { transports: 4, producers: 4, consumers: 10, incomingBitrate: 5_000_000 },
      log,
      metrics: registry,
      edgeTokens,
      routes: (rooms) =>
        whipWhepRoutes({
          rooms,
          pool,
          rtc: { listenIp: '127.0.0.1' },
          log,
          metrics: registry,
          edgeTokens,
        }),
    });
    base = `http://${formatHostPort(server.address)}`;
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    await closeAllChromium();
    await stopAllPeers();
    await server.close();
    await pool.close();
    await secure.close();
  });

  it('WHIP needs a publisher token of the room; a valid WHEP token plays, others get 401/403', async () => {
    const viewerToken = await tokenFor({ role: 'viewer', rooms: ['stage'] });
    const publisherToken = await tokenFor({ role: 'publisher', rooms: ['stage'] });

    const noToken = await postSdp(`${base}/whip/stage`, OFFER);
    assert.equal(noToken.status, 401, noToken.body);
    assert.match(noToken.headers.get('www-authenticate') ?? '', /^Bearer /);
    assert.match(noToken.body, /missing/);
    const asViewer = await postSdp(`${base}/whip/stage?jwt=${viewerToken}`, OFFER);
    assert.equal(asViewer.status, 403, asViewer.body);
    assert.equal(await refused('whip', 'jwt_wrong_role'), 1);

    const publisher = track(
      await WhipPublisher.publish(`${base}/whip/stage?jwt=${publisherToken}`, { codec: 'VP8' }),
    );
    await publisher.connected();
    const viewer = track(await WhepViewer.watch(`${base}/whep/rooms/stage?jwt=${viewerToken}`));
    await viewer.connected();
    await viewer.waitFor((got) => got.video.packets > 30, 'video at the WHEP viewer');

    const otherRoom = await tokenFor({ role: 'viewer', rooms: ['backstage'] });
    const [header = '', claims = '', signature = ''] = viewerToken.split('.');
    const widened = Buffer.from(
      JSON.stringify({
        ...(JSON.parse(Buffer.from(claims, 'base64url').toString()) as object),
        rooms: ['*'],
      }),
    ).toString('base64url');
    const cases = [
      { name: 'no token', query: '', status: 401, reason: 'jwt_missing' },
      {
        name: 'forged',
        query: `?jwt=${header}.${widened}.${signature}`,
        status: 401,
        reason: 'jwt_bad_signature',
      },
      { name: 'another room', query: `?jwt=${otherRoom}`, status: 403, reason: 'jwt_wrong_scope' },
    ];
    for (const { name, query, status, reason } of cases) {
      const before = await refused('whep', reason);
      const answer = await postSdp(`${base}/whep/rooms/stage${query}`, OFFER);
      assert.equal(answer.status, status, `${name}: ${answer.body}`);
      assert.equal(answer.headers.get('location'), null, `${name}: no session`);
      assert.equal(await refused('whep', reason), before + 1, `${name} counted as ${reason}`);
    }
    // As Authorization: Bearer: past the token check (the offer itself is then refused).
    const bearer = await request(`${base}/whep/rooms/stage`, 'POST', OFFER, {
      'content-type': 'application/sdp',
      authorization: `Bearer ${viewerToken}`,
    });
    assert.equal(bearer.status, 400, bearer.body);
    // A camera path needs a paths token: a rooms token of the same name does not open it.
    const camera = await postSdp(`${base}/whep/stage?jwt=${viewerToken}`, OFFER);
    assert.equal(camera.status, 403, camera.body);
  });

  it("a /ws upgrade needs a token; a token of another room cannot join, the room's joins and is told of the video but may not produce", async () => {
    const ws = `${base.replace('http', 'ws')}/ws`;
    assert.equal(await upgradeStatus(ws), 401);
    assert.equal(await upgradeStatus(`${ws}?access_token=a.b.c`), 401);
    const refusedUpgrades = await metricValue(
      registry,
      'streammesh_signaling_websocket_token_refused_total',
      '{reason="missing"}',
    );
    assert.equal(refusedUpgrades, 1);

    const publisherToken = await tokenFor({ role: 'publisher', rooms: ['hall'] });
    const publisher = track(
      await WhipPublisher.publish(`${base}/whip/hall?jwt=${publisherToken}`, { codec: 'VP8' }),
    );
    await publisher.connected();

    const outsider = track(
      await SignalingClient.open(
        `${ws}?access_token=${await tokenFor({ role: 'viewer', rooms: ['lobby'] })}`,
      ),
    );
    const denied = await outsider.request('join', { room: 'hall', peer: 'outsider' });
    assert.equal(denied.ok, false);
    assert.equal(denied.error?.code, 'forbidden');
    const notJoined = await outsider.request('getRouterRtpCapabilities');
    assert.equal(notJoined.error?.code, 'not_joined', 'no media without a join');
    await assert.rejects(outsider.event('newProducer'), /timed out/);

    const member = track(
      await SignalingClient.open(
        `${ws}?access_token=${await tokenFor({ role: 'viewer', rooms: ['hall'] })}`,
      ),
    );
    const joined = await member.request('join', { room: 'hall', peer: 'member' });
    assert.equal(joined.ok, true, JSON.stringify(joined.error));
    const producers = joined.data?.['producers'];
    assert.ok(Array.isArray(producers) && producers.length === 1, JSON.stringify(joined.data));
    // A viewer's token may not produce.
    const transport = await member.request('createTransport', { direction: 'send' });
    assert.equal(transport.ok, true);
    const produced = await member.request('produce', {
      transportId: String(transport.data?.['id']),
      kind: 'video',
      rtpParameters: {},
    });
    assert.equal(produced.error?.code, 'forbidden');
  });
  it('Chromium plays WHEP from another origin with a Bearer token (CORS preflight passes); another room is 403', async () => {
    const publisherToken = await tokenFor({ role: 'publisher', rooms: ['browser'] });
    const publisher = track(
      await WhipPublisher.publish(`${base}/whip/browser?jwt=${publisherToken}`, { codec: 'VP8' }),
    );
    await publisher.connected();
    // As in whip-whep.test.ts: the intercepted page origin counts as public, and
    // Local Network Access would ask a user before letting it reach 127.0.0.1.
    const chromium = await launchChromium({
      timeoutMs: 60_000,
      extraArgs: ['--disable-features=LocalNetworkAccessChecks'],
    });
    const page = await chromium.newPage();
    await servePage(page, base);
    const url = `${base}/whep/rooms/browser`;
    const wrongRoom = await tokenFor({ role: 'viewer', rooms: ['elsewhere'] });
    const refusedAnswer = await page.evaluate(
      (whep, token) => (globalThis as unknown as PageApi).watch(whep, token),
      url,
      wrongRoom,
    );
    assert.match(refusedAnswer, /^403 /);
    const viewerToken = await tokenFor({ role: 'viewer', rooms: ['browser'] });
    const answer = await page.evaluate(
      (whep, token) => (globalThis as unknown as PageApi).watch(whep, token),
      url,
      viewerToken,
    );
    assert.match(answer, /^201 /);
    let frames = 0;
    const deadline = Date.now() + 15_000;
    while (frames < 10 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      frames = await page.evaluate(() => (globalThis as unknown as PageApi).framesDecoded());
    }
    assert.ok(frames >= 10, `${frames} frames decoded`);
    await chromium.close();
  });
});

/** The page's functions (PAGE_SCRIPT), called in page.evaluate callbacks. */
interface PageApi {
  /** POSTs an offer with the token as Bearer; "<status> <Location or reason>". */
  watch(url: string, token: string): Promise<string>;
  framesDecoded(): Promise<number>;
}

/** A WHEP player as a page has it: fetch() from http://localhost with Authorization: Bearer. */
const PAGE_SCRIPT = String.raw`
let pc;
window.watch = async (url, token) => {
  pc?.close();
  pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  await pc.setLocalDescription();
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
    setTimeout(resolve, 3000);
  });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', authorization: 'Bearer ' + token },
    body: pc.localDescription.sdp,
  });
  const body = await response.text();
  if (response.status !== 201) return response.status + ' ' + body;
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  return response.status + ' ' + response.headers.get('location');
};
window.framesDecoded = async () => {
  let frames = 0;
  (await pc.getStats()).forEach((entry) => {
    if (entry.type === 'inbound-rtp' && entry.kind === 'video') frames = entry.framesDecoded || 0;
  });
  return frames;
};
`;

/** Serves PAGE_SCRIPT at LOCAL_ORIGIN and lets the page reach the signaling node only. */
async function servePage(page: Page, signaling: string): Promise<void> {
  await page.setRequestInterception(true);
  page.on('request', (intercepted) => {
    if (intercepted.isInterceptResolutionHandled()) return;
    if (intercepted.url() === LOCAL_ORIGIN) {
      void intercepted.respond({
        status: 200,
        contentType: 'text/html',
        body: `<!doctype html><script>${PAGE_SCRIPT}</script>`,
      });
    } else if (intercepted.url().startsWith(signaling)) {
      void intercepted.continue();
    } else {
      void intercepted.abort('blockedbyclient');
    }
  });
  await page.goto(LOCAL_ORIGIN);
}
