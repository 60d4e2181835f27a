/**
 * The SRTP MKI (RFC 3711 §3.1; RFC 7714 §8.1, §9.1 for GCM): where each
 * profile puts it, that a session with one sends it on every packet and drops
 * packets without it or with another one before any crypto, and that a
 * truncated packet never throws. Also the hop keys built on it (hop-key.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertHopKey,
  epochMki,
  generateHopKey,
  generateKeyingMaterial,
  hopKeyingMaterial,
  SrtpKeyError,
  SrtpOptionsError,
  srtpProfiles,
  type HopKey,
  type SrtpProfile,
  type SrtpResult,
} from '../../../../src/protocol/srtp/index.js';
import { rtcpPacket, rtpPacket, SeededRandom } from '../../../helpers/protocol/srtp-packets.js';

/** Bytes after the MKI: the AES-CM tag follows it; GCM's tag is inside the ciphertext before it. */
const rtpAfterMki: Readonly<Record<SrtpProfile, number>> = {
  AES_CM_128_HMAC_SHA1_80: 10,
  AES_CM_128_HMAC_SHA1_32: 4,
  AEAD_AES_128_GCM: 0,
  AEAD_AES_256_GCM: 0,
};
const rtcpAfterMki: Readonly<Record<SrtpProfile, number>> = {
  AES_CM_128_HMAC_SHA1_80: 10,
  AES_CM_128_HMAC_SHA1_32: 10,
  AEAD_AES_128_GCM: 0,
  AEAD_AES_256_GCM: 0,
};

const mki = Buffer.from([0xde, 0xad, 0xbe, 0xef]);

function packetOf(result: SrtpResult): Buffer {
  assert.ok(result.ok, `expected a packet, got ${JSON.stringify(result)}`);
  // A copy: the libsrtp engine's packet is a view it overwrites on its next call.
  return Buffer.from(result.packet);
}

function withoutBytes(packet: Buffer, at: number, length: number): Buffer {
  return Buffer.concat([packet.subarray(0, at), packet.subarray(at + length)]);
}

import { sessionsOn, srtpEngines } from '../../../helpers/protocol/srtp-engines.js';

for (const engine of srtpEngines) {
  const newSession = sessionsOn(engine);

  describe(`engine ${engine}`, () => {
    for (const profile of srtpProfiles) {
      describe(`MKI with ${profile}`, () => {
        const keys = generateKeyingMaterial(profile);
        const payload = Buffer.from('the payload of a test packet');

        it('sits where the RFC puts it: the same packet as without an MKI, with the MKI inserted', () => {
          const plain = rtpPacket({ seq: 1000, ssrc: 0x1234, payload });
          const withMki = packetOf(newSession(keys, { mki }).protectRtp(plain));
          const without = packetOf(newSession(keys).protectRtp(plain));
          assert.equal(withMki.length, without.length + mki.length);
          const at = withMki.length - rtpAfterMki[profile] - mki.length;
          assert.deepEqual(withMki.subarray(at, at + mki.length), mki);
          assert.deepEqual(withoutBytes(withMki, at, mki.length), without);

          const random = new SeededRandom(7);
          const rtcp = rtcpPacket(random, 0x1234);
          const rtcpWithMki = packetOf(newSession(keys, { mki }).protectRtcp(rtcp));
          const rtcpWithout = packetOf(newSession(keys).protectRtcp(rtcp));
          const rtcpAt = rtcpWithMki.length - rtcpAfterMki[profile] - mki.length;
          assert.deepEqual(rtcpWithMki.subarray(rtcpAt, rtcpAt + mki.length), mki);
          assert.deepEqual(withoutBytes(rtcpWithMki, rtcpAt, mki.length), rtcpWithout);
        });

        it('round trips RTP and RTCP, and carriesMki tells its packets from others', () => {
          const sender = newSession(keys, { mki });
          const receiver = newSession(keys, { mki });
          const other = newSession(keys, { mki: Buffer.from([1, 2, 3, 4]) });
          for (let seq = 65_530; seq < 65_545; seq++) {
            const plain = rtpPacket({ seq: seq & 0xffff, ssrc: 0x55, payload });
            const sent = packetOf(sender.protectRtp(plain));
            assert.equal(receiver.carriesMki(sent, 'rtp'), true);
            assert.equal(other.carriesMki(sent, 'rtp'), false);
            assert.deepEqual(packetOf(receiver.unprotectRtp(sent)), plain);
          }
          const rtcp = rtcpPacket(new SeededRandom(3), 0x55);
          const sentRtcp = packetOf(sender.protectRtcp(rtcp));
          assert.equal(receiver.carriesMki(sentRtcp, 'rtcp'), true);
          assert.equal(other.carriesMki(sentRtcp, 'rtcp'), false);
          assert.deepEqual(packetOf(receiver.unprotectRtcp(sentRtcp)), rtcp);
          assert.equal(newSession(keys).carriesMki(sentRtcp, 'rtcp'), false);
        });

        it('drops a packet with another MKI or none, and that leaves the state alone', () => {
          const sender = newSession(keys, { mki });
          const stranger = newSession(keys, { mki: Buffer.from([9, 9, 9, 9]) });
          const plainSender = newSession(keys);
          const receiver = newSession(keys, { mki });
          const plain = rtpPacket({ seq: 10, ssrc: 0x77, payload });
          assert.deepEqual(receiver.unprotectRtp(packetOf(stranger.protectRtp(plain))), {
            ok: false,
            reason: 'auth_failed',
          });
          const noMki = receiver.unprotectRtp(packetOf(plainSender.protectRtp(plain)));
          assert.equal(noMki.ok, false);
          // The same index from the right sender is still fresh: the drops committed nothing.
          assert.deepEqual(
            packetOf(receiver.unprotectRtp(packetOf(sender.protectRtp(plain)))),
            plain,
          );
        });

        it('never throws on any truncation of a packet with an MKI', () => {
          const sender = newSession(keys, { mki });
          const receiver = newSession(keys, { mki });
          const rtp = packetOf(sender.protectRtp(rtpPacket({ seq: 5, ssrc: 1, payload })));
          const rtcp = packetOf(sender.protectRtcp(rtcpPacket(new SeededRandom(1), 1)));
          for (const [packet, kind] of [
            [rtp, 'rtp'],
            [rtcp, 'rtcp'],
          ] as const) {
            for (let length = 0; length < packet.length; length++) {
              const cut = packet.subarray(0, length);
              receiver.carriesMki(cut, kind);
              const result =
                kind === 'rtp' ? receiver.unprotectRtp(cut) : receiver.unprotectRtcp(cut);
              assert.equal(result.ok, false, `${kind} cut to ${length} bytes`);
            }
          }
        });
      });
    }

    describe('MKI options', () => {
      it('refuses an MKI of 0 or more than 128 bytes', () => {
        const keys = generateKeyingMaterial('AEAD_AES_128_GCM');
        assert.throws(() => newSession(keys, { mki: Buffer.alloc(0) }), SrtpOptionsError);
        assert.throws(() => newSession(keys, { mki: Buffer.alloc(129) }), SrtpOptionsError);
        assert.ok(newSession(keys, { mki: Buffer.alloc(128) }));
      });

      it('keeps its own copy of the MKI', () => {
        const keys = generateKeyingMaterial('AEAD_AES_128_GCM');
        const given = Buffer.from([1, 2, 3, 4]);
        const session = newSession(keys, { mki: given });
        given.fill(0);
        assert.deepEqual(session.mki, Buffer.from([1, 2, 3, 4]));
      });
    });

    describe('hop keys', () => {
      it('generates a GCM key by default, with the fields the control plane sends', () => {
        const key = generateHopKey({ hopId: 'cam1:a->b', epoch: 1, notAfter: 1_000_000 });
        assert.equal(key.profile, 'AEAD_AES_128_GCM');
        assert.equal(key.epoch, 1);
        assert.equal(Buffer.from(key.key, 'base64').length, 16 + 12);
        const material = hopKeyingMaterial(key);
        assert.equal(material.masterKey.length, 16);
        assert.notEqual(generateHopKey({ hopId: 'h', epoch: 1, notAfter: 0 }).key, key.key);
        assert.equal(
          Buffer.from(
            generateHopKey({
              hopId: 'h',
              epoch: 2,
              profile: 'AES_CM_128_HMAC_SHA1_80',
              notAfter: 0,
            }).key,
            'base64',
          ).length,
          30,
        );
      });

      it('refuses a bad field by name, without quoting the key', () => {
        const good = generateHopKey({ hopId: 'h', epoch: 3, notAfter: 5 });
        const bad: [Partial<HopKey>, RegExp][] = [
          [{ hopId: '' }, /hopId/],
          [{ epoch: 0 }, /epoch/],
          [{ epoch: 2 ** 32 }, /epoch/],
          [{ epoch: 1.5 }, /epoch/],
          [{ profile: 'NULL' as never }, /profile/],
          [{ notAfter: Number.NaN }, /notAfter/],
          [{ key: 'AAAA' }, /bytes/],
          [{ key: '!!!' }, /base64/],
        ];
        for (const [change, message] of bad) {
          const key = { ...good, ...change };
          assert.throws(
            () => assertHopKey(key),
            (error: unknown) =>
              error instanceof SrtpKeyError &&
              message.test(error.message) &&
              !error.message.includes(good.key),
          );
        }
      });

      it('puts the epoch in a 4-byte big-endian MKI', () => {
        assert.deepEqual(epochMki(1), Buffer.from([0, 0, 0, 1]));
        assert.deepEqual(epochMki(0xfffffffe), Buffer.from([0xff, 0xff, 0xff, 0xfe]));
      });
    });
  });
}
