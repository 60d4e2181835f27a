/**
 * RTP <-> SRTP bridging through the relay, for every profile, with the
 * peers' side done by our SRTP library (ffmpeg and GStreamer take that role
 * in test/e2e/relay/relay-peers.test.ts). A wrong key delivers nothing and
 * counts authentication failures; a replayed packet is dropped; SRTCP that
 * comes ahead of the first SRTP packet goes out ahead of it, both intact; a
 * sender that goes back in its numbering is relayed, and the packets the
 * libsrtp engine hands to node:crypto for it are counted. The
 * relay runs on each SRTP engine in turn (libsrtp2, node:crypto); the peers'
 * side on node:crypto.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { registerStreamMetrics } from '../../../rtp-proxy/media/metrics/stream-metrics.js';
import { MediaRouteTable } from '../../../rtp-proxy/media/relay/media-route-table.js';
import {
  SrtpSession,
  currentSrtpEngine,
  formatInlineKey,
  generateKeyingMaterial,
  parseInlineKey,
  srtpProfiles,
  useSrtpEngine,
} from '../../../src/protocol/srtp/index.js';
import { validateConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';

const log = createLogger('proxy', 'silent');

function protect(session: SrtpSession, packet: Buffer): Buffer {
  const result = session.protectRtp(packet);
  assert.ok(result.ok);
  return result.packet;
}

for (const engine of ['libsrtp', 'node'] as const) {
  describe(`SRTP bridging through the relay (${engine})`, () => {
    before(() => {
      // The relay's legs make their sessions on this thread's engine.
      assert.equal(useSrtpEngine(engine), engine);
    });
    after(() => {
      useSrtpEngine('auto');
    });
    // A closed table takes no config: each case closes its own and starts a new one.
    let table = new MediaRouteTable(log);
    const peers: UdpPeer[] = [];
    after(() => {
      table.close();
      for (const peer of peers) peer.close();
    });

    for (const profile of srtpProfiles) {
      it(`${profile}: SRTP in -> RTP out, and RTP in -> SRTP out`, async () => {
        const [sender, plainReceiver, srtpReceiver] = await Promise.all([
          UdpPeer.bind(),
          UdpPeer.bind(),
          UdpPeer.bind(),
        ]);
        peers.push(sender, plainReceiver, srtpReceiver);
        const inKeys = generateKeyingMaterial(profile);
        const outKeys = generateKeyingMaterial(profile);
        await table.apply(
          validateConfig(
            {
              proxy: {
                rtpPorts: { start: 43000, end: 43999 },
                routes: [
                  {
                    name: 'decrypt',
                    listen: '127.0.0.1:0',
                    srtp: { profile, key: formatInlineKey(inKeys) },
                    destinations: [{ address: `127.0.0.1:${plainReceiver.port}` }],
                  },
                  {
                    name: 'encrypt',
                    listen: '127.0.0.1:0',
                    destinations: [
                      {
                        address: `127.0.0.1:${srtpReceiver.port}`,
                        srtp: { profile, key: formatInlineKey(outKeys) },
                      },
                    ],
                  },
                ],
              },
            },
            'test',
          ),
        );
        const plain = Array.from({ length: 40 }, (_, i) =>
          rtp({ sequence: 65_520 + i, ssrc: 0xabc }),
        );
        // The relay's legs run on the engine under test.
        assert.equal(currentSrtpEngine(), engine);
        assert.equal(table.routes.get('decrypt')?.ingressSrtp?.receive.engine, engine);
        const senderSession = new SrtpSession(inKeys);
        for (const packet of plain)
          await sender.send(
            protect(senderSession, packet),
            table.routes.get('decrypt')?.ingress.port ?? 0,
          );
        const decrypted = await plainReceiver.waitForCount(40);
        assert.deepEqual(
          decrypted.map((r) => r.packet),
          plain,
        );

        for (const packet of plain)
          await sender.send(packet, table.routes.get('encrypt')?.ingress.port ?? 0);
        const encrypted = await srtpReceiver.waitForCount(40);
        const receiverSession = new SrtpSession(outKeys);
        const opened = encrypted.map((r) => receiverSession.unprotectRtp(r.packet));
        assert.deepEqual(
          opened.map((r) => (r.ok ? r.packet : r.reason)),
          plain,
        );
        table.close();
        table = new MediaRouteTable(log);
      });
    }

    it('generates a key per leg when asked, and shows it at /keys', async () => {
      const [sender, receiver] = await Promise.all([UdpPeer.bind(), UdpPeer.bind()]);
      peers.push(sender, receiver);
      const profile = 'AEAD_AES_128_GCM';
      await table.apply(
        validateConfig(
          {
            proxy: {
              rtpPorts: { start: 44000, end: 44999 },
              routes: [
                {
                  name: 'generated',
                  listen: '127.0.0.1:0',
                  srtp: { profile, key: 'generate' },
                  destinations: [{ address: `127.0.0.1:${receiver.port}` }],
                },
              ],
            },
          },
          'test',
        ),
      );
      const [shown] = table.keys();
      assert.equal(shown?.route, 'generated');
      assert.equal(shown.leg, 'ingress');
      assert.equal(shown.generated, true);
      const session = new SrtpSession(parseInlineKey(profile, shown.inline));
      const packet = rtp({ sequence: 9 });
      await sender.send(protect(session, packet), table.routes.get('generated')?.ingress.port ?? 0);
      const [received] = await receiver.waitForCount(1);
      assert.deepEqual(received?.packet, packet);
      table.close();
      table = new MediaRouteTable(log);
    });

    it('SRTCP that arrives before the first SRTP packet: the receiver gets the SR and the RTP packets intact', async () => {
      // The early SR waits for the latch and is unprotected when the first RTP
      // packet has been: with one work buffer in the engine, that RTP packet
      // went out holding the SR's bytes.
      const [sender, receiver] = await Promise.all([UdpPeer.bind(), UdpPeer.bind()]);
      peers.push(sender, receiver);
      const profile = 'AES_CM_128_HMAC_SHA1_80';
      const keys = generateKeyingMaterial(profile);
      await table.apply(
        validateConfig(
          {
            proxy: {
              rtpPorts: { start: 44000, end: 44999 },
              routes: [
                {
                  name: 'early-rtcp',
                  listen: '127.0.0.1:0',
                  rtcpMux: true,
                  srtp: { profile, key: formatInlineKey(keys) },
                  destinations: [{ address: `127.0.0.1:${receiver.port}`, rtcpMux: true }],
                },
              ],
            },
          },
          'test',
        ),
      );
      assert.equal(table.routes.get('early-rtcp')?.ingressSrtp?.receive.engine, engine);
      const port = table.routes.get('early-rtcp')?.ingress.port ?? 0;
      const senderSession = new SrtpSession(keys);
      const sr = Buffer.alloc(28);
      sr[0] = 0x80;
      sr[1] = 200;
      sr.writeUInt16BE(6, 2);
      sr.writeUInt32BE(0xabc, 4);
      sr.writeUInt32BE(0xe100_0000, 8);
      sr.fill(0x11, 16);
      const srtcp = senderSession.protectRtcp(sr);
      assert.ok(srtcp.ok);
      await sender.send(srtcp.packet, port);
      await sleep(50);
      assert.equal(receiver.received.length, 0, 'the SR waits for the first RTP packet');
      const plain = Array.from({ length: 3 }, (_, i) => rtp({ sequence: 100 + i, ssrc: 0xabc }));
      for (const packet of plain) await sender.send(protect(senderSession, packet), port);
      const received = await receiver.waitForCount(4);
      // The SR first (it came ahead of the RTP), then the three RTP packets, byte for byte.
      assert.deepEqual(
        received.map((r) => r.packet),
        [sr, ...plain],
      );
      table.close();
      table = new MediaRouteTable(log);
    });

    it('a sender gone back in its numbering is still relayed, and what libsrtp could not take is counted', async () => {
      const [sender, receiver] = await Promise.all([UdpPeer.bind(), UdpPeer.bind()]);
      peers.push(sender, receiver);
      const profile = 'AES_CM_128_HMAC_SHA1_80';
      const outKeys = generateKeyingMaterial(profile);
      await table.apply(
        validateConfig(
          {
            proxy: {
              rtpPorts: { start: 44000, end: 44999 },
              routes: [
                {
                  name: 'restarted',
                  listen: '127.0.0.1:0',
                  destinations: [
                    {
                      address: `127.0.0.1:${receiver.port}`,
                      srtp: { profile, key: formatInlineKey(outKeys) },
                    },
                  ],
                },
              ],
            },
          },
          'test',
        ),
      );
      const metrics = new Registry();
      registerStreamMetrics(metrics, table);
      const port = table.routes.get('restarted')?.ingress.port ?? 0;
      // The source restarts 4,900 behind: past libsrtp's 1,024-packet send window.
      const first = Array.from({ length: 5 }, (_, i) => rtp({ sequence: 5_000 + i, ssrc: 0x77 }));
      const restarted = Array.from({ length: 5 }, (_, i) => rtp({ sequence: 100 + i, ssrc: 0x77 }));
      for (const packet of [...first, ...restarted]) await sender.send(packet, port);
      const relayed = await receiver.waitForCount(10);
      // Protected as RFC 3711 says (index 100-104 of ROC 0): a receiver that starts there opens them.
      const receiverSession = new SrtpSession(outKeys);
      assert.deepEqual(
        relayed.slice(5).map((r) => {
          const opened = receiverSession.unprotectRtp(r.packet);
          return opened.ok ? opened.packet : opened.reason;
        }),
        restarted,
      );
      const expected = engine === 'libsrtp' ? restarted.length : 0;
      assert.equal(table.routes.get('restarted')?.snapshot().srtpNodeCryptoPackets, expected);
      assert.match(
        await metrics.metrics(),
        new RegExp(
          `streammesh_proxy_route_srtp_node_crypto_packets_total\\{route="restarted"\\} ${expected}\\n`,
        ),
      );
      table.close();
      table = new MediaRouteTable(log);
    });

    it('a wrong key delivers nothing and counts authentication failures; replays are dropped', async () => {
      const [sender, receiver] = await Promise.all([UdpPeer.bind(), UdpPeer.bind()]);
      peers.push(sender, receiver);
      const profile = 'AES_CM_128_HMAC_SHA1_80';
      const routeKeys = generateKeyingMaterial(profile);
      await table.apply(
        validateConfig(
          {
            proxy: {
              rtpPorts: { start: 44000, end: 44999 },
              routes: [
                {
                  name: 'keyed',
                  listen: '127.0.0.1:0',
                  srtp: { profile, key: formatInlineKey(routeKeys) },
                  destinations: [{ address: `127.0.0.1:${receiver.port}` }],
                },
              ],
            },
          },
          'test',
        ),
      );
      const port = table.routes.get('keyed')?.ingress.port ?? 0;
      const wrong = new SrtpSession(generateKeyingMaterial(profile));
      for (let i = 0; i < 25; i += 1) await sender.send(protect(wrong, rtp({ sequence: i })), port);
      await sleep(100);
      assert.equal(receiver.received.length, 0);
      assert.equal(table.routes.get('keyed')?.drops.counts.srtp_auth_failed, 25);

      const right = new SrtpSession(routeKeys);
      const packets = Array.from({ length: 5 }, (_, i) =>
        protect(right, rtp({ sequence: 100 + i })),
      );
      for (const packet of packets) await sender.send(packet, port);
      await receiver.waitForCount(5);
      for (const packet of packets) await sender.send(packet, port);
      await sleep(100);
      assert.equal(receiver.received.length, 5);
      assert.equal(table.routes.get('keyed')?.drops.counts.srtp_replay, 5);
      table.close();
    });
  });
}
