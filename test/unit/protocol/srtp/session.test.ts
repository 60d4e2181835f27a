/**
 * SrtpSession behaviour: rollover counter across the wrap, replay window,
 * authentication failures that leave state alone, malformed input that never
 * throws, the SRTCP index, bounded per-SSRC state and option checks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  generateKeyingMaterial,
  SrtpKeyError,
  SrtpOptionsError,
  srtpProfiles,
  type SrtpProfile,
  type SrtpResult,
} from '../../../../src/protocol/srtp/index.js';
import {
  randomRtpPacket,
  rtcpPacket,
  rtpPacket,
  SeededRandom,
} from '../../../helpers/protocol/srtp-packets.js';

const rtpOverhead: Readonly<Record<SrtpProfile, number>> = {
  AES_CM_128_HMAC_SHA1_80: 10,
  AES_CM_128_HMAC_SHA1_32: 4,
  AEAD_AES_128_GCM: 16,
  AEAD_AES_256_GCM: 16,
};
const rtcpOverhead: Readonly<Record<SrtpProfile, number>> = {
  AES_CM_128_HMAC_SHA1_80: 14,
  AES_CM_128_HMAC_SHA1_32: 14,
  AEAD_AES_128_GCM: 20,
  AEAD_AES_256_GCM: 20,
};

function packetOf(result: SrtpResult): Buffer {
  assert.ok(result.ok, `expected a packet, got ${JSON.stringify(result)}`);
  // A copy: the libsrtp engine's packet is a view it overwrites on its next call.
  return Buffer.from(result.packet);
}

import { sessionsOn, srtpEngines } from '../../../helpers/protocol/srtp-engines.js';

for (const engine of srtpEngines) {
  const newSession = sessionsOn(engine);

  describe(`engine ${engine}`, () => {
    function pair(
      profile: SrtpProfile,
      options: { replayWindow?: number; maxSsrcs?: number } = {},
    ) {
      const keys = generateKeyingMaterial(profile);
      return { sender: newSession(keys, options), receiver: newSession(keys, options) };
    }

    function media(seq: number, ssrc = 0xcafe0001): Buffer {
      return rtpPacket({ seq, ssrc, payload: Buffer.from(`payload ${seq}`) });
    }

    function flipLastByte(packet: Buffer): Buffer {
      const copy = Buffer.from(packet);
      copy.writeUInt8(copy.readUInt8(copy.length - 1) ^ 0x01, copy.length - 1);
      return copy;
    }

    for (const profile of srtpProfiles) {
      describe(`SrtpSession ${profile}`, () => {
        it('round-trips RTP with CSRCs, an extension and padding; adds the profile tag length', () => {
          const { sender, receiver } = pair(profile);
          const plain = rtpPacket({
            seq: 7,
            ssrc: 0x01020304,
            csrcs: [1, 2, 3],
            extension: { profile: 0xbede, data: Buffer.from('1234abcd', 'hex') },
            payload: Buffer.from('hello'),
            padding: 3,
          });
          const copy = Buffer.from(plain);
          const protectedPacket = packetOf(sender.protectRtp(plain));
          assert.equal(protectedPacket.length, plain.length + rtpOverhead[profile]);
          // The header stays in the clear (RFC 3711 §3.1); the payload does not.
          assert.deepEqual(protectedPacket.subarray(0, 32), plain.subarray(0, 32));
          assert.notDeepEqual(protectedPacket.subarray(32, plain.length), plain.subarray(32));
          assert.deepEqual(receiver.unprotectRtp(protectedPacket), { ok: true, packet: plain });
          assert.deepEqual(plain, copy, 'protect leaves its input alone');
        });

        it('round-trips RTCP and adds E|index and the SRTCP tag', () => {
          const { sender, receiver } = pair(profile);
          const plain = rtcpPacket(new SeededRandom(1), 0x0badcafe);
          const protectedPacket = packetOf(sender.protectRtcp(plain));
          assert.equal(protectedPacket.length, plain.length + rtcpOverhead[profile]);
          assert.deepEqual(protectedPacket.subarray(0, 8), plain.subarray(0, 8));
          assert.deepEqual(receiver.unprotectRtcp(protectedPacket), { ok: true, packet: plain });
        });

        it('keeps decrypting across the sequence wrap 65535 -> 0 (ROC 0 -> 1 -> 2)', () => {
          const { sender, receiver } = pair(profile);
          let seq = 65000;
          for (let i = 0; i < 2 * 65536 + 1000; i += 97) {
            const plain = media(seq);
            assert.deepEqual(receiver.unprotectRtp(packetOf(sender.protectRtp(plain))), {
              ok: true,
              packet: plain,
            });
            seq = (seq + 97) % 0x1_0000;
          }
        });

        it('decrypts packets reordered around the wrap', () => {
          const { sender, receiver } = pair(profile);
          const sent = [65532, 65533, 65534, 65535, 0, 1, 2, 3].map((seq) => {
            const plain = media(seq);
            return { plain, wire: packetOf(sender.protectRtp(plain)) };
          });
          for (const i of [0, 1, 4, 2, 5, 3, 7, 6]) {
            const packet = sent[i];
            assert.ok(packet);
            assert.deepEqual(receiver.unprotectRtp(packet.wire), {
              ok: true,
              packet: packet.plain,
            });
          }
        });

        it('protects packets handed to it reordered around the wrap with the ROC their receiver computes', () => {
          const { sender, receiver } = pair(profile);
          // A relay forwards what it gets: 0 before 65535 gives 65535 ROC 0, 0 ROC 1.
          const order = [65533, 65534, 0, 65535, 1, 2];
          const wires = order.map((seq) => packetOf(sender.protectRtp(media(seq))));
          for (const [i, wire] of wires.entries()) {
            assert.deepEqual(receiver.unprotectRtp(wire), {
              ok: true,
              packet: media(order[i] ?? 0),
            });
          }
        });

        it("drops a duplicate as 'replay' and one older than the window as 'replay_too_old'", () => {
          const { sender, receiver } = pair(profile);
          const wires = Array.from({ length: 300 }, (_, seq) =>
            packetOf(sender.protectRtp(media(seq))),
          );
          for (const wire of wires) assert.ok(receiver.unprotectRtp(wire).ok);
          const at = (seq: number): Buffer => wires[seq] ?? Buffer.alloc(0);
          assert.deepEqual(receiver.unprotectRtp(at(299)), { ok: false, reason: 'replay' });
          assert.deepEqual(receiver.unprotectRtp(at(172)), { ok: false, reason: 'replay' });
          // Default window 128: 299 - 171 = 128 is outside it.
          assert.deepEqual(receiver.unprotectRtp(at(171)), { ok: false, reason: 'replay_too_old' });
          assert.deepEqual(receiver.unprotectRtp(at(0)), { ok: false, reason: 'replay_too_old' });
        });

        it('honours a configured replay window', () => {
          const { sender, receiver } = pair(profile, { replayWindow: 64 });
          const wires = Array.from({ length: 100 }, (_, seq) =>
            packetOf(sender.protectRtp(media(seq))),
          );
          const late = [wires[35], wires[36]];
          for (const [seq, wire] of wires.entries()) {
            if (seq !== 35 && seq !== 36) assert.ok(receiver.unprotectRtp(wire).ok);
          }
          assert.deepEqual(receiver.unprotectRtp(late[0] ?? Buffer.alloc(0)), {
            ok: false,
            reason: 'replay_too_old',
          });
          assert.ok(receiver.unprotectRtp(late[1] ?? Buffer.alloc(0)).ok);
        });

        it("drops a wrong tag as 'auth_failed' without moving the replay window or the ROC", () => {
          const { sender, receiver } = pair(profile);
          const send = (seq: number): Buffer => packetOf(sender.protectRtp(media(seq)));
          assert.ok(receiver.unprotectRtp(send(40000)).ok);
          // Had a forged 40500 been committed, everything up to 40372 would be too old.
          const ahead = send(40500);
          assert.deepEqual(receiver.unprotectRtp(flipLastByte(ahead)), {
            ok: false,
            reason: 'auth_failed',
          });
          // A forged SEQ 100 estimates ROC 1 (Appendix A); that guess must not stick either.
          const stranger = newSession(generateKeyingMaterial(profile));
          assert.deepEqual(receiver.unprotectRtp(packetOf(stranger.protectRtp(media(100)))), {
            ok: false,
            reason: 'auth_failed',
          });
          assert.ok(receiver.unprotectRtp(send(39990)).ok, 'window and ROC where they were');
          assert.ok(receiver.unprotectRtp(ahead).ok, 'the forgery did not mark 40500 as seen');
        });

        it('counts SRTCP indices per SSRC from 0 and drops SRTCP replays', () => {
          const { sender, receiver } = pair(profile);
          const random = new SeededRandom(2);
          const indexOf = (packet: Buffer): number =>
            packet.readUInt32BE(packet.length - (profile.startsWith('AEAD') ? 4 : 14));
          const a = [0, 1, 2].map(() => packetOf(sender.protectRtcp(rtcpPacket(random, 0xaaaa))));
          const b = packetOf(sender.protectRtcp(rtcpPacket(random, 0xbbbb)));
          assert.deepEqual(a.map(indexOf), [0x8000_0000, 0x8000_0001, 0x8000_0002]);
          assert.equal(indexOf(b), 0x8000_0000);
          assert.ok(receiver.unprotectRtcp(a[1] ?? b).ok);
          assert.deepEqual(receiver.unprotectRtcp(flipLastByte(a[2] ?? b)), {
            ok: false,
            reason: 'auth_failed',
          });
          assert.ok(receiver.unprotectRtcp(a[2] ?? b).ok, 'the forgery left index 2 unseen');
          assert.ok(receiver.unprotectRtcp(a[0] ?? b).ok, 'late but inside the window');
          assert.deepEqual(receiver.unprotectRtcp(a[0] ?? b), { ok: false, reason: 'replay' });
          assert.ok(receiver.unprotectRtcp(b).ok, 'another SSRC has its own window');
        });

        it("drops SRTCP older than the window as 'replay_too_old'", () => {
          const { sender, receiver } = pair(profile);
          const random = new SeededRandom(3);
          const wires = Array.from({ length: 200 }, () =>
            packetOf(sender.protectRtcp(rtcpPacket(random, 0xcccc))),
          );
          for (const wire of wires.slice(100)) assert.ok(receiver.unprotectRtcp(wire).ok);
          assert.deepEqual(receiver.unprotectRtcp(wires[71] ?? Buffer.alloc(0)), {
            ok: false,
            reason: 'replay_too_old',
          });
          assert.ok(receiver.unprotectRtcp(wires[72] ?? Buffer.alloc(0)).ok);
        });

        it('returns a reason, never throws, for truncated and inconsistent packets', () => {
          const { sender, receiver } = pair(profile);
          const tag = rtpOverhead[profile];
          const good = packetOf(sender.protectRtp(media(1)));
          const cases: readonly (readonly [string, Buffer, string])[] = [
            ['empty', Buffer.alloc(0), 'too_short'],
            ...Array.from(
              { length: 11 },
              (_, i) => [`${i + 1} bytes`, good.subarray(0, i + 1), 'too_short'] as const,
            ),
            ['tag only', good.subarray(good.length - tag), 'too_short'],
            ['header without tag room', good.subarray(0, 12 + tag - 1), 'too_short'],
            ['version 1', withByte(good, 0, 0x40), 'bad_header'],
            ['version 0', withByte(good, 0, 0x00), 'bad_header'],
            ['CSRC count past the end', withByte(good, 0, 0x8f), 'bad_header'],
            [
              'extension with no room for its header',
              withByte(rtpPacket({ seq: 1, ssrc: 1 }), 0, 0x90, tag),
              'bad_header',
            ],
            ['extension length past the end', extensionLengthLie(good), 'bad_header'],
            ['truncated by one byte', good.subarray(0, good.length - 1), 'auth_failed'],
          ];
          for (const [name, packet, reason] of cases) {
            assert.deepEqual(receiver.unprotectRtp(packet), { ok: false, reason }, name);
          }
          assert.deepEqual(sender.protectRtp(Buffer.alloc(0)), { ok: false, reason: 'too_short' });
          assert.deepEqual(sender.protectRtp(Buffer.alloc(11, 0x80)), {
            ok: false,
            reason: 'too_short',
          });
          assert.deepEqual(sender.protectRtp(withByte(media(1), 0, 0x85)), {
            ok: false,
            reason: 'bad_header',
          });
          assert.deepEqual(sender.protectRtp(withByte(media(1), 0, 0x40)), {
            ok: false,
            reason: 'bad_header',
          });
          assert.ok(receiver.unprotectRtp(good).ok, 'none of that touched the stream');
        });

        it('returns a reason, never throws, for truncated and invalid SRTCP', () => {
          const { sender, receiver } = pair(profile);
          const overhead = rtcpOverhead[profile];
          const good = packetOf(sender.protectRtcp(rtcpPacket(new SeededRandom(4), 0xdddd)));
          for (let length = 0; length < 8 + overhead; length++) {
            assert.deepEqual(receiver.unprotectRtcp(good.subarray(0, length)), {
              ok: false,
              reason: 'too_short',
            });
          }
          assert.deepEqual(receiver.unprotectRtcp(withByte(good, 0, 0x41)), {
            ok: false,
            reason: 'bad_header',
          });
          assert.deepEqual(receiver.unprotectRtcp(good.subarray(0, good.length - 1)), {
            ok: false,
            reason: 'auth_failed',
          });
          assert.deepEqual(sender.protectRtcp(Buffer.alloc(7, 0x80)), {
            ok: false,
            reason: 'too_short',
          });
          assert.deepEqual(sender.protectRtcp(Buffer.alloc(8, 0x00)), {
            ok: false,
            reason: 'bad_header',
          });
          assert.ok(receiver.unprotectRtcp(good).ok);
        });
      });
    }

    function withByte(packet: Buffer, at: number, value: number, extra = 0): Buffer {
      const copy = Buffer.concat([packet, Buffer.alloc(extra)]);
      copy.writeUInt8(value, at);
      return copy;
    }

    /** A protected packet whose header claims a 1000-word extension. */
    function extensionLengthLie(packet: Buffer): Buffer {
      const copy = Buffer.from(packet);
      copy.writeUInt8(0x90, 0);
      copy.writeUInt16BE(1000, 14);
      return copy;
    }

    describe('SrtpSession state and options', () => {
      it('one session may protect and unprotect the same SSRC: send and receive state are apart', () => {
        const session = newSession(generateKeyingMaterial('AEAD_AES_128_GCM'));
        const random = new SeededRandom(5);
        for (let seq = 0; seq < 50; seq++) {
          const plain = randomRtpPacket(random, { seq, ssrc: 7 });
          assert.deepEqual(session.unprotectRtp(packetOf(session.protectRtp(plain))), {
            ok: true,
            packet: plain,
          });
        }
      });

      it("a packet a method returns stays intact across calls of the other methods (each has its own work buffer): an RTP unprotect's across an RTCP unprotect", () => {
        // The relay holds an unprotected RTP packet while it unprotects and
        // sends the SRTCP that came ahead of it (media-route.ts), and protects
        // RTCP while RTP is in flight. Views, not copies: libsrtp's packets are
        // views of buffers it reuses.
        const keys = generateKeyingMaterial('AES_CM_128_HMAC_SHA1_80');
        const peer = newSession(keys);
        const session = newSession(keys);
        const random = new SeededRandom(11);
        // Several rounds: the first SRTCP index is sent apart (libsrtp-transform.ts).
        for (let round = 0; round < 4; round++) {
          const rtpIn = randomRtpPacket(random, { seq: 500 + round, ssrc: 0x5eed });
          const rtcpIn = rtcpPacket(random, 0x5eed, 12);
          const rtpOut = randomRtpPacket(random, { seq: 900 + round, ssrc: 0xfeed });
          const rtcpOut = rtcpPacket(random, 0xfeed, 9);
          const srtp = packetOf(peer.protectRtp(rtpIn));
          const srtcp = packetOf(peer.protectRtcp(rtcpIn));

          const fromUnprotectRtp = session.unprotectRtp(srtp);
          const fromUnprotectRtcp = session.unprotectRtcp(srtcp);
          const fromProtectRtp = session.protectRtp(rtpOut);
          const sentRtp = packetOf(fromProtectRtp);
          const fromProtectRtcp = session.protectRtcp(rtcpOut);
          const sentRtcp = packetOf(fromProtectRtcp);
          const views: [string, SrtpResult, Buffer][] = [
            ['unprotectRtp', fromUnprotectRtp, rtpIn],
            ['unprotectRtcp', fromUnprotectRtcp, rtcpIn],
            ['protectRtp', fromProtectRtp, sentRtp],
            ['protectRtcp', fromProtectRtcp, sentRtcp],
          ];
          // After all four calls, every packet is still the one its call returned.
          for (const [what, view, expected] of views) {
            assert.ok(view.ok, `round ${round}: ${what}`);
            assert.deepEqual(view.packet, expected, `round ${round}: ${what}'s packet`);
          }
          // And the protected ones are what the peer opens.
          assert.deepEqual(peer.unprotectRtp(sentRtp), { ok: true, packet: rtpOut });
          assert.deepEqual(peer.unprotectRtcp(sentRtcp), { ok: true, packet: rtcpOut });
        }
      });

      it('remembers at most maxSsrcs streams, forgetting the least recently used', () => {
        const { sender, receiver } = pair('AES_CM_128_HMAC_SHA1_80', { maxSsrcs: 3 });
        const [one, two, three, four] = [1, 2, 3, 4].map((ssrc) =>
          packetOf(sender.protectRtp(media(10, ssrc))),
        );
        assert.ok(one && two && three && four);
        for (const wire of [one, two, three]) assert.ok(receiver.unprotectRtp(wire).ok);
        // SSRC 1 is looked up again, so SSRC 2 is now the least recently used.
        assert.deepEqual(receiver.unprotectRtp(one), { ok: false, reason: 'replay' });
        assert.ok(receiver.unprotectRtp(four).ok);
        assert.deepEqual(receiver.unprotectRtp(one), { ok: false, reason: 'replay' });
        assert.deepEqual(receiver.unprotectRtp(three), { ok: false, reason: 'replay' });
        // SSRC 2's state is gone, so its old packet starts a stream again: the price of the
        // bound, paid by the quietest stream.
        assert.ok(receiver.unprotectRtp(two).ok);
      });

      it('throws SrtpKeyError for keys of the wrong length and SrtpOptionsError for bad options', () => {
        const keys = generateKeyingMaterial('AEAD_AES_256_GCM');
        assert.throws(
          () => newSession({ ...keys, masterKey: keys.masterKey.subarray(0, 16) }),
          (error: unknown) => error instanceof SrtpKeyError && error.code === 'ERR_SRTP_KEY',
        );
        assert.throws(
          () => newSession({ ...keys, masterSalt: Buffer.alloc(14) }),
          (error: unknown) => error instanceof SrtpKeyError && error.code === 'ERR_SRTP_KEY',
        );
        for (const options of [
          { replayWindow: 63 },
          { replayWindow: 0x8000 },
          { replayWindow: 100.5 },
          { maxSsrcs: 0 },
        ]) {
          assert.throws(
            () => newSession(keys, options),
            (error: unknown) =>
              error instanceof SrtpOptionsError && error.code === 'ERR_SRTP_OPTIONS',
          );
        }
      });
    });
  });
}
