/**
 * Errors that stay (issue 15): the RTSP viewer of a failing camera is told
 * why at once — 503 with an X-Streammesh-Reason header as soon as the pull
 * fails, not after the 10 s DESCRIBE bound — and /streams keeps the path's
 * lastError with its time after the linger has closed the camera. Real parts:
 * the whole mesh (`streammesh up`), GStreamer's RTSP server as the camera
 * (Digest auth for the wrong-credentials case), a port nobody listens on
 * for the absent camera.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { LastError } from '../../../src/shared/last-error.js';
import { REASON_HEADER } from '../../../rtp-proxy/media/rtsp/responses.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { freeUdpPort, stopAllPeers } from '../../helpers/peers/process.js';
import { startRtspCamera, type RtspCamera } from '../../helpers/peers/rtsp-camera.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { rtspMesh, type RtspMesh } from '../../helpers/rtsp-mesh.js';

after(stopAllPeers);

const LINGER_MS = 1500;
/** The issue asks for ~2 s; the 2-core machine is shared, hence the margin over the ~10 ms seen. */
const QUICK_ANSWER_MS = 2500;

/** /streams' view of a path, as this test reads it (the shared helper still types lastError as text). */
interface PathState {
  readonly upstream: { readonly state: string; readonly lastError: LastError | null };
}

interface Described {
  readonly status: number | undefined;
  readonly reason: string | undefined;
  readonly ms: number;
}

async function describeOnce(mesh: RtspMesh, path: string): Promise<Described> {
  const client = await RtspTestClient.connect(mesh.rtspPort);
  try {
    const started = performance.now();
    const response = await client.request('DESCRIBE', mesh.url(path), {
      Accept: 'application/sdp',
    });
    return {
      status: response?.status,
      reason: response?.headers.get(REASON_HEADER),
      ms: performance.now() - started,
    };
  } finally {
    client.close();
  }
}

async function pathState(mesh: RtspMesh, name: string): Promise<PathState> {
  return (await mesh.path(name)) as unknown as PathState;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

describe('RTSP viewers of failing cameras are told why', { timeout: 120_000 }, () => {
  let camera: RtspCamera;
  let cameraPort: number;
  let absentPort: number;
  let latePort: number;
  let lateCamera: RtspCamera | undefined;
  let mesh: RtspMesh;

  before(async () => {
    cameraPort = await freeUdpPort();
    camera = await startRtspCamera({
      port: cameraPort,
      path: 'test',
      auth: { user: 'cam', password: 'right', digest: true },
    });
    absentPort = await freePort((port) => port !== cameraPort);
    latePort = await freePort((port) => port !== cameraPort && port !== absentPort);
    mesh = await rtspMesh(
      [
        '    demo: false',
        '    paths:',
        '      badauth:',
        `        source: rtsp://cam:wrong@127.0.0.1:${cameraPort}/test`,
        `        lingerMs: ${LINGER_MS}`,
        '      absent:',
        `        source: rtsp://127.0.0.1:${absentPort}/none`,
        `        lingerMs: ${LINGER_MS}`,
        '      late:',
        `        source: rtsp://cam:right@127.0.0.1:${latePort}/test`,
        '        onDemand: false',
        '      live:',
        '        source: publisher',
      ].join('\n'),
    );
  });

  after(async () => {
    await mesh.stop();
    await lateCamera?.stop();
    await camera.stop();
  });

  for (const { path, reason, code } of [
    { path: 'badauth', reason: /camera refused the credentials \(401\)/, code: 'ERR_CAMERA_AUTH' },
    { path: 'absent', reason: /connection refused/, code: 'ERR_CAMERA_CONNECT' },
  ]) {
    it(`${path}: DESCRIBE gets 503 with the reason at once, and /streams keeps it after the linger`, async () => {
      const firstMs: number[] = [];
      for (let round = 0; round < 3; round += 1) {
        // Each round starts the on-demand camera afresh: the pull is in progress when DESCRIBE comes.
        const first = await describeOnce(mesh, path);
        assert.equal(first.status, 503);
        assert.match(first.reason ?? '(no reason header)', reason);
        assert.ok(first.ms < QUICK_ANSWER_MS, `answered after ${Math.round(first.ms)} ms`);
        firstMs.push(first.ms);
        // While the camera is retrying, the known reason answers without a wait.
        const again = await describeOnce(mesh, path);
        assert.equal(again.status, 503);
        assert.match(again.reason ?? '(no reason header)', reason);

        const idle = await waitFor(
          async () => {
            const state = await pathState(mesh, path);
            return state.upstream.state === 'idle' ? state : undefined;
          },
          LINGER_MS + 5000,
          () => `${path} to go idle after its linger`,
        );
        const lastError = idle.upstream.lastError;
        assert.ok(lastError !== null, 'lastError kept after the linger');
        assert.match(lastError.message, reason);
        assert.equal(lastError.code, code);
        assert.equal(lastError.resolvedAt, null);
        const age = Date.now() - Date.parse(lastError.at);
        assert.ok(age >= 0 && age < LINGER_MS + 10_000, `lastError.at ${lastError.at}`);
      }
      // Reported by the test run: how fast the first answer came.
      console.log(
        `${path}: first DESCRIBE answered in ${firstMs.map((ms) => Math.round(ms)).join(', ')} ms (median ${Math.round(median(firstMs))})`,
      );
    });
  }

  it('a publisher path with no publisher: 404 with the reason', async () => {
    const described = await describeOnce(mesh, 'live');
    assert.equal(described.status, 404);
    assert.equal(described.reason, 'no one is publishing to this path');
  });

  it('a camera that comes up later: 503 "connection refused" before, 200 after, the error kept as resolved', async () => {
    const before = await describeOnce(mesh, 'late');
    assert.equal(before.status, 503);
    assert.match(before.reason ?? '(no reason header)', /connection refused/);
    lateCamera = await startRtspCamera({
      port: latePort,
      path: 'test',
      auth: { user: 'cam', password: 'right', digest: true },
    });
    // The always-on path retries with backoff (at most 10 s between tries).
    const up = await waitFor(
      async () => {
        const state = await pathState(mesh, 'late');
        return state.upstream.state === 'up' ? state : undefined;
      },
      20_000,
      () => 'the late camera to come up',
    );
    const lastError = up.upstream.lastError;
    assert.ok(lastError !== null, 'the earlier failure is kept');
    assert.match(lastError.message, /connection refused/);
    assert.ok(lastError.resolvedAt !== null, 'marked resolved by the success');
    assert.ok(Date.parse(lastError.resolvedAt) >= Date.parse(lastError.at));
    const after = await describeOnce(mesh, 'late');
    assert.equal(after.status, 200);
    assert.equal(after.reason, undefined);
  });
});
