/**
 * Which UDP I/O this process's media sockets use (issue 20, point 1). The
 * test script runs the relay, SRTP and RTSP suites twice: once native
 * (STREAMMESH_PROXY_UDP_IO=native) and once with STREAMMESH_PROXY_UDP_IO=dgram.
 * This test makes sure each pass really ran on its path: the thread's
 * choice, the kind of a real route's sockets and the exported gauge all
 * follow the environment, and the route relays on it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { useProxyUdpIo } from '../../../rtp-proxy/media/metrics/udp-io-metrics.js';
import { MediaRouteTable } from '../../../rtp-proxy/media/relay/index.js';
import { validateConfig } from '../../../src/config/index.js';
import {
  loadUdpBatchAddon,
  udpIoChoice,
  udpIoKind,
  useUdpIo,
  type UdpIoSetting,
} from '../../../src/media/udp/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { UdpPeer, rtp } from '../../helpers/udp.js';

const log = createLogger('proxy', 'silent');
const setting = (process.env.STREAMMESH_PROXY_UDP_IO ?? 'auto') as UdpIoSetting;
/** This machine builds the addon (npm install, test:all): auto must find it too. */
const expected = setting === 'dgram' ? 'dgram' : 'native';

describe('the UDP I/O of this test pass', () => {
  const table = new MediaRouteTable(log);
  const peers: UdpPeer[] = [];
  after(() => {
    table.close();
    for (const peer of peers) peer.close();
  });

  it(`follows STREAMMESH_PROXY_UDP_IO (${setting}): ${expected}`, () => {
    if (expected === 'native') {
      const loaded = loadUdpBatchAddon();
      assert.ok('addon' in loaded, `the addon loads: ${'error' in loaded ? loaded.error : ''}`);
    }
    assert.equal(udpIoKind(), expected);
    assert.equal(udpIoChoice().setting, setting);
  });

  it("a route's ingress and egress sockets are of that kind, and relay", async () => {
    const [sender, receiver] = [await UdpPeer.bind(), await UdpPeer.bind()];
    peers.push(sender, receiver);
    await table.apply(
      validateConfig(
        {
          proxy: {
            rtpPorts: { start: 43000, end: 43499 },
            routes: [
              {
                name: 'kind',
                listen: '127.0.0.1:0',
                destinations: [{ address: `127.0.0.1:${receiver.port}` }],
              },
            ],
          },
        },
        'test',
      ),
    );
    const route = table.routes.get('kind');
    assert.ok(route);
    assert.equal(route.ingress.rtp.kind, expected);
    assert.equal(route.ingress.rtcp?.kind, expected);
    assert.equal(route.destinations[0]?.local.rtp.kind, expected);
    for (let sequence = 0; sequence < 20; sequence += 1) {
      await sender.send(rtp({ sequence }), route.ingress.port);
    }
    const got = await receiver.waitForCount(20);
    assert.deepEqual(
      got.map(({ packet }) => packet.readUInt16BE(2)),
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it('is exported as streammesh_proxy_udp_io{kind} 1', async () => {
    const metrics = new Registry();
    useProxyUdpIo(metrics, setting, log);
    const text = await metrics.metrics();
    assert.match(text, new RegExp(`^streammesh_proxy_udp_io\\{kind="${expected}"\\} 1$`, 'm'));
    assert.doesNotMatch(text, /kind="(native|dgram)"\} 0/);
  });

  it('refuses a setting it does not know, and keeps its choice', () => {
    assert.throws(() => useUdpIo('fast' as UdpIoSetting), {
      code: 'ERR_UDP_IO_SETTING',
      message: /proxy\.udpIo is "fast": it must be auto, native or dgram/,
    });
    assert.equal(udpIoKind(), expected);
  });
});

/**
 * Where the addon is not built: the addon is hidden from a child process by
 * a preload that makes every `.node` file fail to load (a fake of "not
 * built": building it away here would take it from the other tests).
 * native refuses with a clear error; auto falls back to node:dgram, says so
 * once, and its sockets work.
 */
describe('UDP I/O without the addon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'udp-io-fallback-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('native refuses clearly; auto falls back to dgram, logged once, and relays', () => {
    const preload = join(dir, 'no-native.cjs');
    writeFileSync(
      preload,
      "require('node:module')._extensions['.node'] = () => { throw new Error('native addons hidden by the test'); };\n",
    );
    const dist = fileURLToPath(new URL('../../../', import.meta.url));
    const udp = pathToFileURL(join(dist, 'src/media/udp/index.js')).href;
    const pino = pathToFileURL(createRequire(import.meta.url).resolve('pino')).href;
    const script = join(dir, 'child.mjs');
    writeFileSync(
      script,
      `
      import { pino } from ${JSON.stringify(pino)};
      import { useUdpIo, udpIoKind, bindMediaSocket } from ${JSON.stringify(udp)};
      const log = pino({ level: 'info' });
      let refused;
      try { useUdpIo('native', log); } catch (error) { refused = { code: error.code, message: error.message }; }
      useUdpIo('auto', log);
      useUdpIo('auto', log);
      const socket = await bindMediaSocket('127.0.0.1', 0);
      const got = new Promise((resolve) => socket.onBatch((batch) => resolve(batch.datagram(0).toString())));
      const { createSocket } = await import('node:dgram');
      const sender = createSocket('udp4');
      sender.send('hello', socket.port, '127.0.0.1');
      const text = await got;
      sender.close();
      await socket.close();
      console.log(JSON.stringify({ result: { refused, kind: udpIoKind(), socket: socket.kind, text } }));
      `,
    );
    const child = spawnSync(process.execPath, ['--require', preload, script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(child.status, 0, `${child.stdout}\n${child.stderr}`);
    const lines = child.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map(
        (line) =>
          JSON.parse(line) as {
            msg?: string;
            result?: {
              refused?: { code: string; message: string };
              kind: string;
              socket: string;
              text: string;
            };
          },
      );
    const result = lines.find((line) => line.result !== undefined)?.result;
    assert.ok(result, child.stdout);
    assert.equal(result.refused?.code, 'ERR_UDP_IO_UNAVAILABLE');
    assert.match(result.refused.message, /cannot be loaded: .*native addons hidden by the test/);
    assert.match(result.refused.message, /build-native\.mjs udp-batch/);
    assert.deepEqual(
      { kind: result.kind, socket: result.socket, text: result.text },
      { kind: 'dgram', socket: 'dgram', text: 'hello' },
    );
    const said = lines.filter((line) => line.msg?.includes('UDP batch addon not available'));
    assert.equal(said.length, 1, child.stdout);
  });
});
