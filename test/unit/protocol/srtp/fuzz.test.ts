/**
 * Fuzz, seeded so that a failure replays: random buffers and random mutations
 * of valid packets. Unprotect must never throw, and must never accept a packet
 * that is not exactly what a sender with the key produced.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  generateKeyingMaterial,
  srtpProfiles,
  type SrtpResult,
} from '../../../../src/protocol/srtp/index.js';
import {
  randomRtpPacket,
  rtcpPacket,
  SeededRandom,
} from '../../../helpers/protocol/srtp-packets.js';

const seed = Number(process.env['SRTP_FUZZ_SEED'] ?? 0x5a17f00d);

function randomBuffer(random: SeededRandom): Buffer {
  const roll = random.below(10);
  const length = roll < 5 ? random.below(48) : roll < 9 ? random.below(300) : random.below(1600);
  const buffer = random.bytes(length);
  // Mostly version 2, so that most buffers get past the header checks to the crypto.
  if (length > 0 && random.below(5) !== 0)
    buffer.writeUInt8(0x80 | (buffer.readUInt8(0) & 0x3f), 0);
  return buffer;
}

function mutate(random: SeededRandom, packet: Buffer, other: Buffer): Buffer {
  const copy = Buffer.from(packet);
  switch (random.below(6)) {
    case 0: {
      for (let flips = 1 + random.below(3); flips > 0; flips--) {
        const at = random.below(copy.length);
        copy.writeUInt8(copy.readUInt8(at) ^ (1 << random.below(8)), at);
      }
      return copy;
    }
    case 1: {
      const at = random.below(copy.length);
      copy.writeUInt8(random.below(256), at);
      return copy;
    }
    case 2:
      return copy.subarray(0, random.below(copy.length));
    case 3:
      return Buffer.concat([copy, random.bytes(1 + random.below(20))]);
    case 4: {
      const at = random.below(copy.length);
      return Buffer.concat([copy.subarray(0, at), copy.subarray(at + 1)]);
    }
    default: {
      // Another packet's header (same SSRC, other SEQ or index) on this body.
      other.copy(copy, 0, 0, Math.min(12, other.length, copy.length));
      return copy;
    }
  }
}

function assertDropped(result: SrtpResult, what: string): void {
  assert.equal(result.ok, false, what);
}

import { sessionsOn, srtpEngines } from '../../../helpers/protocol/srtp-engines.js';

for (const engine of srtpEngines) {
  const newSession = sessionsOn(engine);

  describe(`engine ${engine}`, () => {
    describe('SRTP fuzz', () => {
      it('100,000 random buffers: unprotect never throws or accepts, protect never throws', () => {
        const random = new SeededRandom(seed);
        const sessions = srtpProfiles.map((profile) => newSession(generateKeyingMaterial(profile)));
        for (let i = 0; i < 100_000; i++) {
          const session = sessions[i % sessions.length];
          assert.ok(session);
          const buffer = randomBuffer(random);
          assertDropped(session.unprotectRtp(buffer), `seed ${seed}, buffer ${i}`);
          assertDropped(session.unprotectRtcp(buffer), `seed ${seed}, buffer ${i}`);
          if (i % 10 === 0) {
            session.protectRtp(buffer);
            session.protectRtcp(buffer);
          }
        }
      });

      for (const profile of srtpProfiles) {
        it(`${profile}: 25,000 mutations of valid packets are all refused, and leave state alone`, () => {
          const random = new SeededRandom(seed ^ profile.length);
          const keys = generateKeyingMaterial(profile);
          const sender = newSession(keys);
          const receiver = newSession(keys);
          // Copied at once: the libsrtp engine's packets are views it overwrites on its next call.
          const owned = (result: SrtpResult): Buffer =>
            result.ok ? Buffer.from(result.packet) : Buffer.alloc(0);
          const rtp = Array.from({ length: 100 }, (_, i) =>
            owned(
              sender.protectRtp(
                randomRtpPacket(random, {
                  seq: (65500 + i) % 0x1_0000,
                  ssrc: 0x1234,
                  maxPayload: 300,
                }),
              ),
            ),
          );
          const rtcp = Array.from({ length: 100 }, () =>
            owned(sender.protectRtcp(rtcpPacket(random, 0x1234, random.below(30)))),
          );

          for (let i = 0; i < 25_000; i++) {
            const isRtp = i % 2 === 0;
            const pool = isRtp ? rtp : rtcp;
            const original = pool[random.below(pool.length)] ?? Buffer.alloc(0);
            const other = pool[random.below(pool.length)] ?? Buffer.alloc(0);
            const mutated = mutate(random, original, other);
            if (mutated.equals(original)) continue;
            const result = isRtp ? receiver.unprotectRtp(mutated) : receiver.unprotectRtcp(mutated);
            assertDropped(result, `seed ${seed}, mutation ${i}`);
          }
          for (const packet of rtp) assert.ok(receiver.unprotectRtp(packet).ok);
          for (const packet of rtcp) assert.ok(receiver.unprotectRtcp(packet).ok);
        });
      }
    });
  });
}
