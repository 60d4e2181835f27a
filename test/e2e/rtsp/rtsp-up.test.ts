/**
 * What a newcomer runs: `streammesh up` with no config serves the built-in
 * demo camera at rtsp://127.0.0.1:8554/demo, and the example config serves
 * camera cam1 (rtsp://127.0.0.1:8555/test) at rtsp://127.0.0.1:8554/cam1.
 * Both use the fixed ports the README promises.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { waitReady } from '../../helpers/http.js';
import { repoRoot, startStreammesh, type Running } from '../../helpers/process.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import { startRtspCamera } from '../../helpers/peers/rtsp-camera.js';
import { decodeRtsp, probeRtsp } from '../../helpers/peers/rtsp-viewers.js';

after(stopAllPeers);

const ADMIN_ON_FREE_PORTS = {
  STREAMMESH_CONTROL_PLANE_ADMIN: '127.0.0.1:0',
  STREAMMESH_CONTROL_PLANE_GRPC: '127.0.0.1:0',
  STREAMMESH_PROXY_ADMIN: '127.0.0.1:0',
  STREAMMESH_SIGNALING_ADMIN: '127.0.0.1:0',
};

async function up(args: string[]): Promise<Running> {
  const running = startStreammesh(['up', ...args], ADMIN_ON_FREE_PORTS);
  const match = await running.waitForOutput(/^proxy +ready +(http:\/\/\S+)$/m, 10_000);
  await waitReady(match[1] ?? '', () => running.stderr(), 10_000);
  return running;
}

describe('RTSP from `streammesh up`', { timeout: 120_000 }, () => {
  it('serves the demo camera with no config, decodable without errors', async () => {
    const running = await up([]);
    try {
      for (const transport of ['tcp', 'udp'] as const) {
        const probe = await probeRtsp('rtsp://127.0.0.1:8554/demo', transport);
        assert.equal(probe.codec, 'h264', probe.output);
        assert.ok(probe.packets > 20, probe.output);
      }
      // Longer than the 4 s clip: the loop point must decode cleanly too.
      const decoded = await decodeRtsp('rtsp://127.0.0.1:8554/demo', 'tcp', 6).result;
      assert.ok(decoded.frames >= 125, decoded.output);
      assert.deepEqual(decoded.errors, [], decoded.output);
    } finally {
      await running.stop('SIGTERM', 5_000);
    }
  });

  it('runs examples/rtsp-cameras.yaml: cam1 from a camera on 8555', async () => {
    const camera = await startRtspCamera({ port: 8555, path: 'test' });
    const running = await up(['--config', join(repoRoot, 'examples', 'rtsp-cameras.yaml')]);
    try {
      const probe = await probeRtsp('rtsp://127.0.0.1:8554/cam1', 'udp');
      assert.equal(probe.codec, 'h264', probe.output);
      assert.ok(probe.packets > 10, probe.output);
    } finally {
      await running.stop('SIGTERM', 5_000);
      await camera.stop();
    }
  });
});
