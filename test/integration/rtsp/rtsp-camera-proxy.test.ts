/**
 * The RTSP proxy in front of a real camera (GStreamer's RTSP server): real
 * viewers (ffprobe, ffmpeg, GStreamer rtspsrc) over UDP and TCP, ten of them
 * on one camera session, a camera restart under watching viewers, a
 * Digest-protected camera, and a late joiner that starts at a keyframe.
 */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { h264StartsKeyframe } from '../../../src/protocol/video/index.js';
import { rtpHeaderLength } from '../../../src/protocol/rtp/index.js';
import { at } from '../../helpers/defined.js';
import { waitFor } from '../../helpers/process.js';
import { freeUdpPort, stopAllPeers } from '../../helpers/peers/process.js';
import { startRtspCamera, type RtspCamera } from '../../helpers/peers/rtsp-camera.js';
import { decodeRtsp, gstRtspViewer, probeRtsp } from '../../helpers/peers/rtsp-viewers.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { rtspMesh, type RtspMesh } from '../../helpers/rtsp-mesh.js';
import { sleep } from '../../helpers/udp.js';

after(stopAllPeers);

/** Plays `url` over TCP with the bare client; returns it with frames arriving. */
async function playTcp(mesh: RtspMesh, path: string): Promise<RtspTestClient> {
  const client = await RtspTestClient.connect(mesh.rtspPort);
  const url = mesh.url(path);
  const described = await client.request('DESCRIBE', url, { Accept: 'application/sdp' });
  assert.equal(described?.status, 200);
  const setup = await client.request('SETUP', `${url}/trackID=0`, {
    Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
  });
  assert.equal(setup?.status, 200, setup?.reason);
  const session = setup.headers.get('Session')?.split(';')[0] ?? '';
  const played = await client.request('PLAY', url, { Session: session });
  assert.equal(played?.status, 200);
  return client;
}

function rtpFrames(client: RtspTestClient): Buffer[] {
  return client.frames.filter((f) => f.channel === 0).map((f) => f.payload);
}

describe('RTSP proxy with a GStreamer camera', { timeout: 180_000 }, () => {
  let camera: RtspCamera;
  let cameraPort: number;
  let mesh: RtspMesh;

  before(async () => {
    cameraPort = await freeUdpPort();
    camera = await startRtspCamera({ port: cameraPort, path: 'test' });
    mesh = await rtspMesh(
      [
        '    demo: false',
        '    paths:',
        '      cam1:',
        `        source: rtsp://127.0.0.1:${cameraPort}/test`,
        '        lingerMs: 1000',
      ].join('\n'),
    );
  });

  after(async () => {
    await mesh.stop();
  });

  it('serves H.264 to ffprobe over UDP and over TCP', async () => {
    for (const transport of ['udp', 'tcp'] as const) {
      const probe = await probeRtsp(mesh.url('cam1'), transport);
      assert.equal(probe.codec, 'h264', probe.output);
      assert.ok(probe.packets > 10, `${transport}: ${probe.output}`);
    }
  });

  it("rewrites the camera's SDP so viewers only see the proxy", async () => {
    const client = await RtspTestClient.connect(mesh.rtspPort);
    const described = await client.request('DESCRIBE', mesh.url('cam1'));
    client.close();
    assert.equal(described?.status, 200);
    assert.equal(described.headers.get('Content-Base'), `${mesh.url('cam1')}/`);
    const sdp = described.body.toString('utf8');
    assert.match(sdp, /^m=video 0 RTP\/AVP 96$/m);
    assert.match(sdp, /^a=rtpmap:96 H264\/90000$/m);
    assert.match(sdp, /^a=control:trackID=0$/m);
    assert.doesNotMatch(sdp, new RegExp(`:${cameraPort}|/test`), 'no camera URL left');
  });

  it('serves GStreamer rtspsrc over UDP and over TCP, which decodes 50 frames', async () => {
    for (const transport of ['udp', 'tcp'] as const) {
      const viewer = await gstRtspViewer(mesh.url('cam1'), transport, 50);
      assert.ok(viewer.decoded, `${transport}: ${viewer.output}`);
    }
  });

  it('starts a late joiner at a keyframe, and ffmpeg decodes without errors', async () => {
    const early = decodeRtsp(mesh.url('cam1'), 'udp', 4);
    await sleep(1500);
    // The proxy `up` starts has one media worker per core (or STREAMMESH_PROXY_WORKERS):
    // with more than one, this pass runs the spread path, the UDP viewer's pair on a worker.
    const workers = Number(process.env.STREAMMESH_PROXY_WORKERS ?? availableParallelism());
    const view = await mesh.rtsp();
    assert.equal(view.viewerSpread !== null, workers > 1, `proxy.workers ${workers}`);
    const udp = view.sessions.find((s) => s.transport === 'udp' && s.playing);
    assert.ok(udp, 'the UDP viewer plays');
    assert.equal(udp.workers.length, workers > 1 ? 1 : 0, JSON.stringify(udp));
    // Join in the middle of a GOP (key frame every second at 25 fps).
    await sleep(Math.floor(Math.random() * 900));
    const late = await playTcp(mesh, 'cam1');
    await waitFor(() => (rtpFrames(late).length > 0 ? true : undefined), 5000);
    const first = at(rtpFrames(late), 0);
    assert.ok(
      h264StartsKeyframe(first.subarray(rtpHeaderLength(first))),
      'first packet is a key frame',
    );
    late.close();
    const decoded = await early.result;
    assert.ok(decoded.frames >= 50, decoded.output);
    assert.deepEqual(decoded.errors, [], decoded.output);
  });

  it('pulls the camera once for ten concurrent viewers', async () => {
    await waitFor(
      async () => ((await mesh.path('cam1')).upstream.state === 'idle' ? true : undefined),
      10_000,
    );
    const before = camera.sessions();
    const viewers = Array.from({ length: 10 }, (_, i) =>
      probeRtsp(mesh.url('cam1'), i % 2 === 0 ? 'udp' : 'tcp', 4),
    );
    const most = waitFor(async () => {
      const path = await mesh.path('cam1');
      return path.viewers === 10 ? path : undefined;
    }, 20_000);
    const results = await Promise.all(viewers);
    await most;
    for (const result of results) {
      assert.equal(result.codec, 'h264', result.output);
      assert.ok(result.packets > 10, result.output);
    }
    assert.equal(camera.sessions() - before, 1, 'one camera session for ten viewers');
  });

  it('keeps viewers through a camera restart, with continuous numbering', async () => {
    const viewer = await playTcp(mesh, 'cam1');
    await waitFor(() => (rtpFrames(viewer).length > 50 ? true : undefined), 5000);
    const beforeOutage = rtpFrames(viewer).length;
    await camera.stop();
    const stoppedAt = Date.now();
    await waitFor(
      async () => ((await mesh.path('cam1')).upstream.state === 'down' ? true : undefined),
      10_000,
    );
    await sleep(1000);
    camera = await startRtspCamera({ port: cameraPort, path: 'test' });
    await waitFor(() => (rtpFrames(viewer).length > beforeOutage + 50 ? true : undefined), 20_000);
    const outageMs = Date.now() - stoppedAt;
    const packets = rtpFrames(viewer);
    // Find the boundary: the largest timestamp step between neighbours.
    let gapIndex = 1;
    let gap = 0;
    for (let i = 1; i < packets.length; i++) {
      const step = (at(packets, i).readUInt32BE(4) - at(packets, i - 1).readUInt32BE(4)) >>> 0;
      if (step > gap && step < 0x8000_0000) {
        gap = step;
        gapIndex = i;
      }
    }
    const a = at(packets, gapIndex - 1);
    const b = at(packets, gapIndex);
    assert.equal(a.readUInt32BE(8), b.readUInt32BE(8), 'same SSRC after the restart');
    const seqStep = (b.readUInt16BE(2) - a.readUInt16BE(2)) & 0xffff;
    assert.ok(seqStep >= 1 && seqStep < 500, `sequence continues (step ${seqStep})`);
    const gapMs = gap / 90;
    assert.ok(gapMs > 500 && gapMs < outageMs + 2000, `timestamp gap ${gapMs} ms ~ outage`);
    const path = await mesh.path('cam1');
    assert.equal(path.upstream.state, 'up');
    assert.ok(path.upstream.reconnects >= 1, JSON.stringify(path.upstream));
    assert.ok(path.upstream.outages >= 1 && path.upstream.outageMs > 500);
    assert.match(
      await mesh.metrics(),
      /streammesh_proxy_rtsp_path_reconnects_total\{path="cam1"[^}]*\} [1-9]/,
    );
    viewer.close();
  });

  it('reports per-camera and per-viewer metrics', async () => {
    const viewer = await playTcp(mesh, 'cam1');
    await waitFor(() => (rtpFrames(viewer).length > 30 ? true : undefined), 5000);
    await sleep(1200);
    const metrics = await mesh.metrics();
    assert.match(metrics, /streammesh_proxy_rtsp_path_viewers\{path="cam1"[^}]*\} 1/);
    assert.match(metrics, /streammesh_proxy_rtsp_path_upstream_up\{path="cam1"[^}]*\} 1/);
    assert.match(
      metrics,
      /streammesh_proxy_rtsp_path_received_bytes_per_second\{path="cam1",track="0"[^}]*\} [1-9]/,
    );
    assert.match(
      metrics,
      /streammesh_proxy_rtsp_path_jitter_seconds\{path="cam1",track="0"[^}]*\} /,
    );
    assert.match(metrics, /streammesh_proxy_rtsp_path_loss_ratio\{path="cam1",track="0"[^}]*\} 0/);
    assert.match(
      metrics,
      /streammesh_proxy_rtsp_viewer_sent_bytes_total\{path="cam1",session="[0-9a-f]{16}",transport="tcp"[^}]*\} [1-9]/,
    );
    viewer.close();
  });
});

describe('RTSP proxy with a Digest-protected camera and viewer auth', { timeout: 120_000 }, () => {
  let camera: RtspCamera;
  let mesh: RtspMesh;

  before(async () => {
    const port = await freeUdpPort();
    camera = await startRtspCamera({
      port,
      path: 'secure',
      auth: { user: 'admin', password: 'cam-secret', digest: true },
    });
    mesh = await rtspMesh(
      [
        '    demo: false',
        '    auth:',
        '      users: [{ user: viewer, password: view-secret }]',
        '      tokens: [abcdefghijklmnop0123]',
        '    paths:',
        '      door:',
        `        source: rtsp://admin:cam-secret@127.0.0.1:${port}/secure`,
        '        transport: tcp',
      ].join('\n'),
    );
  });

  after(async () => {
    await mesh.stop();
    await camera.stop();
  });

  it('pulls a Digest camera for a viewer with the right password (Digest and Basic)', async () => {
    const probe = await probeRtsp(mesh.url('door', 'viewer:view-secret'), 'tcp');
    assert.equal(probe.codec, 'h264', probe.output);
    const viewer = await gstRtspViewer(mesh.url('door'), 'tcp', 30, {
      user: 'viewer',
      password: 'view-secret',
    });
    assert.ok(viewer.decoded, viewer.output);
    assert.equal((await mesh.path('door')).upstream.transport, 'tcp');
  });

  it('accepts a token in the URL', async () => {
    const probe = await probeRtsp(`${mesh.url('door')}?token=abcdefghijklmnop0123`, 'udp');
    assert.equal(probe.codec, 'h264', probe.output);
  });

  it('answers 401 and sends no media for a wrong password or token', async () => {
    const wrong = await probeRtsp(mesh.url('door', 'viewer:wrong'), 'tcp');
    assert.equal(wrong.codec, undefined);
    assert.match(wrong.output, /401 Unauthorized/);
    const client = await RtspTestClient.connect(mesh.rtspPort);
    const url = `${mesh.url('door')}?token=wrong-token-wrong-token`;
    const described = await client.request('DESCRIBE', url);
    assert.equal(described?.status, 401);
    assert.ok(described.headers.getAll('WWW-Authenticate').some((v) => v.startsWith('Digest ')));
    const setup = await client.request('SETUP', `${mesh.url('door')}/trackID=0`, {
      Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
    });
    assert.equal(setup?.status, 401);
    await sleep(500);
    assert.equal(client.frames.length, 0);
    client.close();
    assert.ok(((await mesh.rtsp()).defects.unauthorized ?? 0) >= 2);
  });
});
