/**
 * The RTSP proxy as a config-transaction participant, with a real RTSP
 * client on 127.0.0.1: prepare binds the new listen address and changes
 * nothing clients see (the old listener serves the old paths and auth, a
 * connection to the new address is not served); commit moves listener, paths
 * and auth at once; abort frees the new address and the old listener's
 * connections carry on. A camera path's source is built at prepare (a bad
 * URL refuses there, naming the RTSP_PATH) and started only at commit; a
 * taken address is refused naming RTSP_SETTINGS. Of two prepares started
 * together one is refused; a closed service takes no config, and a change
 * prepared before close() leaves nothing bound.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { RtspService } from '../../../rtp-proxy/media/rtsp/rtsp-service.js';
import { refusedResourcesOf, validateConfig, type MeshConfig } from '../../../src/config/index.js';
import type { CameraSourceOptions } from '../../../src/media/rtsp-client/index.js';
import type { MediaSource, SourceListener } from '../../../src/media/source/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { freePort } from '../../helpers/ports.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';

const log = createLogger('proxy', 'silent');
const SDP = Buffer.from(
  'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n',
);

function config(
  listen: string,
  path: string,
  auth?: { user: string; password: string },
): MeshConfig {
  return validateConfig(
    {
      proxy: {
        rtsp: {
          listen,
          demo: false,
          paths: { [path]: { source: 'publisher' } },
          ...(auth === undefined ? {} : { auth: { users: [auth] } }),
        },
      },
    },
    'test',
  );
}

/** An always-on camera path `cam` (and the publisher path `before`) on `listen`. */
function cameraConfig(listen: string, url = 'rtsp://127.0.0.1:9/cam'): MeshConfig {
  return validateConfig(
    {
      proxy: {
        rtsp: {
          listen,
          demo: false,
          paths: { before: { source: 'publisher' }, cam: { source: url, onDemand: false } },
        },
      },
    },
    'test',
  );
}

/** Camera sources as a test sees them: which were built, which started, which closed. */
class RecordedSources {
  readonly built: string[] = [];
  readonly started: string[] = [];
  readonly closed: string[] = [];
  /** URLs whose source cannot be built (as a URL the camera client refuses). */
  readonly refuse = new Set<string>();

  readonly factory = (options: CameraSourceOptions): MediaSource => {
    if (this.refuse.has(options.url)) throw new Error(`cannot pull ${options.url}`);
    this.built.push(options.url);
    return {
      state: 'idle',
      transport: null,
      reconnects: 0,
      lastError: null,
      start: (_listener: SourceListener) => {
        this.started.push(options.url);
      },
      close: () => {
        this.closed.push(options.url);
        return Promise.resolve();
      },
    };
  };
}

async function tcpPortFree(port: number): Promise<boolean> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(true));
  });
  if (bound) await new Promise<void>((resolve) => server.close(() => resolve()));
  return bound;
}

const portOf = (address: string | null): number => {
  assert.ok(address !== null);
  return Number(address.slice(address.lastIndexOf(':') + 1));
};

describe('RTSP prepare / commit / abort', () => {
  let rtsp: RtspService;
  let oldPort: number;
  let newPort: number;
  const clients: RtspTestClient[] = [];

  const connect = async (port: number): Promise<RtspTestClient> => {
    const client = await RtspTestClient.connect(port);
    clients.push(client);
    return client;
  };
  const announce = async (client: RtspTestClient, port: number, path: string) =>
    (
      await client.request(
        'ANNOUNCE',
        `rtsp://127.0.0.1:${port}/${path}`,
        { 'Content-Type': 'application/sdp' },
        SDP,
      )
    )?.status;

  beforeEach(async () => {
    rtsp = new RtspService(log);
    await rtsp.apply(config('127.0.0.1:0', 'before'));
    oldPort = portOf(rtsp.address);
    newPort = await freePort();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await rtsp.close();
  });

  it('serves the old listener, path and auth until commit, then only the new ones', async () => {
    const user = { user: 'viewer', password: 'secret-1' };
    const early = await connect(oldPort);
    const change = await rtsp.prepare(config(`127.0.0.1:${newPort}`, 'after', user));
    assert.equal(await tcpPortFree(newPort), false, 'prepare bound the new address');
    assert.equal(await announce(early, oldPort, 'before'), 200, 'old path, no auth yet');
    assert.equal(await announce(early, oldPort, 'after'), 404);
    const tooEarly = await connect(newPort);
    await tooEarly.closed;
    assert.equal(rtsp.address, `127.0.0.1:${oldPort}`);

    change.commit();
    assert.equal(rtsp.address, `127.0.0.1:${newPort}`);
    await early.closed;
    const late = await connect(newPort);
    assert.equal(await announce(late, newPort, 'after'), 401, 'auth in force with the new path');
    assert.equal(await announce(late, newPort, 'before'), 404);
    assert.deepEqual(
      rtsp.snapshot().paths.map((path) => path.name),
      ['after'],
    );
    assert.ok(await tcpPortFree(oldPort), 'the old listener is closed');
  });

  it('abort frees the new address; the old listener and its connections carry on', async () => {
    const early = await connect(oldPort);
    const change = await rtsp.prepare(config(`127.0.0.1:${newPort}`, 'after'));
    await change.abort();
    assert.ok(await tcpPortFree(newPort), 'the new address is free again');
    assert.equal(await announce(early, oldPort, 'before'), 200, 'same connection, old path');
    assert.equal(await announce(early, oldPort, 'after'), 404);
    assert.equal(rtsp.address, `127.0.0.1:${oldPort}`);
    assert.deepEqual(
      rtsp.snapshot().paths.map((path) => path.name),
      ['before'],
    );
  });

  it('a taken new address refuses at prepare and changes nothing', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(newPort, '127.0.0.1', resolve));
    try {
      await assert.rejects(rtsp.prepare(config(`127.0.0.1:${newPort}`, 'after')), (error) => {
        assert.match(String(error), /proxy\.rtsp\.listen 127\.0\.0\.1:\d+: EADDRINUSE/);
        assert.deepEqual(refusedResourcesOf(error), [{ type: 'RTSP_SETTINGS', name: 'rtsp' }]);
        return true;
      });
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
    const client = await connect(oldPort);
    assert.equal(await announce(client, oldPort, 'before'), 200);
    // Nothing is left pending: the next config goes through.
    await rtsp.apply(config(`127.0.0.1:${newPort}`, 'after'));
    assert.equal(rtsp.address, `127.0.0.1:${newPort}`);
  });

  it('of two prepares started together one is refused, and nothing of it stays bound', async () => {
    const otherPort = await freePort();
    // Not awaited in between: both reach their bind before either resolves.
    const results = await Promise.allSettled([
      rtsp.prepare(config(`127.0.0.1:${newPort}`, 'after')),
      rtsp.prepare(config(`127.0.0.1:${otherPort}`, 'other')),
    ]);
    const prepared = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    assert.equal(prepared.length, 1, 'one prepare went through');
    assert.match(String(refused[0]), /neither committed nor aborted/, 'the other was refused');
    await prepared[0]?.abort();
    assert.ok(await tcpPortFree(newPort));
    assert.ok(await tcpPortFree(otherPort));
    assert.equal(rtsp.address, `127.0.0.1:${oldPort}`);
  });

  it('a closed service refuses prepare; a change prepared before close() is released at commit', async () => {
    const change = await rtsp.prepare(config(`127.0.0.1:${newPort}`, 'after'));
    await rtsp.close();
    change.commit();
    assert.equal(rtsp.address, null, 'nothing put in force after close');
    assert.deepEqual(rtsp.snapshot().paths, []);
    let free = false;
    for (let i = 0; i < 50 && !free; i += 1) free = await tcpPortFree(newPort);
    assert.ok(free, 'the listener prepare bound is closed');
    assert.ok(await tcpPortFree(oldPort), 'the old listener closed with the service');
    await assert.rejects(rtsp.prepare(config(`127.0.0.1:${newPort}`, 'after')), {
      code: 'ERR_RTSP_CLOSED',
    });
    assert.ok(await tcpPortFree(newPort), 'the refused prepare bound nothing');
  });

  it('a camera URL the client cannot use refuses at prepare, naming its RTSP_PATH', async () => {
    const candidate = structuredClone(cameraConfig('127.0.0.1:0'));
    // Past the schema (as a config assembled from resources could be): no host.
    const cam = candidate.proxy.rtsp.paths['cam'];
    assert.ok(cam !== undefined);
    cam.source = 'rtsp://:554/cam';
    await assert.rejects(rtsp.prepare(candidate), (error) => {
      assert.match(String(error), /proxy\.rtsp\.paths\.cam\.source: /);
      assert.deepEqual(refusedResourcesOf(error), [{ type: 'RTSP_PATH', name: 'cam' }]);
      return true;
    });
    assert.deepEqual(
      rtsp.snapshot().paths.map((path) => path.name),
      ['before'],
      'the running paths are as they were',
    );
  });

  it("a camera path's source is built at prepare and started only at commit", async () => {
    const sources = new RecordedSources();
    const service = new RtspService(log, { cameraSource: sources.factory });
    try {
      await service.apply(config('127.0.0.1:0', 'before'));
      const url = 'rtsp://127.0.0.1:9/cam';
      const aborted = await service.prepare(cameraConfig('127.0.0.1:0', url));
      assert.deepEqual(sources.built, [url], 'prepare built the source');
      assert.deepEqual(sources.started, [], 'and did not start it');
      await aborted.abort();
      assert.deepEqual(sources.started, [], 'abort starts nothing');

      sources.refuse.add(url);
      await assert.rejects(service.prepare(cameraConfig('127.0.0.1:0', url)), (error) => {
        assert.deepEqual(refusedResourcesOf(error), [{ type: 'RTSP_PATH', name: 'cam' }]);
        return true;
      });
      assert.deepEqual(
        service.snapshot().paths.map((path) => path.name),
        ['before'],
        'a source that cannot be built refuses the config at prepare, not at commit',
      );
      sources.refuse.clear();

      const change = await service.prepare(cameraConfig('127.0.0.1:0', url));
      assert.deepEqual(sources.started, []);
      change.commit();
      assert.deepEqual(sources.started, [url], 'commit started the source prepare built');
      assert.equal(sources.built.length, 2, 'one source built per prepare, none at commit');
    } finally {
      await service.close();
    }
    assert.deepEqual(sources.closed, ['rtsp://127.0.0.1:9/cam'], 'the started source was closed');
  });
});
