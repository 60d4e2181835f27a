/**
 * Publishing: ffmpeg pushes a stream with ANNOUNCE/RECORD (over TCP and over
 * UDP) to a publisher path; two viewers watch it through the same fan-out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../../helpers/process.js';
import { spawnPeer, stopAllPeers, type PeerProcess } from '../../helpers/peers/process.js';
import { probeRtsp, gstRtspViewer } from '../../helpers/peers/rtsp-viewers.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { rtspMesh, type RtspMesh } from '../../helpers/rtsp-mesh.js';

after(stopAllPeers);

function publish(url: string, transport: 'udp' | 'tcp'): PeerProcess {
  return spawnPeer(
    'ffmpeg',
    [
      ...['-hide_banner', '-nostdin', '-loglevel', 'error', '-re'],
      ...['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-t', '30'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25'],
      ...['-pix_fmt', 'yuv420p', '-f', 'rtsp', '-rtsp_transport', transport, url],
    ],
    { timeoutMs: 45_000, stopSignal: 'SIGINT' },
  );
}

describe('RTSP publishing (ANNOUNCE/RECORD)', { timeout: 120_000 }, () => {
  let mesh: RtspMesh;

  before(async () => {
    mesh = await rtspMesh(
      ['    demo: false', '    paths:', '      live:', '        source: publisher'].join('\n'),
    );
  });

  after(async () => {
    await mesh.stop();
  });

  it('answers 404 while no one publishes', async () => {
    const client = await RtspTestClient.connect(mesh.rtspPort);
    const described = await client.request('DESCRIBE', mesh.url('live'));
    assert.equal(described?.status, 404);
    client.close();
  });

  for (const transport of ['tcp', 'udp'] as const) {
    it(`fans an ffmpeg publisher (${transport}) out to two viewers`, async () => {
      const publisher = publish(mesh.url('live'), transport);
      await waitFor(
        async () => ((await mesh.path('live')).upstream.state === 'up' ? true : undefined),
        15_000,
        () => publisher.stderr(),
      );
      const [udpViewer, gstViewer] = await Promise.all([
        probeRtsp(mesh.url('live'), 'udp', 3),
        gstRtspViewer(mesh.url('live'), 'tcp', 40),
      ]);
      assert.equal(udpViewer.codec, 'h264', udpViewer.output);
      assert.ok(udpViewer.packets > 10, udpViewer.output);
      assert.ok(gstViewer.decoded, gstViewer.output);
      const path = await mesh.path('live');
      assert.equal(path.upstream.transport, transport);
      const sessions = (await mesh.rtsp()).sessions.filter((s) => s.mode === 'record');
      assert.equal(sessions.length, 1);
      await publisher.stop('SIGINT');
      await waitFor(
        async () => ((await mesh.path('live')).upstream.state === 'down' ? true : undefined),
        10_000,
      );
    });
  }

  it('refuses a second publisher on a busy path, and ANNOUNCE to a camera path', async () => {
    const publisher = publish(mesh.url('live'), 'tcp');
    await waitFor(
      async () => ((await mesh.path('live')).upstream.state === 'up' ? true : undefined),
      15_000,
    );
    const second = publish(mesh.url('live'), 'tcp');
    const exit = await second.exited;
    assert.notEqual(exit.code, 0);
    assert.match(exit.stderr, /403|Forbidden/);
    const client = await RtspTestClient.connect(mesh.rtspPort);
    const sdp = Buffer.from('v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nm=video 0 RTP/AVP 96\r\n');
    const bad = await client.request(
      'ANNOUNCE',
      mesh.url('nope'),
      { 'Content-Type': 'application/sdp' },
      sdp,
    );
    assert.equal(bad?.status, 404);
    const garbage = await client.request(
      'ANNOUNCE',
      mesh.url('live'),
      { 'Content-Type': 'application/sdp' },
      Buffer.from('not sdp at all'),
    );
    assert.equal(garbage?.status, 400);
    client.close();
    await publisher.stop('SIGINT');
  });
});
