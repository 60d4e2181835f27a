/**
 * Sending never throws into the relay's packet loop, and a header rewrite
 * done in place never shows through to another destination:
 *
 * - a destination whose egress socket closed under a running route costs
 *   only its own packets (counted 'destination_closed'); the other
 *   destination gets every one, RTP and RTCP, and the process runs on;
 * - a route table closed while a sender floods its port throws nothing;
 * - a destination that rewrites and protects with SRTP rewrites the shared
 *   packet in place and puts the header back: the next destination gets
 *   the sender's bytes exactly.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MediaRouteTable } from '../../../rtp-proxy/media/relay/media-route-table.js';
import { validateConfig } from '../../../src/config/index.js';
import {
  SrtpSession,
  formatInlineKey,
  generateKeyingMaterial,
} from '../../../src/protocol/srtp/index.js';
import { buildReceiverReport } from '../../../src/protocol/rtcp/index.js';
import { rtpSequenceNumber, rtpSsrc } from '../../../src/protocol/rtp/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';

const log = createLogger('proxy', 'silent');

function routeConfig(destinations: readonly Record<string, unknown>[]) {
  return validateConfig(
    {
      proxy: {
        rtpPorts: { start: 39500, end: 39999 },
        routes: [{ name: 'r', listen: '127.0.0.1:0', rtcpMux: true, destinations }],
      },
    },
    'test',
  );
}

describe('relay sends on closing sockets', () => {
  const peers: UdpPeer[] = [];
  const tables: MediaRouteTable[] = [];
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => {
    uncaught.push(error);
  };
  process.on('uncaughtException', onUncaught);

  after(() => {
    process.off('uncaughtException', onUncaught);
    for (const table of tables) table.close();
    for (const peer of peers) peer.close();
  });

  async function bind(count: number): Promise<UdpPeer[]> {
    const bound = await Promise.all(Array.from({ length: count }, async () => UdpPeer.bind()));
    peers.push(...bound);
    return bound;
  }

  it('a destination closed under a running route costs only its own packets, counted', async () => {
    const [sender, gone, kept] = await bind(3);
    assert.ok(sender && gone && kept);
    const table = new MediaRouteTable(log);
    tables.push(table);
    await table.apply(
      routeConfig([
        { address: `127.0.0.1:${gone.port}`, rtcpMux: true },
        { address: `127.0.0.1:${kept.port}`, rtcpMux: true },
      ]),
    );
    const route = table.routes.get('r');
    assert.ok(route);
    const port = route.ingress.port;
    await sender.send(rtp({ sequence: 0 }), port);
    await kept.waitForCount(1);
    await gone.waitForCount(1);

    // Closed from outside the route, as a socket can be; the route does not know.
    await route.destinations[0]?.local.rtp.close();
    const sent = 20;
    for (let i = 1; i <= sent; i += 1) await sender.send(rtp({ sequence: i }), port);
    // A sender report goes to every destination as well.
    await sender.send(buildReceiverReport(0x11223344, []), port);
    await kept.waitForCount(sent + 2);
    await sleep(50);

    assert.deepEqual(uncaught, []);
    assert.equal(gone.received.length, 1);
    assert.deepEqual(
      kept.received.slice(0, sent + 1).map(({ packet }) => rtpSequenceNumber(packet)),
      Array.from({ length: sent + 1 }, (_, i) => i),
    );
    const dropped =
      (route.drops.counts.destination_closed ?? 0) + (route.drops.counts.send_error ?? 0);
    assert.equal(dropped, sent + 1, 'each RTP packet and the RTCP one, once');
    assert.equal(route.destinations[0]?.packets, 1);
  });

  it('a route table closed while a sender floods its port throws nothing', async () => {
    const [sender, receiver] = await bind(2);
    assert.ok(sender && receiver);
    const table = new MediaRouteTable(log);
    await table.apply(routeConfig([{ address: `127.0.0.1:${receiver.port}`, rtcpMux: true }]));
    const port = table.routes.get('r')?.ingress.port ?? 0;
    let sequence = 0;
    const flood = { on: true };
    const flooding = (async () => {
      while (flood.on) {
        await sender.send(rtp({ sequence: sequence++ }), port);
        // A send can complete on the next tick: let timers and I/O run between sends.
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await receiver.waitForCount(50);
    table.close();
    await sleep(100);
    flood.on = false;
    await flooding;
    assert.deepEqual(uncaught, []);
    const received = receiver.received.length;
    assert.ok(sequence > received, 'the sender went on after the close');
    await sleep(50);
    assert.equal(receiver.received.length, received, 'nothing relayed after the close');
  });

  it('an SRTP destination that rewrites leaves the shared packet as the sender sent it', async () => {
    const [sender, secure, plain] = await bind(3);
    assert.ok(sender && secure && plain);
    const profile = 'AES_CM_128_HMAC_SHA1_80';
    const keys = generateKeyingMaterial(profile);
    const table = new MediaRouteTable(log);
    tables.push(table);
    await table.apply(
      routeConfig([
        {
          address: `127.0.0.1:${secure.port}`,
          rtcpMux: true,
          srtp: { profile, key: formatInlineKey(keys) },
          rewrite: { ssrc: 0xcafe, sequence: true },
        },
        { address: `127.0.0.1:${plain.port}`, rtcpMux: true },
      ]),
    );
    const port = table.routes.get('r')?.ingress.port ?? 0;
    const sent = Array.from({ length: 10 }, (_, i) => rtp({ sequence: 500 + i, ssrc: 7 }));
    for (const packet of sent) await sender.send(packet, port);
    await plain.waitForCount(sent.length);
    await secure.waitForCount(sent.length);
    assert.deepEqual(
      plain.received.map(({ packet }) => packet),
      sent,
      'byte for byte what the sender sent',
    );
    const session = new SrtpSession(keys);
    const opened = secure.received.map(({ packet }) => {
      const result = session.unprotectRtp(packet);
      assert.ok(result.ok);
      return result.packet;
    });
    const first = rtpSequenceNumber(opened[0] ?? Buffer.alloc(12));
    assert.deepEqual(
      opened.map((packet) => [rtpSsrc(packet), rtpSequenceNumber(packet)]),
      sent.map((_, i) => [0xcafe, (first + i) & 0xffff]),
    );
    // Payloads untouched by the rewrite.
    assert.deepEqual(
      opened.map((packet) => packet.subarray(12)),
      sent.map((packet) => packet.subarray(12)),
    );
  });
});
