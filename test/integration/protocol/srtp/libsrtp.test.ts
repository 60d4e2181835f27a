/**
 * Interop with libsrtp2 (through libsrtp-peer.c), for every profile: our
 * protected packets are byte-identical to libsrtp's, each side unprotects the
 * other's across a sequence-number wrap, and both receivers reach the same
 * verdict (ok, auth_failed, replay, replay_too_old) for every packet of a
 * reordered, duplicated and corrupted delivery: a differential test of the
 * ROC estimate and the replay window against the reference implementation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  generateKeyingMaterial,
  srtpProfiles,
  type SrtpKeyingMaterial,
  type SrtpResult,
} from '../../../../src/protocol/srtp/index.js';
import {
  LibsrtpPeer,
  libsrtpPeerBuild,
  libsrtpStatus,
  type PeerReply,
} from '../../../helpers/peers/libsrtp-peer.js';
import {
  randomRtpPacket,
  rtcpPacket,
  SeededRandom,
} from '../../../helpers/protocol/srtp-packets.js';

// scripts/install-test-peers.sh installs cc and libsrtp2-dev: without them this fails, not skips.
const build = libsrtpPeerBuild();

async function withPeer<T>(
  keys: SrtpKeyingMaterial,
  window: number,
  body: (peer: LibsrtpPeer) => Promise<T>,
): Promise<T> {
  if (!('binary' in build)) throw new Error(build.unavailable);
  const peer = new LibsrtpPeer(build.binary, keys, window);
  try {
    return await body(peer);
  } finally {
    await peer.close();
  }
}

function ours(result: SrtpResult): string {
  return result.ok ? 'ok' : result.reason;
}

function theirs(reply: PeerReply): string {
  if (reply.ok) return 'ok';
  switch (reply.status) {
    case libsrtpStatus.authFail:
      return 'auth_failed';
    case libsrtpStatus.replayFail:
      return 'replay';
    case libsrtpStatus.replayOld:
      return 'replay_too_old';
    case libsrtpStatus.badParam:
    case libsrtpStatus.parseError:
      return 'bad_header';
    default:
      return `libsrtp status ${reply.status}`;
  }
}

/**
 * Verdicts side by side. A packet whose header was corrupted is malformed to
 * both, but libsrtp may find that out after its replay check where we find it
 * before (we parse the header first): any drop on one side matches 'bad_header'
 * on the other.
 */
function assertSameVerdicts(mine: readonly string[], reference: readonly string[]): void {
  assert.equal(mine.length, reference.length);
  const aligned = mine.map((verdict, i) => {
    const other = reference[i] ?? '';
    const malformed = verdict === 'bad_header' || other === 'bad_header';
    return malformed && verdict !== 'ok' && other !== 'ok' ? other : verdict;
  });
  assert.deepEqual(aligned, reference);
}

function packetOf(result: SrtpResult | PeerReply): Buffer {
  assert.ok(result.ok, `expected a packet, got ${JSON.stringify(result)}`);
  // A copy: the libsrtp engine's packet is a view it overwrites on its next call.
  return Buffer.from(result.packet);
}

/** A result whose packet is ours to keep: the libsrtp engine's is a view reused on its next call. */
function owned(result: SrtpResult): SrtpResult {
  return result.ok ? { ok: true, packet: Buffer.from(result.packet) } : result;
}

/** Swaps packets up to `distance` apart, so that some arrive late. */
function reorder<T>(random: SeededRandom, items: readonly T[], distance: number): T[] {
  const out = [...items];
  for (let i = 0; i < out.length; i++) {
    if (random.below(3) !== 0) continue;
    const j = Math.min(out.length - 1, i + random.below(distance));
    const a = out[i];
    const b = out[j];
    if (a === undefined || b === undefined) continue;
    out[i] = b;
    out[j] = a;
  }
  return out;
}

/** Reordered, with duplicates (recent and long past) and bit-flipped copies mixed in. */
function chaoticDelivery(random: SeededRandom, packets: readonly Buffer[]): Buffer[] {
  const delivered: Buffer[] = [];
  for (const packet of reorder(random, packets, 40)) {
    delivered.push(packet);
    if (random.below(15) === 0) {
      const back = random.below(4) === 0 ? random.below(delivered.length) : random.below(10);
      const earlier = delivered[Math.max(0, delivered.length - 1 - back)];
      if (earlier !== undefined) delivered.push(earlier);
    }
    if (random.below(20) === 0) {
      const corrupted = Buffer.from(packet);
      const at = random.below(corrupted.length);
      corrupted.writeUInt8(corrupted.readUInt8(at) ^ (1 << random.below(8)), at);
      delivered.push(corrupted);
    }
  }
  return delivered;
}

/** One SSRC's sequence numbers from 65000 across the wrap, with losses and a few big gaps. */
function sequenceNumbers(random: SeededRandom, count: number): number[] {
  const seqs: number[] = [];
  let seq = 65000;
  for (let i = 0; i < count; i++) {
    seqs.push(seq);
    const roll = random.below(100);
    const step = roll < 90 ? 1 : roll < 99 ? 2 + random.below(20) : 100 + random.below(400);
    seq = (seq + step) % 0x1_0000;
  }
  return seqs;
}

import { sessionsOn, srtpEngines } from '../../../helpers/protocol/srtp-engines.js';

// Both of our engines against the libsrtp2 peer process (an independent libsrtp).
for (const engine of srtpEngines) {
  const newSession = sessionsOn(engine);

  describe(`engine ${engine}`, () => {
    describe('libsrtp2 interop', () => {
      it('builds the libsrtp2 peer', () => {
        assert.ok('binary' in build, 'unavailable' in build ? build.unavailable : '');
      });

      for (const profile of srtpProfiles) {
        describe(profile, () => {
          it('protects RTP byte for byte as libsrtp does, across the wrap, and each side unprotects the other', async () => {
            const random = new SeededRandom(0x5eed0001);
            const keys = generateKeyingMaterial(profile);
            const sender = newSession(keys);
            const ssrcs = [0x11111111, 0xdeadbeef, random.next()];
            const plain = Array.from({ length: 600 }, (_, i) =>
              randomRtpPacket(random, {
                seq: (65300 + Math.floor(i / 3)) % 0x1_0000,
                ssrc: ssrcs[i % 3] ?? 0,
              }),
            );
            const mine = plain.map((packet) => packetOf(sender.protectRtp(packet)));

            await withPeer(keys, 128, async (peer) => {
              const theirsProtected = (await peer.run(plain.map((p) => ['p', p] as const))).map(
                packetOf,
              );
              assert.deepEqual(mine, theirsProtected);

              // Reordered around the wrap: libsrtp takes ours, we take libsrtp's.
              const order = reorder(random, [...plain.keys()], 30);
              const replies = await peer.run(
                order.map((i) => ['u', mine[i] ?? Buffer.alloc(0)] as const),
              );
              assert.deepEqual(
                replies.map(packetOf),
                order.map((i) => plain[i]),
              );
              const receiver = newSession(keys);
              for (const i of order) {
                assert.deepEqual(receiver.unprotectRtp(theirsProtected[i] ?? Buffer.alloc(0)), {
                  ok: true,
                  packet: plain[i],
                });
              }
            });
          });

          it('protects RTCP byte for byte as libsrtp does (SRTCP tag and index), and each side unprotects the other', async () => {
            const random = new SeededRandom(0x5eed0002);
            const keys = generateKeyingMaterial(profile);
            const sender = newSession(keys);
            const ssrcs = [0x22222222, random.next()];
            // libsrtp's first SRTCP index is 1, ours 0 (RFC 3711 §3.4): one packet each to line them up.
            const warmUps = ssrcs.map((ssrc) =>
              packetOf(sender.protectRtcp(rtcpPacket(random, ssrc))),
            );
            const plain = Array.from({ length: 200 }, (_, i) =>
              rtcpPacket(random, ssrcs[i % 2] ?? 0, random.below(40)),
            );
            const mine = plain.map((packet) => packetOf(sender.protectRtcp(packet)));

            await withPeer(keys, 128, async (peer) => {
              const theirsProtected = (await peer.run(plain.map((p) => ['pc', p] as const))).map(
                packetOf,
              );
              assert.deepEqual(mine, theirsProtected);
              // 80-bit SRTCP tag under every AES-CM profile, _32 included (RFC 3711 §5.2, libsrtp).
              const overhead = profile.startsWith('AES_CM') ? 14 : 20;
              assert.equal(mine[0]?.length, (plain[0]?.length ?? 0) + overhead);

              const replies = await peer.run([...warmUps, ...mine].map((p) => ['uc', p] as const));
              assert.deepEqual(replies.map(packetOf).slice(2), plain);
              const receiver = newSession(keys);
              for (const [i, packet] of theirsProtected.entries()) {
                assert.deepEqual(receiver.unprotectRtcp(packet), { ok: true, packet: plain[i] });
              }
            });
          });

          for (const window of profile === 'AEAD_AES_128_GCM' ? [128, 1024] : [128]) {
            it(`agrees with libsrtp on every SRTP verdict of a chaotic delivery (window ${window})`, async () => {
              const random = new SeededRandom(0x5eed0003 + window);
              const keys = generateKeyingMaterial(profile);
              const sender = newSession(keys);
              const protectedPackets = [0x33333333, 0x44444444].flatMap((ssrc) =>
                sequenceNumbers(random, 1500).map((seq) =>
                  packetOf(
                    sender.protectRtp(randomRtpPacket(random, { seq, ssrc, maxPayload: 200 })),
                  ),
                ),
              );
              const delivery = chaoticDelivery(random, protectedPackets);
              const receiver = newSession(keys, { replayWindow: window });
              const mine = delivery.map((packet) => owned(receiver.unprotectRtp(packet)));

              await withPeer(keys, window, async (peer) => {
                const replies = await peer.run(delivery.map((p) => ['u', p] as const));
                assertSameVerdicts(mine.map(ours), replies.map(theirs));
                for (const [i, reply] of replies.entries()) {
                  if (reply.ok)
                    assert.deepEqual(packetOf(mine[i] ?? { ok: false, status: 0 }), reply.packet);
                }
              });
              const verdicts = new Set(mine.map(ours));
              for (const verdict of ['ok', 'auth_failed', 'replay', 'replay_too_old']) {
                assert.ok(verdicts.has(verdict), `the delivery exercises ${verdict}`);
              }
            });
          }

          it('agrees with libsrtp on every SRTCP verdict of a chaotic delivery', async () => {
            const random = new SeededRandom(0x5eed0004);
            const keys = generateKeyingMaterial(profile);
            const sender = newSession(keys);
            const protectedPackets = Array.from({ length: 800 }, (_, i) =>
              packetOf(
                sender.protectRtcp(rtcpPacket(random, i % 2 === 0 ? 0x55555555 : 0x66666666)),
              ),
            );
            const delivery = chaoticDelivery(random, protectedPackets);
            // libsrtp's SRTCP replay database is fixed at 128 packets.
            const receiver = newSession(keys, { replayWindow: 128 });
            const mine = delivery.map((packet) => ours(receiver.unprotectRtcp(packet)));
            await withPeer(keys, 128, async (peer) => {
              const replies = await peer.run(delivery.map((p) => ['uc', p] as const));
              assertSameVerdicts(mine, replies.map(theirs));
            });
            assert.ok(mine.includes('replay') && mine.includes('auth_failed'));
          });
        });
      }
    });
  });
}
