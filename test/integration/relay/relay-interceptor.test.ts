/**
 * A new per-packet feature plugs into a live route's chain from outside
 * media-route.ts: a per-source packet-rate limit, written here in a few
 * lines, inserted in front of the route's inbound chain. Each dropped packet
 * is counted once, under the limit's reason or the latch's, never both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MediaRouteTable } from '../../../rtp-proxy/media/relay/media-route-table.js';
import {
  PASS,
  type DropReason,
  type Interceptor,
  type MediaPacket,
} from '../../../src/media/packet-chain/index.js';
import { relayTo } from '../../helpers/relay.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';

/** At most `limit` packets per source address:port in each window of the chain's clock. */
class PerSourceRateLimit implements Interceptor {
  readonly name = 'per-source-rate-limit';
  readonly #counts = new Map<string, { windowStartMs: number; packets: number }>();
  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}
  process(packet: MediaPacket): DropReason | undefined {
    const key = `${packet.sourceAddress}:${packet.sourcePort}`;
    let entry = this.#counts.get(key);
    if (entry === undefined || packet.arrivalMs - entry.windowStartMs >= this.windowMs) {
      entry = { windowStartMs: packet.arrivalMs, packets: 0 };
      this.#counts.set(key, entry);
    }
    entry.packets += 1;
    return entry.packets > this.limit ? 'rate_limited' : PASS;
  }
}

describe('relay route chain: an interceptor added from outside', () => {
  let table: MediaRouteTable;
  let sender: UdpPeer;
  let intruder: UdpPeer;
  let receiver: UdpPeer;
  let dupReceiver: UdpPeer;

  before(async () => {
    [sender, intruder, receiver, dupReceiver] = await Promise.all([
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
      UdpPeer.bind(),
    ]);
    table = await relayTo(
      { limited: receiver, duplicates: dupReceiver },
      { start: 39000, end: 39499 },
    );
  });

  after(() => {
    table.close();
    for (const peer of [sender, intruder, receiver, dupReceiver]) peer.close();
  });

  it('limits each source, counts every drop once, and the route measures only what passed', async () => {
    const route = table.routes.get('limited');
    assert.ok(route);
    const limit = 20;
    const sent = 50;
    const intruderSent = 5;
    // A window far longer than the test: every packet falls in the first one.
    route.inbound.insertBefore('latch-gate', new PerSourceRateLimit(limit, 60_000));
    assert.equal(route.inbound.names()[0], 'per-source-rate-limit');

    for (let i = 0; i < sent; i += 1) await sender.send(rtp({ sequence: i }), route.ingress.port);
    for (let i = 0; i < intruderSent; i += 1) {
      await intruder.send(rtp({ sequence: 1_000 + i, ssrc: 9 }), route.ingress.port);
    }
    await receiver.waitForCount(limit);
    await sleep(100);

    assert.deepEqual(
      receiver.received.map(({ packet }) => packet.readUInt16BE(2)),
      Array.from({ length: limit }, (_, i) => i),
    );
    // The intruder stays under its own limit, so the latch refuses it: one reason each.
    assert.deepEqual(route.drops.counts, {
      rate_limited: sent - limit,
      unlatched_source: intruderSent,
    });
    const snapshot = route.snapshot();
    assert.equal(snapshot.packetsIn, limit);
    assert.equal(snapshot.streams[0]?.packets, limit);
    assert.equal(snapshot.streams.length, 1);

    // Taken out again, the route relays the same source unlimited.
    assert.equal(route.inbound.remove('per-source-rate-limit'), true);
    await sender.send(rtp({ sequence: sent }), route.ingress.port);
    await receiver.waitForCount(limit + 1);
    assert.equal(route.drops.counts.rate_limited, sent - limit);
  });

  it('drops recent duplicates once each and forwards a late packet, as every user of the chain does', async () => {
    const route = table.routes.get('duplicates');
    assert.ok(route);
    const fresh = Array.from({ length: 10 }, (_, i) => 1_000 + i);
    // Two repeats at once (dropped), one packet 300 behind: too old to tell
    // from a repeat, forwarded for a receiver that may still play it.
    const late = 1_009 - 300;
    const script = [...fresh, 1_005, 1_009, late, 1_010];
    for (const sequence of script) await sender.send(rtp({ sequence }), route.ingress.port);
    await dupReceiver.waitForCount(fresh.length + 2);
    await sleep(100);
    assert.deepEqual(
      dupReceiver.received.map(({ packet }) => packet.readUInt16BE(2)),
      [...fresh, late, 1_010],
    );
    assert.deepEqual(route.drops.counts, { duplicate: 2 });
    const stream = route.snapshot().streams[0];
    assert.ok(stream);
    assert.equal(stream.duplicates, 2);
    assert.equal(stream.late, 1);
    assert.equal(route.packetsIn, script.length, 'valid RTP received counts repeats too');
  });
});
