/**
 * The RTSP proxy as a config-transaction participant, with a real RTSP
 * client on 127.0.0.1: prepare binds the new listen address and changes
 * nothing clients see (the old listener serves the old paths and auth, a
 * connection to the new address is not served); commit moves listener, paths
 * and auth at once; abort frees the new address and the old listener's
 * connections carry on.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { RtspService } from '../../../rtp-proxy/media/rtsp/rtsp-service.js';
import { validateConfig, type MeshConfig } from '../../../src/config/index.js';
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
      await assert.rejects(
        rtsp.prepare(config(`127.0.0.1:${newPort}`, 'after')),
        /proxy\.rtsp\.listen 127\.0\.0\.1:\d+: EADDRINUSE/,
      );
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
    const client = await connect(oldPort);
    assert.equal(await announce(client, oldPort, 'before'), 200);
    // Nothing is left pending: the next config goes through.
    await rtsp.apply(config(`127.0.0.1:${newPort}`, 'after'));
    assert.equal(rtsp.address, `127.0.0.1:${newPort}`);
  });
});
