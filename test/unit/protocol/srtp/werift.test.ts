/**
 * Interop with werift's SRTP (the one in node_modules), for the two profiles it
 * implements (AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM): identical bytes on
 * protect, and each side unprotects the other's, for random packets across a
 * sequence-number wrap. werift estimates the ROC only for in-order packets,
 * so delivery here is in order; reordering is checked against libsrtp.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  RtpHeader,
  SrtcpSession as WeriftSrtcpSession,
  SrtpSession as WeriftSrtpSession,
} from 'werift';
import {
  generateKeyingMaterial,
  SrtpSession,
  type SrtpKeyingMaterial,
  type SrtpProfile,
} from '../../../../src/protocol/srtp/index.js';
import {
  randomRtpPacket,
  rtcpPacket,
  SeededRandom,
} from '../../../helpers/protocol/srtp-packets.js';

const weriftProfiles: readonly (readonly [SrtpProfile, number])[] = [
  ['AES_CM_128_HMAC_SHA1_80', 0x0001],
  ['AEAD_AES_128_GCM', 0x0007],
];

function weriftConfig(keys: SrtpKeyingMaterial, profile: number) {
  return {
    keys: {
      localMasterKey: keys.masterKey,
      localMasterSalt: keys.masterSalt,
      remoteMasterKey: keys.masterKey,
      remoteMasterSalt: keys.masterSalt,
    },
    profile,
  };
}

function weriftProtect(werift: WeriftSrtpSession, plain: Buffer): Buffer {
  const header = RtpHeader.deSerialize(plain);
  return werift.encrypt(plain.subarray(header.payloadOffset), header);
}

function packetOf(result: ReturnType<SrtpSession['protectRtp']>): Buffer {
  assert.ok(result.ok, `expected a packet, got ${JSON.stringify(result)}`);
  // A copy: the libsrtp engine's packet is a view it overwrites on its next call.
  return Buffer.from(result.packet);
}

import { sessionsOn, srtpEngines } from '../../../helpers/protocol/srtp-engines.js';

for (const engine of srtpEngines) {
  const newSession = sessionsOn(engine);

  describe(`engine ${engine}`, () => {
    describe('werift interop', () => {
      for (const [profile, weriftProfile] of weriftProfiles) {
        describe(profile, () => {
          it('SRTP: same bytes as werift, and each unprotects the other, across the wrap', () => {
            const random = new SeededRandom(0x3e71f7);
            const keys = generateKeyingMaterial(profile);
            const ours = newSession(keys);
            const oursReceiving = newSession(keys);
            const werift = new WeriftSrtpSession(weriftConfig(keys, weriftProfile));
            const weriftReceiving = new WeriftSrtpSession(weriftConfig(keys, weriftProfile));
            const ssrcs = [0x01020304, 0xfedcba98, random.next()];
            for (let i = 0; i < 3000; i++) {
              const plain = randomRtpPacket(random, {
                seq: (64500 + Math.floor(i / 3)) % 0x1_0000,
                ssrc: ssrcs[i % 3] ?? 0,
              });
              const mine = packetOf(ours.protectRtp(plain));
              const theirs = weriftProtect(werift, plain);
              assert.deepEqual(mine, theirs, `packet ${i}`);
              assert.deepEqual(weriftReceiving.decrypt(mine), plain, `packet ${i}`);
              assert.deepEqual(oursReceiving.unprotectRtp(theirs), { ok: true, packet: plain });
            }
          });

          it('SRTCP: each unprotects the other, and the bytes match once indices line up', () => {
            const random = new SeededRandom(0x3e71f8);
            const keys = generateKeyingMaterial(profile);
            const ours = newSession(keys);
            const oursReceiving = newSession(keys);
            const werift = new WeriftSrtcpSession(weriftConfig(keys, weriftProfile));
            const weriftReceiving = new WeriftSrtcpSession(weriftConfig(keys, weriftProfile));
            const ssrcs = [0x0a0b0c0d, random.next()];
            // werift numbers SRTCP from 1, RFC 3711 §3.4 from 0: one packet each to line them up.
            for (const ssrc of ssrcs) {
              const first = rtcpPacket(random, ssrc);
              assert.deepEqual(weriftReceiving.decrypt(packetOf(ours.protectRtcp(first))), first);
            }
            for (let i = 0; i < 1000; i++) {
              const plain = rtcpPacket(random, ssrcs[i % 2] ?? 0, random.below(60));
              const mine = packetOf(ours.protectRtcp(plain));
              const theirs = werift.encrypt(plain);
              assert.deepEqual(mine, theirs, `packet ${i}`);
              assert.deepEqual(weriftReceiving.decrypt(mine), plain);
              assert.deepEqual(oursReceiving.unprotectRtcp(theirs), { ok: true, packet: plain });
            }
          });
        });
      }
    });
  });
}
