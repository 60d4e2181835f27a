/**
 * Headless Chromium as a WebRTC peer: it captures the fake camera, sends it
 * over RTCPeerConnections (in one page, then between two pages with the test
 * relaying the signaling) and decodes it, over 127.0.0.1 only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'puppeteer-core';
import {
  closeAllChromium,
  launchChromium,
  requireChromium,
  type ChromiumPeer,
} from '../../helpers/peers/chromium.js';

after(closeAllChromium);

/** What one peer connection's getStats() says, reduced to what the tests check. */
interface PeerStats {
  /** inbound-rtp video: 0 when nothing was decoded (or nothing is received). */
  readonly framesDecoded: number;
  readonly frameWidth: number;
  /** Codec of inbound-rtp video, and of outbound-rtp video ('' when none). */
  readonly inboundMimeType: string;
  readonly outboundMimeType: string;
  /** The selected candidate pair's addresses ('' while none is selected). */
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly connectionState: string;
}

/**
 * The page's functions (PAGE_SCRIPT), called as globals in page.evaluate
 * callbacks: those run in the page, so they can use nothing from this module.
 * The page's code is a string because the project's TypeScript has no DOM types.
 */
interface PageApi {
  startLoopback(): Promise<void>;
  startPeer(role: 'sender' | 'receiver'): Promise<void>;
  onSignal(text: string): Promise<void>;
  peerStats(name: 'sender' | 'receiver'): Promise<PeerStats>;
}

const PAGE_SCRIPT = String.raw`
const camera = () =>
  navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });

const gathered = (pc) =>
  new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
  });

// Both ends in this page; descriptions carry all candidates (no trickle).
window.startLoopback = async () => {
  const stream = await camera();
  const sender = (window.sender = new RTCPeerConnection());
  const receiver = (window.receiver = new RTCPeerConnection());
  for (const track of stream.getTracks()) sender.addTrack(track, stream);
  await sender.setLocalDescription();
  await gathered(sender);
  await receiver.setRemoteDescription(sender.localDescription);
  await receiver.setLocalDescription();
  await gathered(receiver);
  await sender.setRemoteDescription(receiver.localDescription);
};

// One end per page; window.sendSignal (exposed by the test) carries
// descriptions and trickled candidates to the other page's onSignal.
let pc;
const early = [];
const signal = (message) => window.sendSignal(JSON.stringify(message));
window.startPeer = async (role) => {
  pc = window[role] = new RTCPeerConnection();
  pc.addEventListener('icecandidate', (event) => {
    if (event.candidate) signal({ candidate: event.candidate.toJSON() });
  });
  if (role === 'sender') {
    const stream = await camera();
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    await pc.setLocalDescription();
    signal({ description: pc.localDescription.toJSON() });
  }
};
window.onSignal = async (text) => {
  const message = JSON.parse(text);
  if (message.description) {
    await pc.setRemoteDescription(message.description);
    for (const candidate of early.splice(0)) await pc.addIceCandidate(candidate);
    if (message.description.type === 'offer') {
      await pc.setLocalDescription();
      signal({ description: pc.localDescription.toJSON() });
    }
  } else if (pc.remoteDescription) {
    await pc.addIceCandidate(message.candidate);
  } else {
    early.push(message.candidate);
  }
};

window.peerStats = async (name) => {
  const peer = window[name];
  const byId = new Map();
  (await peer.getStats()).forEach((stat) => byId.set(stat.id, stat));
  const result = {
    framesDecoded: 0, frameWidth: 0, inboundMimeType: '', outboundMimeType: '',
    localAddress: '', remoteAddress: '', connectionState: peer.connectionState,
  };
  for (const stat of byId.values()) {
    if (stat.type === 'inbound-rtp' && stat.kind === 'video') {
      result.framesDecoded = stat.framesDecoded ?? 0;
      result.frameWidth = stat.frameWidth ?? 0;
      result.inboundMimeType = byId.get(stat.codecId)?.mimeType ?? '';
    }
    if (stat.type === 'outbound-rtp' && stat.kind === 'video') {
      result.outboundMimeType = byId.get(stat.codecId)?.mimeType ?? '';
    }
    if (stat.type === 'transport' && stat.selectedCandidatePairId) {
      const pair = byId.get(stat.selectedCandidatePairId);
      result.localAddress = byId.get(pair?.localCandidateId)?.address ?? '';
      result.remoteAddress = byId.get(pair?.remoteCandidateId)?.address ?? '';
    }
  }
  return result;
};
`;

const PAGE_HTML = `<!doctype html><title>webrtc peer</title><script>${PAGE_SCRIPT}</script>`;

function peerStats(page: Page, name: 'sender' | 'receiver'): Promise<PeerStats> {
  return page.evaluate((n) => (globalThis as unknown as PageApi).peerStats(n), name);
}

/** Polls the receiver's stats in `page` until it has decoded frames or `timeoutMs` passes. */
async function waitForDecodedFrames(page: Page, timeoutMs: number): Promise<PeerStats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await peerStats(page, 'receiver');
    // A stats report can count a decoded frame before it carries the frame's
    // width (seen once in a full run: framesDecoded > 0, frameWidth absent).
    const decoded = stats.framesDecoded > 0 && stats.frameWidth > 0;
    if (decoded || Date.now() > deadline) return stats;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const VIDEO_CODEC = /^video\/(VP8|VP9|H264|AV1)$/;

describe('headless Chromium as a WebRTC peer', { timeout: 60_000 }, () => {
  let chromium: ChromiumPeer;

  before(async () => {
    requireChromium();
    chromium = await launchChromium({ timeoutMs: 60_000 });
  });

  it('sends its fake camera over a loopback pair of peer connections in one page', async () => {
    const page = await chromium.newPage(PAGE_HTML);
    await page.evaluate(() => (globalThis as unknown as PageApi).startLoopback());

    const received = await waitForDecodedFrames(page, 15_000);
    const sent = await peerStats(page, 'sender');
    assert.ok(received.framesDecoded > 0, `no frame decoded: ${JSON.stringify(received)}`);
    assert.equal(received.frameWidth, 320);
    assert.match(received.inboundMimeType, VIDEO_CODEC);
    assert.equal(sent.outboundMimeType, received.inboundMimeType);
    await page.close();
  });

  it('connects two pages through 127.0.0.1 candidates only, the test relaying signaling', async () => {
    const sender = await chromium.newPage(PAGE_HTML);
    const receiver = await chromium.newPage(PAGE_HTML);
    const dropped: string[] = [];
    let relayed = 0;
    // Each direction in order: a candidate must not overtake its description.
    const relay = (to: Page): ((text: string) => Promise<void>) => {
      let chain = Promise.resolve();
      return (text) => {
        const message = JSON.parse(text) as { candidate?: { candidate?: string } };
        const candidate = message.candidate?.candidate;
        if (candidate !== undefined && !candidate.includes(' 127.0.0.1 ')) {
          dropped.push(candidate);
          return Promise.resolve();
        }
        relayed++;
        chain = chain.then(() =>
          to.evaluate((t) => (globalThis as unknown as PageApi).onSignal(t), text),
        );
        return chain;
      };
    };
    await sender.exposeFunction('sendSignal', relay(receiver));
    await receiver.exposeFunction('sendSignal', relay(sender));
    await receiver.evaluate(() => (globalThis as unknown as PageApi).startPeer('receiver'));
    await sender.evaluate(() => (globalThis as unknown as PageApi).startPeer('sender'));

    const received = await waitForDecodedFrames(receiver, 15_000);
    const sent = await peerStats(sender, 'sender');
    assert.ok(received.framesDecoded > 0, `no frame decoded: ${JSON.stringify(received)}`);
    assert.match(received.inboundMimeType, VIDEO_CODEC);
    assert.equal(sent.outboundMimeType, received.inboundMimeType);
    // Only 127.0.0.1 candidates crossed (both ends offered others too).
    assert.ok(relayed >= 4, `relayed ${relayed} messages`);
    assert.ok(dropped.length > 0);
    // Each end's selected pair uses the other's 127.0.0.1 candidate. Chrome
    // still pairs its own non-loopback host candidates (here 192.0.2.2) with
    // a remote 127.0.0.1 and may prefer them (loopback has network-cost 50),
    // so one end of the pair can be such an address (prflx, shown as '' on
    // the other side); the packets stay on lo all the same.
    for (const stats of [received, sent]) {
      assert.ok(
        stats.localAddress === '127.0.0.1' || stats.remoteAddress === '127.0.0.1',
        JSON.stringify(stats),
      );
    }
    await Promise.all([sender.close(), receiver.close()]);
  });
});
