/**
 * Conferencing through `streammesh up`: two headless Chromium tabs on the demo
 * page exchange video through the SFU, and what the SFU measures shows up
 * where operators look — per-stream, per-peer and per-room series on the
 * signaling node's /metrics, and the node's report at the control plane's
 * /stats. The per-peer bitrate limit is shown by pushing a lower one and
 * re-joining: the SFU's bandwidth estimate holds Chrome's encoder under it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, putText } from '../../helpers/http.js';
import { ephemeralMeshConfig, writeTempConfig } from '../../helpers/mesh-config.js';
import { startStreammesh, type Running } from '../../helpers/process.js';
import { spawnPeer } from '../../helpers/peers/process.js';
import {
  closeAllChromium,
  launchChromium,
  requireChromium,
  type ChromiumPeer,
} from '../../helpers/peers/chromium.js';
import {
  DEMO_CHROMIUM_ARGS,
  clickJoin,
  inboundVideo,
  openDemoPage,
  waitForDemo,
  type DemoPage,
} from '../../helpers/peers/demo-page.js';

const LOW_LIMIT_BPS = 150_000;

/**
 * Chrome's built-in fake camera is so easy to encode that it sends ~180
 * kbit/s whatever the limit; moving noise makes the encoder use what the
 * bandwidth estimate allows.
 */
async function noiseCamera(): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'streammesh-y4m-')), 'noise.y4m');
  const ffmpeg = spawnPeer(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi'],
      ...['-i', 'testsrc2=size=640x360:rate=15,noise=alls=40:allf=t'],
      ...['-t', '3', '-pix_fmt', 'yuv420p', '-y', file],
    ],
    { timeoutMs: 30_000 },
  );
  const exit = await ffmpeg.exited;
  assert.equal(exit.code, 0, `ffmpeg made the fake camera file: ${exit.stderr}`);
  return file;
}

function meshConfig(incomingBitrate: number): string {
  return ephemeralMeshConfig(
    ['  peerLimits:', `    incomingBitrate: ${incomingBitrate}`, '  workers: 1'].join('\n'),
  );
}

interface Series {
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** The samples of one metric family in a Prometheus text page. */
function series(metrics: string, name: string): Series[] {
  const found: Series[] = [];
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const match of line.slice(name.length + 1, close).matchAll(/(\w+)="([^"]*)"/g)) {
      labels[match[1] ?? ''] = match[2] ?? '';
    }
    found.push({ labels, value: Number(line.slice(close + 1).trim()) });
  }
  return found;
}

async function poll<T>(
  what: string,
  read: () => Promise<T>,
  ready: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ready(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting until ${what}: ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe('conference through streammesh up', () => {
  let up: Running;
  const adminToken = newAdminToken();
  let controlPlaneUrl: string;
  let signalingAdminUrl: string;
  let demoUrl: string;
  let chromium: ChromiumPeer;
  let alice: DemoPage;
  let bob: DemoPage;
  let alicePeer = '';
  let bobPeer = '';

  const signalingMetrics = async (): Promise<string> =>
    (await fetch(`${signalingAdminUrl}/metrics`)).text();
  const producerBitrate = async (peer: string): Promise<number> => {
    const video = series(
      await signalingMetrics(),
      'streammesh_signaling_stream_bytes_per_second',
    ).find(
      ({ labels }) => labels.peer === peer && labels.direction === 'in' && labels.kind === 'video',
    );
    // The metric is in bytes per second (Prometheus base units); the limits are bit/s.
    return (video?.value ?? 0) * 8;
  };

  before(async () => {
    requireChromium();
    up = startStreammesh(['up', '--config', writeTempConfig(meshConfig(5_000_000))], {
      STREAMMESH_ADMIN_TOKEN: adminToken,
    });
    controlPlaneUrl = (await up.waitForOutput(/^control-plane +ready +(\S+)$/m, 15_000))[1] ?? '';
    signalingAdminUrl = (await up.waitForOutput(/^signaling +ready +(\S+)$/m, 30_000))[1] ?? '';
    demoUrl = (await up.waitForOutput(/demo page +(\S+)$/m, 5_000))[1] ?? '';
    chromium = await launchChromium({
      timeoutMs: 150_000,
      extraArgs: [
        ...DEMO_CHROMIUM_ARGS,
        `--use-file-for-fake-video-capture=${await noiseCamera()}`,
      ],
    });
    alice = await openDemoPage(chromium, `${demoUrl}?room=stats&name=alice`);
    bob = await openDemoPage(chromium, `${demoUrl}?room=stats&name=bob`);
  });

  after(async () => {
    await closeAllChromium();
    await up.stop('SIGTERM', 5_000);
  });

  it('the SFU reports each stream, peer and room on /metrics and to the control plane', async () => {
    await clickJoin(alice);
    await clickJoin(bob);
    const [aliceJoined, bobJoined] = await Promise.all([
      waitForDemo(alice, 'alice joined', (s) => s.joined && s.peers.length === 1),
      waitForDemo(bob, 'bob joined', (s) => s.joined && s.peers.length === 1),
    ]);
    alicePeer = aliceJoined.peer ?? '';
    bobPeer = bobJoined.peer ?? '';
    await Promise.all([
      waitForDemo(alice, 'alice decodes bob', (s) => (inboundVideo(s, bobPeer)?.frames ?? 0) > 0),
      waitForDemo(bob, 'bob decodes alice', (s) => (inboundVideo(s, alicePeer)?.frames ?? 0) > 0),
    ]);
    const metrics = await poll(
      'both producers and consumers have bitrate and RTT series',
      signalingMetrics,
      (text) => {
        const bitrate = series(text, 'streammesh_signaling_stream_bytes_per_second').filter(
          ({ labels, value }) => labels.room === 'stats' && labels.kind === 'video' && value > 0,
        );
        return bitrate.length === 4;
      },
    );
    const video = (name: string, direction: string, peer: string): Series | undefined =>
      series(metrics, name).find(
        ({ labels }) =>
          labels.room === 'stats' &&
          labels.peer === peer &&
          labels.direction === direction &&
          labels.kind === 'video',
      );
    for (const peer of [alicePeer, bobPeer]) {
      assert.ok(video('streammesh_signaling_stream_jitter_seconds', 'in', peer), `${peer} jitter`);
      assert.equal(video('streammesh_signaling_stream_score', 'in', peer)?.value, 10);
      assert.ok((video('streammesh_signaling_stream_packets_total', 'out', peer)?.value ?? 0) > 0);
      assert.ok(video('streammesh_signaling_stream_plis_total', 'out', peer), `${peer} PLI count`);
      assert.ok(
        video('streammesh_signaling_stream_nacks_total', 'out', peer),
        `${peer} NACK count`,
      );
      assert.ok(
        (video('streammesh_signaling_stream_lost_packets_total', 'in', peer)?.value ?? 1) <= 5,
        `${peer} loss on loopback`,
      );
    }
    const rooms = series(metrics, 'streammesh_signaling_room_bytes_per_second').filter(
      ({ labels }) => labels.room === 'stats',
    );
    assert.deepEqual(rooms.map(({ labels }) => labels.direction).sort(), ['in', 'out']);
    assert.ok(rooms.every(({ value }) => value > 0));
    assert.equal(
      series(metrics, 'streammesh_signaling_peer_bytes_per_second').filter(
        ({ labels }) => labels.room === 'stats',
      ).length,
      4,
      'in and out per peer',
    );

    interface StatsView {
      nodes: { role: string; stats: { rooms: { room: string; peers: number }[] } }[];
    }
    const report = await poll(
      'the control plane holds the signaling node report with the room',
      async () => (await getJson<StatsView>(`${controlPlaneUrl}/stats`)).body,
      (body) =>
        body.nodes.some(
          (node) =>
            node.role === 'ROLE_SIGNALING' &&
            node.stats.rooms.some((room) => room.room === 'stats' && room.peers === 2),
        ),
    );
    // The proxy reports its streams too; one signaling node holds the room.
    assert.equal(report.nodes.filter((node) => node.role === 'ROLE_SIGNALING').length, 1);
  });

  it('a lower per-peer bitrate limit, pushed live, holds a re-joining sender under it', async (t) => {
    const before = await poll(
      `alice sends well above ${LOW_LIMIT_BPS} bit/s with the default limit`,
      () => producerBitrate(alicePeer),
      (bps) => bps > 2 * LOW_LIMIT_BPS,
      30_000,
    );
    const pushed = await putText(
      `${controlPlaneUrl}/config`,
      meshConfig(LOW_LIMIT_BPS),
      adminToken,
    );
    assert.equal(pushed.status, 200);
    // Limits apply to transports created from now on: alice joins again.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await alice.page.close();
    alice = await openDemoPage(chromium, `${demoUrl}?room=stats&name=alice`);
    await clickJoin(alice);
    alicePeer =
      (await waitForDemo(alice, 'alice joined again', (s) => s.joined, 20_000)).peer ?? '';
    // Chrome follows the SFU's bandwidth estimate within seconds; give it 8.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    const samples: number[] = [];
    for (let sample = 0; sample < 4; sample += 1) {
      samples.push(await producerBitrate(alicePeer));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    const median = [...samples].sort((a, b) => a - b)[2] ?? 0;
    t.diagnostic(`alice's video: ${before} bit/s, then ${samples.join(', ')} under the limit`);
    assert.ok(median > 0, `alice sends after re-joining: ${samples.join(', ')}`);
    assert.ok(
      median <= LOW_LIMIT_BPS * 1.3,
      `alice's video ${median} bit/s under the ${LOW_LIMIT_BPS} limit (was ${before}): ${samples.join(', ')}`,
    );
  });
});
