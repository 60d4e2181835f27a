/**
 * RTCP through the relay: the sender's SR reaches every destination, a
 * destination's RR reaches the sender and is folded into the stream's
 * downstream figures (with round-trip time), the proxy sends the sender
 * receiver reports of its own, and a BYE ends the stream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { registerStreamMetrics } from '../../../rtp-proxy/media/metrics/stream-metrics.js';
import { MediaRouteTable } from '../../../rtp-proxy/media/relay/media-route-table.js';
import {
  ReceiverReport,
  SenderReport,
  Bye,
  middle32,
  ntpFromUnixMs,
  parseRtcpCompound,
  serializeRtcpCompound,
} from '../../../src/protocol/rtcp/index.js';
import { validateConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { waitFor } from '../../helpers/process.js';
import { UdpPeer, rtp } from '../../helpers/udp.js';

const SSRC = 0x5eed;

describe('RTCP through the relay', () => {
  const table = new MediaRouteTable(createLogger('proxy', 'silent'));
  let sender: [UdpPeer, UdpPeer];
  let receivers: [UdpPeer, UdpPeer][];
  let sr: Buffer;

  before(async () => {
    sender = await UdpPeer.bindPair();
    receivers = [await UdpPeer.bindPair(), await UdpPeer.bindPair()];
    await table.apply(
      validateConfig(
        {
          proxy: {
            rtpPorts: { start: 45000, end: 45999 },
            routes: [
              {
                name: 'rtcp',
                listen: '127.0.0.1:0',
                kind: 'audio',
                clockRate: 8000,
                destinations: receivers.map(([rtpPeer]) => ({
                  address: `127.0.0.1:${rtpPeer.port}`,
                })),
              },
            ],
          },
        },
        'test',
      ),
    );
    const port = table.routes.get('rtcp')?.ingress.port ?? 0;
    for (let sequence = 0; sequence < 100; sequence += 1) {
      await sender[0].send(
        rtp({ sequence, timestamp: sequence * 160, ssrc: SSRC, payloadType: 0 }),
        port,
      );
    }
    const ntp = ntpFromUnixMs(Date.now());
    sr = serializeRtcpCompound([
      new SenderReport({
        ssrc: SSRC,
        ntpSeconds: ntp.seconds,
        ntpFraction: ntp.fraction,
        rtpTimestamp: 16_000,
        packetCount: 100,
        octetCount: 17_200,
      }),
    ]);
    await sender[1].send(sr, port + 1);
  });

  after(() => {
    table.close();
    for (const [a, b] of [sender, ...receivers]) {
      a.close();
      b.close();
    }
  });

  it("passes the sender's SR to every destination's RTCP port", async () => {
    for (const [, rtcpPeer] of receivers) {
      const [first] = await rtcpPeer.waitForCount(1);
      assert.deepEqual(first?.packet, sr);
    }
  });

  it("passes a destination's RR upstream and folds it into the stream's downstream figures", async () => {
    const route = table.routes.get('rtcp');
    assert.ok(route);
    const parsedSr = parseRtcpCompound(sr);
    assert.ok(parsedSr.ok && parsedSr.packets[0]?.type === 'sr');
    const rr = serializeRtcpCompound([
      new ReceiverReport({
        ssrc: 0xbeef,
        reports: [
          {
            ssrc: SSRC,
            fractionLost: 64,
            cumulativeLost: 25,
            highestSequence: 99,
            jitter: 80,
            lastSr: middle32(parsedSr.packets[0].ntpTimestamp),
            delaySinceLastSr: 0,
          },
        ],
      }),
    ]);
    const [, firstRtcp] = receivers[0] ?? [];
    const local = route.destinations[0]?.local.port ?? 0;
    await firstRtcp?.send(rr, local + 1);
    const upstream = await waitFor(
      () => sender[1].received.find((r) => r.packet.equals(rr)),
      3_000,
      () => 'the RR upstream',
    );
    assert.ok(upstream);
    const stream = await waitFor(() => {
      const found = route.snapshot().streams[0];
      return found !== undefined && found.downstream.length > 0 ? found : undefined;
    }, 1_000);
    const downstream = stream.downstream[0];
    assert.equal(downstream?.fractionLost, 0.25);
    assert.equal(downstream.cumulativeLost, 25);
    assert.equal(downstream.jitterMs, 10); // 80 units at 8 kHz
    assert.ok(downstream.rttMs !== null && downstream.rttMs >= 0 && downstream.rttMs < 1_000);
  });

  it('sends the sender receiver reports of its own at RFC 3550 intervals', async () => {
    const ownReport = await waitFor(
      () =>
        sender[1].received
          .map((r) => parseRtcpCompound(r.packet))
          .flatMap((parsed) => (parsed.ok ? parsed.packets : []))
          .find((packet) => packet.type === 'rr' && packet.ssrc !== 0xbeef),
      7_000,
      () => 'an RR from the proxy',
    );
    assert.ok(ownReport.type === 'rr');
    const block = ownReport.reports[0];
    assert.equal(block?.ssrc, SSRC);
    assert.equal(block.highestSequence, 99);
    assert.equal(block.cumulativeLost, 0);
  });

  it('a BYE from the sender ends the stream, and its series leave the metrics', async () => {
    const route = table.routes.get('rtcp');
    assert.ok(route);
    assert.equal(route.streams.size, 1);
    const metrics = new Registry();
    registerStreamMetrics(metrics, table);
    const series = `streammesh_proxy_stream_received_packets_total{route="rtcp",ssrc="${SSRC}"} 100`;
    assert.ok((await metrics.metrics()).includes(series));
    await sender[1].send(
      serializeRtcpCompound([new Bye({ sources: [SSRC] })]),
      route.ingress.port + 1,
    );
    await waitFor(() => (route.streams.size === 0 ? true : undefined), 1_000);
    const after = await metrics.metrics();
    assert.doesNotMatch(after, /streammesh_proxy_stream_received_packets_total\{/);
    assert.match(after, /streammesh_proxy_route_received_packets_total\{route="rtcp"\} 100/);
  });
});
