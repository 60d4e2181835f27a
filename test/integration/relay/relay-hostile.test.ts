/**
 * Hostile bytes on a route's ports: every malformed packet is dropped and
 * counted by reason, and a stream on another route loses nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MediaRouteTable } from '../../../rtp-proxy/media/relay/media-route-table.js';
import { relayTo } from '../../helpers/relay.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';

function withHeader(first: number, rest: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), rest]);
}

const valid = rtp({ sequence: 7 });
/** Each case: the bytes and the reason they must be counted under. */
const hostile: [string, Buffer, string][] = [
  ['empty datagram', Buffer.alloc(0), 'runt'],
  ['runt', valid.subarray(0, 11), 'runt'],
  ['version 1', withHeader(0x40, valid.subarray(1)), 'bad_version'],
  ['version 0', withHeader(0x00, valid.subarray(1)), 'bad_version'],
  [
    'padding count 0',
    (() => {
      const p = Buffer.from(valid);
      p[0] = 0xa0;
      p[p.length - 1] = 0;
      return p;
    })(),
    'bad_padding',
  ],
  [
    'padding longer than packet',
    (() => {
      const p = Buffer.from(valid);
      p[0] = 0xa0;
      p[p.length - 1] = 250;
      return p;
    })(),
    'bad_padding',
  ],
  ['CSRC count that lies', withHeader(0x8f, valid.subarray(1, 20)), 'bad_csrc_count'],
  [
    'extension length that lies',
    (() => {
      const p = Buffer.from(valid);
      p[0] = 0x90;
      p.writeUInt16BE(0xbede, 12);
      p.writeUInt16BE(500, 14);
      return p;
    })(),
    'bad_extension_length',
  ],
  [
    'extension header cut off',
    (() => {
      const p = Buffer.from(valid.subarray(0, 14));
      p[0] = 0x90;
      return p;
    })(),
    'bad_extension_length',
  ],
];

describe('relay under hostile input', () => {
  let table: MediaRouteTable;
  let sender: UdpPeer;
  let attacker: UdpPeer;
  let receiver: UdpPeer;
  let bystander: UdpPeer;

  before(async () => {
    [sender, attacker, receiver, bystander] = await Promise.all([
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
    ]);
    table = await relayTo({ target: receiver, bystander }, { start: 42000, end: 42999 });
  });

  after(() => {
    table.close();
    for (const peer of [sender, attacker, receiver, bystander]) peer.close();
  });

  it('drops each malformed RTP packet under its own reason', async () => {
    const port = table.routes.get('target')?.ingress.port ?? 0;
    for (const [, bytes] of hostile) await attacker.send(bytes, port);
    await sleep(100);
    assert.equal(receiver.received.length, 0);
    const drops = table.routes.get('target')?.drops.counts ?? {};
    const expected: Record<string, number> = {};
    for (const [, , reason] of hostile) expected[reason] = (expected[reason] ?? 0) + 1;
    assert.deepEqual(drops, expected);
  });

  it('drops malformed RTCP with a lying length, and never delivers it', async () => {
    const route = table.routes.get('target');
    assert.ok(route?.ingress.rtcp);
    // Latch a sender first: RTCP from anyone else is dropped before parsing.
    await sender.send(rtp({ sequence: 1, ssrc: 42 }), route.ingress.port);
    await receiver.waitForCount(1);
    const lyingLength = Buffer.from([0x80, 201, 0x00, 0x40, 0, 0, 0, 1]);
    const rtcpSocket = sender.socket;
    await new Promise<void>((resolve) =>
      rtcpSocket.send(lyingLength, route.ingress.port + 1, '127.0.0.1', () => resolve()),
    );
    await sleep(100);
    assert.equal(route.drops.counts.rtcp_bad_length, 1);
  });

  it('a stream on another route, sent in the middle of a flood, loses nothing', async () => {
    const target = table.routes.get('target')?.ingress.port ?? 0;
    const other = table.routes.get('bystander')?.ingress.port ?? 0;
    const random = (n: number): Buffer =>
      Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256)));
    for (let i = 0; i < 300; i += 1) {
      await attacker.send(random(Math.floor(Math.random() * 1400)), target);
      if (i % 3 === 0) await sender.send(rtp({ sequence: i / 3, ssrc: 77 }), other);
    }
    const received = await bystander.waitForCount(100);
    assert.equal(received.length, 100);
    const stream = table.routes.get('bystander')?.snapshot().streams[0];
    assert.equal(stream?.lost, 0);
    assert.deepEqual(table.routes.get('bystander')?.drops.counts, {});
  });
});
