/**
 * Edge tokens in the whole mesh (`streammesh up`, mutual TLS on by default):
 * the proxy holds the trust bundle of its own workload certificate, and
 * `streammesh token` mints from the control plane the mesh started. With
 * proxy.rtsp.auth.jwt, GStreamer rtspsrc plays the demo camera with a full
 * token in the URL and ffprobe with a compact one (ffmpeg cuts URLs at
 * 1023 bytes); a token for another path is 403, a forged one 401, and
 * neither gets a packet. With signaling.requireToken the signaling node
 * checks tokens against its own identity's bundle too: WHEP and /ws without
 * a token are 401, with the room's token they get past the check.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { upgradeStatus } from '../../helpers/signaling-client.js';
import { ephemeralMeshConfig, writeTempConfig } from '../../helpers/mesh-config.js';
import { meshUp, type MeshUp } from '../../helpers/mesh-up.js';
import { runStreammesh } from '../../helpers/process.js';
import { requirePeer, stopAllPeers } from '../../helpers/peers/process.js';
import { gstRtspViewer, probeRtsp } from '../../helpers/peers/rtsp-viewers.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { rtspMesh, type RtspMesh } from '../../helpers/rtsp-mesh.js';

describe('edge tokens with streammesh up', { timeout: 120_000 }, () => {
  let mesh: RtspMesh;
  let controlPlaneAdmin: string;

  const token = async (...args: string[]): Promise<string> => {
    const minted = await runStreammesh(['token', ...args], {
      STREAMMESH_CONTROL_PLANE_ADMIN: controlPlaneAdmin,
      STREAMMESH_ADMIN_TOKEN: mesh.adminToken,
    });
    assert.equal(minted.code, 0, minted.stderr);
    return minted.stdout.trim();
  };
  const describeStatus = async (url: string): Promise<number | undefined> => {
    const client = await RtspTestClient.connect(mesh.rtspPort);
    try {
      return (await client.request('DESCRIBE', url))?.status;
    } finally {
      client.close();
    }
  };

  before(async () => {
    requirePeer('ffprobe');
    requirePeer('gst-launch-1.0');
    mesh = await rtspMesh('    auth:\n      jwt: true');
    const ready = /^control-plane +ready +http:\/\/(\S+)$/m.exec(mesh.up.stdout());
    assert.ok(ready?.[1] !== undefined, mesh.up.stdout());
    controlPlaneAdmin = ready[1];
  });

  after(async () => {
    await stopAllPeers();
    await mesh.stop();
  });

  it('GStreamer (full token) and ffprobe (compact token) play the demo camera', async () => {
    const full = await token('--path', 'demo', '--ttl', '10m', '--sub', 'e2e viewer');
    const viewer = await gstRtspViewer(`${mesh.url('demo')}?jwt=${full}`, 'tcp', 25);
    assert.ok(viewer.decoded, viewer.output);
    const compact = await token('--path', 'demo', '--compact');
    const probe = await probeRtsp(`${mesh.url('demo')}?jwt=${compact}`, 'udp');
    assert.equal(probe.codec, 'h264', probe.output);
    assert.ok(probe.packets > 10, probe.output);
  });

  it('a token for another path is 403, a forged one 401, and neither gets a packet', async () => {
    // Compact tokens, so ffprobe sends them whole; the edge learns their certificate from a full one.
    assert.equal(
      await describeStatus(`${mesh.url('demo')}?jwt=${await token('--path', 'demo')}`),
      200,
    );
    const other = await token('--path', 'cam1', '--compact');
    const good = await token('--path', 'demo', '--compact');
    const [header = '', claims = '', signature = ''] = good.split('.');
    const forged = `${header}.${claims.slice(0, -2)}${claims.slice(-2) === 'fQ' ? 'fX' : 'fQ'}.${signature}`;
    assert.equal(await describeStatus(`${mesh.url('demo')}?jwt=${other}`), 403);
    assert.equal(await describeStatus(`${mesh.url('demo')}?jwt=${forged}`), 401);
    assert.equal(await describeStatus(mesh.url('demo')), 401);
    for (const refused of [other, forged]) {
      const probe = await probeRtsp(`${mesh.url('demo')}?jwt=${refused}`, 'tcp', 1);
      assert.equal(probe.packets, 0, probe.output);
    }
    const defects = (await mesh.rtsp()).defects;
    assert.ok((defects['jwt_wrong_scope'] ?? 0) >= 2, JSON.stringify(defects));
  });
});

describe('edge tokens at the signaling node of streammesh up', { timeout: 120_000 }, () => {
  let mesh: MeshUp;
  let listen: string;
  let controlPlaneAdmin: string;

  before(async () => {
    mesh = await meshUp(writeTempConfig(ephemeralMeshConfig('  requireToken: true')));
    // meshUp waits for the proxy; the signaling node may print its lines a moment later.
    const page = (await mesh.up.waitForOutput(/^ +demo page +(http:\/\/\S+?)\/?$/m, 15_000))[1];
    const out = mesh.up.stdout();
    const admin = /^control-plane +ready +http:\/\/(\S+)$/m.exec(out)?.[1];
    assert.ok(admin !== undefined && page !== undefined, out);
    controlPlaneAdmin = admin;
    listen = page;
  });

  after(async () => {
    await mesh.stop();
  });

  it('WHEP and /ws need a token of the room', async () => {
    const minted = await runStreammesh(['token', '--room', 'hall'], {
      STREAMMESH_CONTROL_PLANE_ADMIN: controlPlaneAdmin,
      STREAMMESH_ADMIN_TOKEN: mesh.adminToken,
    });
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();
    const post = (query: string): Promise<Response> =>
      fetch(`${listen}/whep/rooms/hall${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: 'v=0\r\n',
      });
    assert.equal((await post('')).status, 401);
    // Past the token: the room has no publisher (404) or the offer is refused (400), never 401/403/503.
    const allowed = await post(`?jwt=${token}`);
    assert.ok([400, 404].includes(allowed.status), `${allowed.status} ${await allowed.text()}`);
    const ws = `${listen.replace('http', 'ws')}/ws`;
    assert.equal(await upgradeStatus(ws), 401);
    assert.equal(await upgradeStatus(`${ws}?access_token=${token}`), 101);
  });
});
