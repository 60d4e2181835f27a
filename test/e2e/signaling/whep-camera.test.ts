/**
 * End to end through `streammesh up`: headless Chromium pages watch a
 * GStreamer RTSP camera behind the RTSP proxy with one WHEP request each
 * (`POST /whep/<path>` on the signaling listener, recvonly video) and decode
 * its frames; three pages are one RTSP session at the proxy; after the last
 * DELETE the session is torn down once lingerMs has passed. The demo camera
 * plays at /whep/demo with no camera settings at all (the signaling node
 * finds the proxy from proxy.rtsp.listen).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'puppeteer-core';
import { at } from '../../helpers/defined.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { meshUp, type MeshUp } from '../../helpers/mesh-up.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import {
  closeAllChromium,
  launchChromium,
  type ChromiumPeer,
} from '../../helpers/peers/chromium.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import { startRtspCamera, type RtspCamera } from '../../helpers/peers/rtsp-camera.js';
import type { RtspView } from '../../helpers/rtsp-mesh.js';

const LINGER_MS = 1000;
const PAGES = 3;

after(async () => {
  await closeAllChromium();
  await stopAllPeers();
});

interface WhepStart {
  readonly status: number;
  readonly location: string | null;
  readonly body: string;
}

interface Decoding {
  readonly framesDecoded: number;
  readonly codec: string;
  readonly connectionState: string;
}

/**
 * The page's side, as text (the project's TypeScript has no DOM types). Its
 * origin is the signaling listener, so the WHEP POST is same-origin: a
 * recvonly video offer POSTed to the URL, the answer applied.
 */
const PAGE_SCRIPT = String.raw`
window.startWhep = async (target) => {
  const pc = (window.pc = new RTCPeerConnection());
  pc.addTransceiver('video', { direction: 'recvonly' });
  await pc.setLocalDescription();
  const response = await fetch(target, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp' },
    body: pc.localDescription.sdp,
  });
  const body = await response.text();
  if (response.status === 201) await pc.setRemoteDescription({ type: 'answer', sdp: body });
  return { status: response.status, location: response.headers.get('Location'), body };
};

window.decoding = async () => {
  const stats = [...(await window.pc.getStats()).values()];
  const inbound = stats.find((entry) => entry.type === 'inbound-rtp' && entry.kind === 'video');
  const codec = stats.find((entry) => entry.id === inbound?.codecId);
  return {
    framesDecoded: inbound?.framesDecoded ?? 0,
    codec: codec?.mimeType ?? '',
    connectionState: window.pc.connectionState,
  };
};
`;

interface PageApi {
  startWhep(url: string): Promise<WhepStart>;
  decoding(): Promise<Decoding>;
}

async function startWhep(page: Page, url: string): Promise<WhepStart> {
  return page.evaluate((target) => (globalThis as unknown as PageApi).startWhep(target), url);
}

async function decoding(page: Page): Promise<Decoding> {
  return page.evaluate(() => (globalThis as unknown as PageApi).decoding());
}

async function waitForFrames(page: Page, frames: number, what: string): Promise<Decoding> {
  let last: Decoding | undefined;
  return waitFor(
    async () => {
      last = await decoding(page);
      return last.framesDecoded >= frames ? last : undefined;
    },
    20_000,
    () => `${what}: ${frames} decoded frames, last stats ${JSON.stringify(last)}`,
  );
}

describe('WHEP viewers of RTSP proxy cameras through streammesh up', { timeout: 180_000 }, () => {
  let camera: RtspCamera;
  let mesh: MeshUp;
  let chromium: ChromiumPeer;
  let signaling: string;

  const proxySessions = async (path: string): Promise<number> =>
    (await mesh.streams<{ rtsp: RtspView }>()).rtsp.sessions.filter(
      (session) => session.path === path,
    ).length;

  /** A tab on the signaling listener's origin (any page of it; a 404 one will do). */
  const openTab = async (): Promise<Page> => {
    const page = await chromium.newPage();
    await page.goto(`${signaling}/whep-camera-test`);
    await page.evaluate(PAGE_SCRIPT);
    return page;
  };

  before(async () => {
    const cameraPort = await freePort();
    camera = await startRtspCamera({ port: cameraPort, path: 'test' });
    // The signaling node reaches the proxy at proxy.rtsp.listen, so that
    // listener gets a fixed port rather than 0.
    const rtspListen = `127.0.0.1:${await freePort()}`;
    const config = [
      'logLevel: info',
      'controlPlane: { admin: 127.0.0.1:0, grpc: 127.0.0.1:0, heartbeatIntervalMs: 200 }',
      'proxy:',
      '  admin: 127.0.0.1:0',
      '  rtsp:',
      `    listen: ${rtspListen}`,
      '    paths:',
      `      cam1: { source: "rtsp://127.0.0.1:${cameraPort}/test", lingerMs: 1000 }`,
      'signaling:',
      '  admin: 127.0.0.1:0',
      '  listen: 127.0.0.1:0',
      '  rtcListenIp: 127.0.0.1',
      `  cameras: { lingerMs: ${LINGER_MS} }`,
      '',
    ].join('\n');
    mesh = await meshUp(writeTempConfig(config), { STREAMMESH_PROXY_RTSP_LISTEN: rtspListen });
    const printed = await mesh.up.waitForOutput(/^\s+demo page\s+(http:\/\/\S+?)\/?$/m, 20_000);
    signaling = at(printed, 1);
    chromium = await launchChromium({ timeoutMs: 150_000 });
  });

  after(async () => {
    await chromium.close();
    await mesh.stop();
  });

  it(`decodes the camera in ${PAGES} pages over one RTSP session, torn down after the last DELETE and lingerMs`, async () => {
    const sessionsBefore = camera.sessions();
    const pages = await Promise.all(Array.from({ length: PAGES }, openTab));
    const started = await Promise.all(pages.map(async (page) => startWhep(page, '/whep/cam1')));
    for (const whep of started) {
      assert.equal(whep.status, 201, whep.body);
      assert.ok(whep.location !== null, 'a Location for the session');
    }
    for (const [index, page] of pages.entries()) {
      const stats = await waitForFrames(page, 10, `page ${index}`);
      assert.equal(stats.codec, 'video/H264');
    }
    assert.equal(await proxySessions('cam1'), 1, 'one RTSP session at the proxy');
    assert.equal(camera.sessions() - sessionsBefore, 1, 'one RTSP session at the camera');

    for (const whep of started) {
      const response = await fetch(new URL(whep.location ?? '', signaling), { method: 'DELETE' });
      assert.ok(response.ok, `DELETE ${whep.location}: ${response.status}`);
    }
    const deleted = Date.now();
    await waitFor(
      async () => ((await proxySessions('cam1')) === 0 ? true : undefined),
      LINGER_MS + 5_000,
      () => 'the RTSP session to the proxy to end after lingerMs',
    );
    assert.ok(Date.now() - deleted >= LINGER_MS - 100, 'kept for lingerMs');
    await Promise.all(pages.map(async (page) => page.close()));
  });

  it('plays the demo camera at /whep/demo with no camera settings', async () => {
    const page = await openTab();
    const whep = await startWhep(page, '/whep/demo');
    assert.equal(whep.status, 201, whep.body);
    const stats = await waitForFrames(page, 10, '/whep/demo');
    assert.equal(stats.codec, 'video/H264');
    await fetch(new URL(whep.location ?? '', signaling), { method: 'DELETE' });
    await page.close();
  });

  it('answers 404 for a camera path the proxy does not serve', async () => {
    const page = await openTab();
    const whep = await startWhep(page, '/whep/no-such-camera');
    assert.equal(whep.status, 404, whep.body);
    await page.close();
  });
});
