/**
 * The GStreamer RTSP camera that the RTSP proxy tests pull from: ffprobe
 * reads H.264 from it over TCP and UDP, and Digest auth refuses a wrong
 * password with 401.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { freeUdpPort, spawnPeer, stopAllPeers } from '../../helpers/peers/process.js';
import { startRtspCamera } from '../../helpers/peers/rtsp-camera.js';

after(stopAllPeers);

async function probe(url: string, transport: 'tcp' | 'udp') {
  return spawnPeer(
    'ffprobe',
    [
      ...['-v', 'error', '-rtsp_transport', transport, '-i', url, '-read_intervals', '%+2'],
      ...['-count_packets', '-show_entries', 'stream=codec_name,nb_read_packets', '-of', 'compact'],
    ],
    { timeoutMs: 15_000 },
  ).exited;
}

describe('GStreamer RTSP camera peer', { timeout: 60_000 }, () => {
  it('serves H.264 over TCP-interleaved and UDP', async () => {
    const camera = await startRtspCamera({ port: await freeUdpPort(), path: 'cam' });
    for (const transport of ['tcp', 'udp'] as const) {
      const result = await probe(camera.url, transport);
      const packets = /codec_name=h264\|nb_read_packets=(\d+)/.exec(result.stdout)?.[1];
      assert.ok(Number(packets) > 10, `${transport}: ${result.stdout}${result.stderr}`);
    }
    await camera.stop();
  });

  it('asks for Digest credentials and refuses a wrong password with 401', async () => {
    const auth = { user: 'admin', password: 'secret', digest: true };
    const camera = await startRtspCamera({ port: await freeUdpPort(), path: 'cam', auth });
    const good = await probe(camera.url.replace('rtsp://', 'rtsp://admin:secret@'), 'tcp');
    assert.match(good.stdout, /codec_name=h264/, good.stderr);
    const wrong = await probe(camera.url.replace('rtsp://', 'rtsp://admin:wrong@'), 'tcp');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /401 Unauthorized/);
    await camera.stop();
  });
});
