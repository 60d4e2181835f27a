/**
 * Every role's /metrics follows Prometheus conventions as promtool checks
 * them (`promtool check metrics`: counters end in `_total`, nothing else
 * does, base units, help text...), taken from a `streammesh up` mesh while
 * traffic flows through each part that has series of its own: a relayed RTP
 * stream with losses, an RTSP viewer of the demo camera, HTTP requests
 * through an L7 listener, and a WHEP viewer of the demo camera on the
 * signaling node. promtool prints each problem and nothing else: its output
 * must be empty. And no counter falls between two scrapes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, getText, waitReady } from '../../helpers/http.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { startHttpBackend, type HttpBackend } from '../../helpers/peers/http-backend.js';
import { requirePeer, stopAllPeers, type PeerProcess } from '../../helpers/peers/process.js';
import { decodeRtsp } from '../../helpers/peers/rtsp-viewers.js';
import { WhepViewer } from '../../helpers/peers/werift-whip.js';
import { freePort } from '../../helpers/ports.js';
import { startStreammesh, waitFor, type Running } from '../../helpers/process.js';
import { rtp, sleep, UdpPeer } from '../../helpers/udp.js';

const ROLES = ['control-plane', 'proxy', 'signaling'] as const;
type Role = (typeof ROLES)[number];

const SSRC = 0x10203;
/** Sequence numbers never sent: the stream's loss counter has something to count. */
const SKIPPED = new Set([20, 21, 22]);

interface StreamsView {
  routes: { name: string; listen: { rtp: string } }[];
  rtsp: { listen: string | null; paths: { name: string; viewers: number }[] };
}

function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
}

/** promtool's complaints about one exposition: '' when it has none. */
function promtoolComplaints(exposition: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], {
    input: exposition,
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

/** Every sample of a counter (`_total`), by series (name and labels). */
function counterSamples(exposition: string): Map<string, number> {
  const counters = new Set(
    [...exposition.matchAll(/^# TYPE (\S+) counter$/gm)].map((match) => match[1] ?? ''),
  );
  const samples = new Map<string, number>();
  for (const match of exposition.matchAll(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/gm)) {
    const name = match[1] ?? '';
    if (counters.has(name)) samples.set(`${name}${match[2] ?? ''}`, Number(match[3]));
  }
  return samples;
}

describe('Prometheus conventions on every role', () => {
  let up: Running;
  let backend: HttpBackend;
  let receiver: UdpPeer;
  let rtspViewer: PeerProcess | undefined;
  let whep: WhepViewer | undefined;
  const urls = new Map<Role, string>();
  const scrape = async (role: Role): Promise<string> => {
    const { status, text } = await getText(`${urls.get(role) ?? ''}/metrics`);
    assert.equal(status, 200, `${role} /metrics`);
    return text;
  };

  before(async () => {
    requirePeer('promtool');
    requirePeer('ffmpeg');
    backend = await startHttpBackend({ timeoutMs: 120_000 });
    receiver = await UdpPeer.bind();
    const l7Port = await freePort();
    // Not port 0: the signaling node pulls the demo camera from the configured address.
    const rtspPort = await freePort((port) => port !== l7Port);
    const config = [
      'logLevel: warn',
      'controlPlane: { admin: 127.0.0.1:0, grpc: 127.0.0.1:0, heartbeatIntervalMs: 200 }',
      'proxy:',
      '  admin: 127.0.0.1:0',
      `  rtsp: { listen: '127.0.0.1:${rtspPort}', demo: true }`,
      '  routes:',
      `    - { name: cam, listen: 127.0.0.1:0, rtcpMux: true, destinations: [{ address: 127.0.0.1:${receiver.port}, rtcpMux: true }] }`,
      '  http:',
      `    listeners: [{ name: edge, listen: 127.0.0.1:${l7Port}, protocol: auto }]`,
      '    routes: [{ name: all, match: { path: { prefix: / } }, action: { cluster: backend } }]',
      `    clusters: [{ name: backend, endpoints: ['127.0.0.1:${backend.port}'] }]`,
      'signaling: { admin: 127.0.0.1:0, listen: 127.0.0.1:0 }',
    ].join('\n');
    up = startStreammesh(['up', '--config', writeTempConfig(config)], {
      STREAMMESH_ADMIN_TOKEN: newAdminToken(),
    });
    for (const role of ROLES) {
      const ready = new RegExp(`^${role} +ready +(http://\\S+)$`, 'm');
      urls.set(role, (await up.waitForOutput(ready, 30_000))[1] ?? '');
    }
    for (const url of urls.values()) await waitReady(url, () => up.stderr(), 10_000);
    const whepUrl = (await up.waitForOutput(/WHEP demo +(\S+)$/m, 5_000))[1] ?? '';
    const streams = (await getJson<StreamsView>(`${urls.get('proxy') ?? ''}/streams`)).body;

    // HTTP through the L7 listener.
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`http://127.0.0.1:${l7Port}/hello`, {
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(response.status, 200);
      await response.text();
    }
    // A relayed RTP stream, three packets short.
    const routePort = portOf(streams.routes.find((r) => r.name === 'cam')?.listen.rtp ?? '');
    const sender = await UdpPeer.bind();
    let sent = 0;
    try {
      for (let sequence = 0; sequence < 100; sequence++) {
        if (SKIPPED.has(sequence)) continue;
        await sender.send(rtp({ sequence, ssrc: SSRC }), routePort);
        sent += 1;
        if (sequence % 10 === 9) await sleep(2);
      }
    } finally {
      sender.close();
    }
    await receiver.waitForCount(sent);
    // An RTSP viewer of the demo camera, playing while the metrics are read.
    const rtspUrl = `rtsp://${streams.rtsp.listen ?? ''}/demo`;
    rtspViewer = decodeRtsp(rtspUrl, 'tcp', 60).peer;
    // A WHEP viewer of the demo camera: a Producer and a Consumer on the SFU.
    whep = await WhepViewer.watch(whepUrl, { video: ['H264'], audio: false });
    await whep.waitFor((received) => received.video.packets > 0, 'WHEP video', 20_000);
    // Every part under test has series of its own (the SFU samples every 2 s).
    await waitFor(
      async () => {
        const proxy = await scrape('proxy');
        const signaling = await scrape('signaling');
        return /^streammesh_proxy_rtsp_viewer_sent_bytes_total\{/m.test(proxy) &&
          /^streammesh_proxy_rtsp_path_lost_packets_total\{/m.test(proxy) &&
          /^streammesh_signaling_stream_packets_total\{[^}]*direction="out"/m.test(signaling)
          ? true
          : undefined;
      },
      20_000,
      () => 'series of the RTSP viewer and of the WHEP viewer',
    );
  });

  after(async () => {
    await whep?.close();
    await rtspViewer?.stop();
    await up.stop('SIGTERM', 5_000);
    await backend.stop();
    receiver.close();
    await stopAllPeers();
  });

  it('every series under test is there', async () => {
    const proxy = await scrape('proxy');
    assert.match(
      proxy,
      new RegExp(
        `^streammesh_proxy_stream_lost_packets_total\\{route="cam",ssrc="${SSRC}",role="proxy"\\} ${SKIPPED.size}$`,
        'm',
      ),
    );
    assert.match(proxy, /^streammesh_proxy_stream_received_packets_total\{route="cam"/m);
    assert.match(proxy, /^streammesh_http_requests_total\{/m);
    assert.match(await scrape('control-plane'), /^streammesh_control_plane_config_acks_total\{/m);
  });

  for (const role of ROLES) {
    it(`${role}: promtool check metrics finds nothing to complain about`, async (t) => {
      const exposition = await scrape(role);
      const { status, output } = promtoolComplaints(exposition);
      t.diagnostic(`${role}: ${exposition.split('\n').length} lines checked`);
      assert.equal(output, '', `promtool on ${role}'s /metrics`);
      assert.equal(status, 0);
    });
  }

  it('no counter of any role falls between two scrapes', async () => {
    const first = new Map(await Promise.all(ROLES.map(async (r) => [r, await scrape(r)] as const)));
    await sleep(2_500); // past the SFU's next stats sample
    for (const role of ROLES) {
      const before = counterSamples(first.get(role) ?? '');
      const now = counterSamples(await scrape(role));
      assert.ok(before.size > 0, `${role} has counters`);
      for (const [series, value] of now) {
        const earlier = before.get(series);
        if (earlier !== undefined) assert.ok(value >= earlier, `${series}: ${earlier} -> ${value}`);
      }
    }
  });
});
