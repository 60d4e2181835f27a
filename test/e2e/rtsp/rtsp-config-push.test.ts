/**
 * RTSP config changes pushed to a running proxy: a new path appears without
 * disturbing a viewer of another; a listen address that cannot be bound is
 * NACKed with its reason and the old listener keeps serving; a new listen
 * address takes over.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { getJson } from '../../helpers/http.js';
import { MeshProcesses } from '../../helpers/mesh-processes.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';

const config = (listen: string, extraPaths: string[] = []): string =>
  [
    'controlPlane:',
    '  heartbeatIntervalMs: 200',
    'proxy:',
    '  rtsp:',
    `    listen: ${listen}`,
    '    paths:',
    '      live: { source: publisher }',
    ...extraPaths,
  ].join('\n');

interface PathNames {
  rtsp: { listen: string; paths: { name: string }[]; sessions: { session: string }[] };
}

describe('RTSP config pushed to a running proxy', { timeout: 60_000 }, () => {
  let mesh: MeshProcesses;
  let port: number;
  let viewer: RtspTestClient;
  let session: string;
  let blocker: Server;

  const streams = async (): Promise<PathNames> =>
    (await getJson<PathNames>(`${mesh.proxyUrl}/streams`)).body;
  const received = (): number => viewer.frames.filter((f) => f.channel === 0).length;
  const keepsReceiving = async (): Promise<void> => {
    const before = received();
    await waitFor(() => (received() > before + 10 ? true : undefined), 5000);
  };

  before(async () => {
    port = await freePort();
    mesh = await MeshProcesses.create(config(`127.0.0.1:${port}`));
    await mesh.startControlPlane();
    await mesh.startProxy();
    viewer = await RtspTestClient.connect(port);
    const url = `rtsp://127.0.0.1:${port}/demo`;
    assert.equal((await viewer.request('DESCRIBE', url))?.status, 200);
    const setup = await viewer.request('SETUP', `${url}/trackID=0`, {
      Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
    });
    session = setup?.headers.get('Session')?.split(';')[0] ?? '';
    assert.equal((await viewer.request('PLAY', url, { Session: session }))?.status, 200);
    await keepsReceiving();
  });

  after(async () => {
    viewer.close();
    blocker.close();
    await mesh.stop();
  });

  it('adds a path without disturbing the viewer of another', async () => {
    mesh.writeConfig(
      config(`127.0.0.1:${port}`, ['      cam2: { source: "rtsp://127.0.0.1:9/x" }']),
    );
    await waitFor(async () => {
      const names = (await streams()).rtsp.paths.map((p) => p.name);
      return names.includes('cam2') ? true : undefined;
    }, 5000);
    await keepsReceiving();
    assert.ok((await streams()).rtsp.sessions.some((s) => s.session === session));
  });

  it('NACKs a listen address that is taken and keeps serving on the old one', async () => {
    const taken = await freePort();
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(taken, '127.0.0.1', resolve));
    mesh.writeConfig(config(`127.0.0.1:${taken}`));
    const node = await waitFor(async () => {
      const found = await mesh.proxyNode();
      return found?.lastNack === undefined ? undefined : found;
    }, 5000);
    assert.match(
      node.lastNack?.reason ?? '',
      new RegExp(`proxy\\.rtsp\\.listen 127\\.0\\.0\\.1:${taken}: EADDRINUSE`),
    );
    assert.equal((await streams()).rtsp.listen, `127.0.0.1:${port}`);
    await keepsReceiving();
  });

  it('moves to a new listen address', async () => {
    const next = await freePort();
    mesh.writeConfig(config(`127.0.0.1:${next}`));
    await waitFor(
      async () => ((await streams()).rtsp.listen === `127.0.0.1:${next}` ? true : undefined),
      5000,
    );
    const client = await RtspTestClient.connect(next);
    assert.equal((await client.request('OPTIONS', '*'))?.status, 200);
    client.close();
  });
});
