/**
 * A clean run drops nothing (issue 15): real senders through the relay, and
 * every datagram they send is relayed, with no drop of any reason in the
 * route's counters or in /metrics. ffmpeg's RTP muxer sends its first RTCP
 * SR about 1 ms before its first RTP packet, when no sender is latched yet;
 * the route holds it until that RTP packet latches the sender
 * (rtp-proxy/media/relay/early-sender-rtcp.ts). A stranger, on another port
 * or another address, still neither latches the route nor gets through, and
 * is counted as 'unlatched_source', also when its RTCP comes before the
 * sender's first packet.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, afterEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { registerStreamMetrics } from '../../../rtp-proxy/media/metrics/stream-metrics.js';
import type { MediaRoute } from '../../../rtp-proxy/media/relay/media-route.js';
import { MediaRouteTable } from '../../../rtp-proxy/media/relay/media-route-table.js';
import { validateConfig, type MeshConfigInput } from '../../../src/config/index.js';
import { SenderReport, serializeRtcpCompound } from '../../../src/protocol/rtcp/index.js';
import { isRtcpPacket } from '../../../src/protocol/rtp/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { startRtpSender, testClip } from '../../helpers/peers/ffmpeg.js';
import { startGstH264Sender } from '../../helpers/peers/gstreamer.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import { randomSrtpKey } from '../../helpers/peers/srtp-key.js';
import { waitFor } from '../../helpers/process.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';

after(stopAllPeers);

type Routes = NonNullable<MeshConfigInput['proxy']>['routes'];

/** What reached one of a route's ingress sockets, by kind and source, before any check. */
interface Arrival {
  readonly rtcp: boolean;
  readonly from: string;
  readonly bytes: Buffer;
}

/** Records every datagram on the route's ingress ports, ahead of the route's own handler. */
function watchIngress(route: MediaRoute): Arrival[] {
  const arrivals: Arrival[] = [];
  for (const socket of [route.ingress.rtp, route.ingress.rtcp]) {
    if (socket === undefined) continue;
    const routeHandler = socket.batchHandler;
    socket.onBatch((batch) => {
      for (let i = 0; i < batch.count; i++) {
        const bytes = Buffer.from(batch.datagram(i));
        const from = batch.source(i);
        arrivals.push({ rtcp: isRtcpPacket(bytes), from: `${from.address}:${from.port}`, bytes });
      }
      routeHandler?.(batch);
    });
  }
  return arrivals;
}

/** A UDP socket on another loopback address: a different host as far as the relay can tell. */
async function bindOn(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => resolve());
  });
  return socket;
}

async function sendFrom(socket: Socket, bytes: Buffer, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.send(bytes, port, '127.0.0.1', (error) => (error ? reject(error) : resolve()));
  });
}

function senderReport(ssrc: number): Buffer {
  return serializeRtcpCompound([
    new SenderReport({
      ssrc,
      ntpSeconds: 1,
      ntpFraction: 2,
      rtpTimestamp: 3,
      packetCount: 4,
      octetCount: 5,
    }),
  ]);
}

describe(
  'a clean relay run drops nothing; a stranger is still dropped',
  { timeout: 60_000 },
  () => {
    let table: MediaRouteTable;
    const cleanups: (() => void)[] = [];

    const start = async (routes: Routes): Promise<void> => {
      table = new MediaRouteTable(createLogger('proxy', 'silent'));
      await table.apply(
        validateConfig({ proxy: { rtpPorts: { start: 38000, end: 38499 }, routes } }, 'test'),
      );
      cleanups.push(() => table.close());
    };
    const route = (name: string): MediaRoute => {
      const found = table.routes.get(name);
      assert.ok(found, `route ${name}`);
      return found;
    };
    const receiverPair = async (): Promise<[UdpPeer, UdpPeer]> => {
      const pair = await UdpPeer.bindPair();
      cleanups.push(() => {
        for (const peer of pair) peer.close();
      });
      return pair;
    };

    afterEach(() => {
      for (const cleanup of cleanups.splice(0).reverse()) cleanup();
    });

    it('ffmpeg (RTP and SRTP) and GStreamer: every datagram relayed, zero drops of any reason', async () => {
      const key = randomSrtpKey();
      const [plainOut, srtpOut, gstOut] = [
        await receiverPair(),
        await receiverPair(),
        await receiverPair(),
      ];
      const to = ([rtpPeer]: [UdpPeer, UdpPeer]) => [{ address: `127.0.0.1:${rtpPeer.port}` }];
      await start([
        { name: 'ffmpeg', listen: '127.0.0.1:0', destinations: to(plainOut) },
        {
          name: 'ffmpeg-srtp',
          listen: '127.0.0.1:0',
          srtp: { profile: 'AES_CM_128_HMAC_SHA1_80', key },
          destinations: to(srtpOut),
        },
        { name: 'gstreamer', listen: '127.0.0.1:0', destinations: to(gstOut) },
      ]);
      const watched = ['ffmpeg', 'ffmpeg-srtp', 'gstreamer'].map((name) =>
        watchIngress(route(name)),
      );
      const [plainIn = [], srtpIn = [], gstIn = []] = watched;
      const clip = await testClip();
      const senders = [
        startRtpSender({ clip, port: route('ffmpeg').ingress.port }),
        startRtpSender({ clip, port: route('ffmpeg-srtp').ingress.port, srtpKey: key }),
        startGstH264Sender({ port: route('gstreamer').ingress.port, frames: 50 }),
      ];
      for (const sender of senders) {
        const exit = await sender.exited;
        assert.equal(exit.code, 0, exit.stderr);
      }
      // Everything sent has arrived once the last datagram each receiver expects is in.
      const expect = (arrivals: Arrival[], rtcp: boolean): number =>
        arrivals.filter((a) => a.rtcp === rtcp).length;
      for (const [arrivals, [rtpOut, rtcpOut]] of [
        [plainIn, plainOut],
        [srtpIn, srtpOut],
        [gstIn, gstOut],
      ] as const) {
        await rtpOut.waitForCount(expect(arrivals, false));
        await rtcpOut.waitForCount(expect(arrivals, true));
      }
      await sleep(100);

      // The case this is about: ffmpeg's first datagram is RTCP, ahead of any RTP.
      for (const arrivals of [plainIn, srtpIn]) {
        assert.equal(arrivals[0]?.rtcp, true, 'ffmpeg sends an SR before its first RTP packet');
        assert.ok(arrivals.some((a) => !a.rtcp));
      }
      for (const [name, arrivals, [rtpOut, rtcpOut]] of [
        ['ffmpeg', plainIn, plainOut],
        ['ffmpeg-srtp', srtpIn, srtpOut],
        ['gstreamer', gstIn, gstOut],
      ] as const) {
        const snapshot = route(name).snapshot();
        assert.deepEqual(snapshot.drops, {}, `${name}: no drop of any reason`);
        const rtpIn = expect(arrivals, false);
        assert.ok(rtpIn > 40, `${name}: ${rtpIn} RTP packets`);
        assert.equal(snapshot.packetsIn, rtpIn, `${name}: every RTP packet counted in`);
        assert.equal(rtpOut.received.length, rtpIn, `${name}: every RTP packet relayed`);
        assert.equal(
          rtcpOut.received.length,
          expect(arrivals, true),
          `${name}: every RTCP relayed`,
        );
        assert.equal(snapshot.streams.length, 1);
        assert.equal(snapshot.streams[0]?.lost, 0);
      }
      // The SR that came first reached the receiver first, unchanged (plain route).
      assert.deepEqual(plainOut[1].received[0]?.packet, plainIn[0]?.bytes);
      const metrics = new Registry();
      registerStreamMetrics(metrics, table);
      assert.doesNotMatch(
        await metrics.metrics(),
        /streammesh_proxy_route_dropped_packets_total\{/,
      );
    });

    it('while ffmpeg streams, a stranger on another port or address is dropped and counted', async () => {
      const [rtpOut, rtcpOut] = await receiverPair();
      await start([
        {
          name: 'guarded',
          listen: '127.0.0.1:0',
          destinations: [{ address: `127.0.0.1:${rtpOut.port}` }],
        },
      ]);
      const guarded = route('guarded');
      const arrivals = watchIngress(guarded);
      const [otherPort, otherHost] = [await bindOn('127.0.0.1'), await bindOn('127.0.0.2')];
      cleanups.push(() => {
        otherPort.close();
        otherHost.close();
      });
      const clip = await testClip();
      const sender = startRtpSender({ clip, port: guarded.ingress.port });
      const latched = await waitFor(() => guarded.snapshot().sender ?? undefined, 5_000);
      const strangerSsrc = 0x0bad0bad;
      const strangerRtcp = senderReport(strangerSsrc);
      const rounds = 20;
      for (let i = 0; i < rounds; i += 1) {
        const packet = rtp({ sequence: i, ssrc: strangerSsrc });
        await sendFrom(otherPort, packet, guarded.ingress.port);
        await sendFrom(otherHost, packet, guarded.ingress.port);
        await sendFrom(otherHost, strangerRtcp, guarded.ingress.port + 1);
        await sleep(20);
      }
      const exit = await sender.exited;
      assert.equal(exit.code, 0, exit.stderr);
      const fromSender = arrivals.filter((a) => a.from === `${latched.address}:${latched.port}`);
      await rtpOut.waitForCount(fromSender.length);
      await sleep(100);

      const snapshot = guarded.snapshot();
      assert.deepEqual(snapshot.drops, { unlatched_source: 3 * rounds });
      assert.deepEqual(snapshot.sender, latched, 'the stranger neither latched nor unlatched');
      assert.equal(rtpOut.received.length, fromSender.length, "every one of ffmpeg's packets");
      assert.ok(rtpOut.received.every(({ packet }) => packet.readUInt32BE(8) !== strangerSsrc));
      assert.ok(rtcpOut.received.length > 0);
      assert.ok(rtcpOut.received.every(({ packet }) => !packet.equals(strangerRtcp)));
      const metrics = new Registry();
      registerStreamMetrics(metrics, table);
      assert.match(
        await metrics.metrics(),
        new RegExp(
          `streammesh_proxy_route_dropped_packets_total\\{route="guarded",reason="unlatched_source"\\} ${3 * rounds}\\n`,
        ),
      );
    });

    it("RTCP ahead of the first RTP: relayed if it is the sender's, dropped and counted if not or too old", async () => {
      const [rtpOut, rtcpOut] = await receiverPair();
      await start([
        {
          name: 'early',
          listen: '127.0.0.1:0',
          destinations: [{ address: `127.0.0.1:${rtpOut.port}` }],
        },
        {
          name: 'stale',
          listen: '127.0.0.1:0',
          destinations: [{ address: `127.0.0.1:${rtpOut.port}` }],
        },
        {
          name: 'flooded',
          listen: '127.0.0.1:0',
          destinations: [{ address: `127.0.0.1:${rtpOut.port}` }],
        },
      ]);
      const [sender, senderRtcp] = await UdpPeer.bindPair();
      const stranger = await bindOn('127.0.0.2');
      cleanups.push(() => {
        sender.close();
        senderRtcp.close();
        stranger.close();
      });
      const ssrc = 0x5e4d;
      const ownSr = senderReport(ssrc);
      const strangerSr = senderReport(0x0bad);

      // 'early': the stranger's SR and the sender's own SR, then the sender's first RTP packet.
      const early = route('early');
      await sendFrom(stranger, strangerSr, early.ingress.port + 1);
      await senderRtcp.send(ownSr, early.ingress.port + 1);
      await sleep(50);
      assert.equal(early.snapshot().sender, null, 'RTCP latches nothing');
      assert.equal(rtcpOut.received.length, 0, 'held until a sender latches');
      await sender.send(rtp({ sequence: 1, ssrc }), early.ingress.port);
      await rtpOut.waitForCount(1);
      await rtcpOut.waitForCount(1);
      await sleep(50);
      assert.deepEqual(
        rtcpOut.received.map(({ packet }) => packet),
        [ownSr],
      );
      assert.deepEqual(early.snapshot().sender, { address: '127.0.0.1', port: sender.port });
      assert.deepEqual(early.snapshot().drops, { unlatched_source: 1 });

      // 'stale': the sender's SR waited more than a second for its RTP.
      const stale = route('stale');
      await senderRtcp.send(ownSr, stale.ingress.port + 1);
      await sleep(1_200);
      await sender.send(rtp({ sequence: 1, ssrc }), stale.ingress.port);
      await rtpOut.waitForCount(2);
      await sleep(50);
      assert.equal(rtcpOut.received.length, 1, 'the old SR is not relayed');
      assert.deepEqual(stale.snapshot().drops, { unlatched_source: 1 });

      // 'flooded': six early datagrams, at most four wait; the two oldest are dropped.
      const flooded = route('flooded');
      for (let i = 0; i < 6; i += 1) await sendFrom(stranger, strangerSr, flooded.ingress.port + 1);
      await sleep(50);
      assert.deepEqual(flooded.snapshot().drops, { unlatched_source: 2 });
      await sender.send(rtp({ sequence: 1, ssrc }), flooded.ingress.port);
      await rtpOut.waitForCount(3);
      await sleep(50);
      assert.equal(rtcpOut.received.length, 1, "none of the stranger's RTCP is relayed");
      assert.deepEqual(flooded.snapshot().drops, { unlatched_source: 6 });
    });
  },
);
