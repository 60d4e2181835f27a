/**
 * Hostile input on a hop, seeded so that a failure replays: random buffers
 * and mutations of valid hop packets (bit flips, the MKI of the other epoch,
 * truncation, appended bytes, another packet's header). Neither end ever
 * throws or accepts anything but a packet exactly as the sender made it, and
 * the valid packets are all accepted afterwards: the hostile ones moved no
 * state (replay windows, epochs).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HopReceiver, HopSender } from '../../../../src/media/hop/index.js';
import { SenderReport } from '../../../../src/protocol/rtcp/index.js';
import { randomRtpPacket, SeededRandom } from '../../../helpers/protocol/srtp-packets.js';
import { hopId, keyOf, ssrc } from './hop-fixture.js';

const seed = Number(process.env['HOP_FUZZ_SEED'] ?? 0x40b_f022);

function mutate(random: SeededRandom, packet: Buffer, other: Buffer): Buffer {
  const copy = Buffer.from(packet);
  switch (random.below(6)) {
    case 0: {
      const at = random.below(copy.length);
      copy.writeUInt8(copy.readUInt8(at) ^ (1 << random.below(8)), at);
      return copy;
    }
    case 1:
      // The other epoch's MKI (GCM: the last 4 bytes) on this packet.
      other.copy(copy, copy.length - 4, other.length - 4);
      return copy;
    case 2:
      return copy.subarray(0, random.below(copy.length));
    case 3:
      return Buffer.concat([copy, random.bytes(1 + random.below(20))]);
    case 4:
      copy.writeUInt8(random.below(256), random.below(copy.length));
      return copy;
    default:
      other.copy(copy, 0, 0, Math.min(12, other.length, copy.length));
      return copy;
  }
}

function protectedOrEmpty(result: { ok: boolean; packet?: Buffer }): Buffer {
  return result.ok && result.packet !== undefined ? result.packet : Buffer.alloc(0);
}

describe('hop fuzz', () => {
  it('20,000 random buffers and 20,000 mutations: nothing thrown, nothing accepted, no state moved', () => {
    const random = new SeededRandom(seed);
    const first = keyOf(1);
    const second = keyOf(2);
    const sender = new HopSender({ key: first });
    const receiver = new HopReceiver({ hopId });
    receiver.install(first);
    receiver.install(second);

    const sr = (n: number): Buffer =>
      new SenderReport({
        ssrc,
        ntpSeconds: n,
        ntpFraction: n,
        rtpTimestamp: n,
        packetCount: n,
        octetCount: n,
      }).serialize();
    /** Random RTP with a dynamic payload type: 64-95 with the marker would read as RTCP (RFC 5761). */
    const rtpOf = (seq: number): Buffer => {
      const packet = randomRtpPacket(random, { seq, ssrc, maxPayload: 300 });
      packet.writeUInt8((packet.readUInt8(1) & 0x80) | (96 + random.below(32)), 1);
      return packet;
    };
    const make = (count: number, from: number): Buffer[] =>
      Array.from({ length: count }, (_, i) =>
        protectedOrEmpty(
          i % 10 === 9
            ? sender.protectRtcp(sr(from + i), 0)
            : sender.protectRtp(rtpOf(from + i), 0),
        ),
      );
    const epoch1 = make(100, 1000);
    sender.rotate(second, 0);
    const epoch2 = make(100, 1100);

    for (let i = 0; i < 20_000; i++) {
      const length = random.below(400);
      const buffer = random.bytes(length);
      if (length > 0 && random.below(4) !== 0)
        buffer.writeUInt8(0x80 | (buffer.readUInt8(0) & 0x3f), 0);
      assert.equal(receiver.receive(buffer, 0).ok, false, `seed ${seed}, buffer ${i}`);
      assert.equal(sender.receiveRtcp(buffer, 0).ok, false, `seed ${seed}, buffer ${i}`);
    }
    for (let i = 0; i < 20_000; i++) {
      const fromFirst = random.below(2) === 0;
      const pool = fromFirst ? epoch1 : epoch2;
      const otherPool = random.below(2) === 0 ? epoch1 : epoch2;
      const original = pool[random.below(pool.length)] ?? Buffer.alloc(0);
      const other = otherPool[random.below(otherPool.length)] ?? Buffer.alloc(0);
      const mutated = mutate(random, original, other);
      if (mutated.equals(original)) continue;
      assert.equal(receiver.receive(mutated, 0).ok, false, `seed ${seed}, mutation ${i}`);
    }

    assert.deepEqual(receiver.snapshot(0).epochs.current, 1);
    for (const packet of [...epoch1, ...epoch2]) {
      assert.ok(receiver.receive(packet, 1).ok, 'a valid packet after the fuzz');
    }
    assert.equal(receiver.snapshot(1).rtpPackets, 180);
    assert.equal(receiver.snapshot(1).epochs.current, 2);
  });
});
