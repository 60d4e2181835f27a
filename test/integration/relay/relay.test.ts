/**
 * The relay's packet path over real UDP sockets on 127.0.0.1: fan-out,
 * latching, rewriting, live route changes, and hostile packets that are
 * dropped and counted without touching any other stream.
 */
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { MediaRouteTable } from '../../../rtp-proxy/media/relay/media-route-table.js';
import { validateConfig, type MeshConfigInput } from '../../../src/config/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';

const log = createLogger('proxy', 'silent');

function config(routes: NonNullable<MeshConfigInput['proxy']>['routes']) {
  return validateConfig({ proxy: { rtpPorts: { start: 41000, end: 41999 }, routes } }, 'test');
}

describe('RTP relay', () => {
  let table: MediaRouteTable;
  const peers: UdpPeer[] = [];
  const peer = async (): Promise<UdpPeer> => {
    const created = await UdpPeer.bind();
    peers.push(created);
    return created;
  };

  beforeEach(() => {
    table = new MediaRouteTable(log);
  });

  afterEach(() => {
    table.close();
    for (const created of peers.splice(0)) created.close();
  });

  after(() => {
    table.close();
  });

  const ingressPort = (name: string): number => {
    const route = table.routes.get(name);
    assert.ok(route);
    return route.ingress.port;
  };

  it('fans out to every destination with SSRC and sequence numbers unchanged', async () => {
    const [sender, a, b, c] = await Promise.all([peer(), peer(), peer(), peer()]);
    await table.apply(
      config([
        {
          name: 'fanout',
          listen: '127.0.0.1:0',
          destinations: [a, b, c].map((p) => ({ address: `127.0.0.1:${p.port}` })),
        },
      ]),
    );
    const sent = Array.from({ length: 50 }, (_, i) => rtp({ sequence: 65_500 + i }));
    for (const packet of sent) await sender.send(packet, ingressPort('fanout'));
    for (const receiver of [a, b, c]) {
      const received = await receiver.waitForCount(50);
      assert.deepEqual(
        received.map((r) => r.packet),
        sent,
      );
    }
    // listen ...:0 takes an even port from proxy.rtpPorts, RTCP on the next one.
    const port = ingressPort('fanout');
    assert.ok(port >= 41000 && port <= 41998 && port % 2 === 0, `port ${port}`);
    const snapshot = table.snapshot()[0];
    assert.equal(snapshot?.listen.rtcp, `127.0.0.1:${port + 1}`);
    assert.equal(snapshot.packetsIn, 50);
    assert.equal(snapshot.streams[0]?.packets, 50);
    assert.equal(snapshot.streams[0].lost, 0);
    assert.deepEqual(snapshot.sender, { address: '127.0.0.1', port: sender.port });
  });

  it('latches the first sender and drops a flood from another source', async () => {
    const [sender, intruder, receiver] = await Promise.all([peer(), peer(), peer()]);
    await table.apply(
      config([
        {
          name: 'latched',
          listen: '127.0.0.1:0',
          destinations: [{ address: `127.0.0.1:${receiver.port}` }],
        },
      ]),
    );
    const port = ingressPort('latched');
    await sender.send(rtp({ sequence: 1 }), port);
    await receiver.waitForCount(1);
    for (let i = 0; i < 200; i += 1)
      await intruder.send(rtp({ sequence: 1000 + i, ssrc: 9 }), port);
    await sender.send(rtp({ sequence: 2 }), port);
    await receiver.waitForCount(2);
    await sleep(50);
    assert.equal(receiver.received.length, 2);
    assert.equal(table.snapshot()[0]?.drops.unlatched_source, 200);
  });

  it('accepts only the locked address, and only the first SSRC when asked', async () => {
    const [sender, receiver] = await Promise.all([peer(), peer()]);
    await table.apply(
      config([
        {
          name: 'locked',
          listen: '127.0.0.1:0',
          latch: { address: '127.0.0.2', ssrc: false },
          destinations: [{ address: `127.0.0.1:${receiver.port}` }],
        },
        {
          name: 'one-ssrc',
          listen: '127.0.0.1:0',
          latch: { ssrc: true },
          destinations: [{ address: `127.0.0.1:${receiver.port}` }],
        },
      ]),
    );
    await sender.send(rtp({ sequence: 1 }), ingressPort('locked'));
    await sender.send(rtp({ sequence: 1, ssrc: 1 }), ingressPort('one-ssrc'));
    await sender.send(rtp({ sequence: 1, ssrc: 2 }), ingressPort('one-ssrc'));
    await receiver.waitForCount(1);
    await sleep(50);
    assert.equal(receiver.received.length, 1);
    const [locked, oneSsrc] = table.snapshot();
    assert.equal(locked?.drops.source_not_allowed, 1);
    assert.equal(oneSsrc?.drops.unknown_ssrc, 1);
  });

  it('rewrites SSRC and renumbers sequence numbers without gaps when asked', async () => {
    const [sender, plain, rewritten] = await Promise.all([peer(), peer(), peer()]);
    await table.apply(
      config([
        {
          name: 'rewrite',
          listen: '127.0.0.1:0',
          destinations: [
            { address: `127.0.0.1:${plain.port}` },
            { address: `127.0.0.1:${rewritten.port}`, rewrite: { ssrc: 0xcafe, sequence: true } },
          ],
        },
      ]),
    );
    for (const sequence of [10, 11, 15, 16])
      await sender.send(rtp({ sequence }), ingressPort('rewrite'));
    const out = await rewritten.waitForCount(4);
    const sequences = out.map((r) => r.packet.readUInt16BE(2));
    for (const [i, s] of sequences.entries()) assert.equal(s, ((sequences[0] ?? 0) + i) & 0xffff);
    for (const r of out) assert.equal(r.packet.readUInt32BE(8), 0xcafe);
    const original = await plain.waitForCount(4);
    assert.deepEqual(
      original.map((r) => r.packet.readUInt16BE(2)),
      [10, 11, 15, 16],
    );
    assert.equal(original[0]?.packet.readUInt32BE(8), 0x11223344);
  });

  it('adds and removes routes live without disturbing a running stream', async () => {
    const [sender, receiver, other] = await Promise.all([peer(), peer(), peer()]);
    const steady = {
      name: 'steady',
      listen: '127.0.0.1:0',
      destinations: [{ address: `127.0.0.1:${receiver.port}` }],
    };
    await table.apply(config([steady]));
    const port = ingressPort('steady');
    let sequence = 0;
    const sendSome = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i += 1) await sender.send(rtp({ sequence: sequence++ }), port);
    };
    await sendSome(20);
    await table.apply(
      config([
        steady,
        {
          name: 'added',
          listen: '127.0.0.1:0',
          destinations: [{ address: `127.0.0.1:${other.port}` }],
        },
      ]),
    );
    await sendSome(20);
    assert.equal(ingressPort('steady'), port);
    await sender.send(rtp({ sequence: 1, ssrc: 5 }), ingressPort('added'));
    await other.waitForCount(1);
    await table.apply(config([steady]));
    assert.equal(table.routes.has('added'), false);
    await sendSome(20);
    await receiver.waitForCount(60);
    const stream = table.snapshot()[0]?.streams[0];
    assert.equal(stream?.packets, 60);
    assert.equal(stream.lost, 0);
  });

  it('rejects a config whose port is taken and keeps the routes it had', async () => {
    const [receiver, squatter] = await Promise.all([peer(), peer()]);
    const kept = {
      name: 'kept',
      listen: '127.0.0.1:0',
      destinations: [{ address: `127.0.0.1:${receiver.port}` }],
    };
    await table.apply(config([kept]));
    const port = ingressPort('kept');
    await assert.rejects(
      table.apply(
        config([
          kept,
          {
            name: 'clash',
            listen: `127.0.0.1:${squatter.port}`,
            destinations: [{ address: `127.0.0.1:${receiver.port}` }],
          },
        ]),
      ),
      /proxy\.routes clash: 127\.0\.0\.1:\d+ \(or its RTCP port\) is in use/,
    );
    assert.deepEqual([...table.routes.keys()], ['kept']);
    assert.equal(ingressPort('kept'), port);
  });
});
