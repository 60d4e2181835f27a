/**
 * A 10,000-packet stream over a hop with 5 key rotations and 1% reordering
 * (each reordered packet overtaken by up to 8 later ones) loses no packet and
 * delivers each exactly once. The sequence numbers wrap during the stream and
 * one rotation falls 6 packets before the wrap, with the packets around it
 * reordered: that is the case where a new key's rollover counter would start
 * wrong without the sender's wrap guard (hop-sender.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HopReceiver, HopSender } from '../../../../src/media/hop/index.js';
import type { HopKey } from '../../../../src/protocol/srtp/index.js';
import { SeededRandom } from '../../../helpers/protocol/srtp-packets.js';
import { hopId, keyOf, mediaPacket } from './hop-fixture.js';

const total = 10_000;
const firstSeq = 60_000;
/** Indices (packets since the start) at which the sender rotates: 5 rotations. */
const rotateAt = new Set([1000, 2500, 0x1_0000 - firstSeq - 6, 7000, 9000]);
const packetIntervalMs = 1;
/** Arrivals before a rotation at which the receiver gets the new key (more than any reordering). */
const installLeadPackets = 50;

interface Sent {
  readonly index: number;
  readonly packet: Buffer;
}

/** 1% of packets, chosen by a seeded generator, move back behind 1..8 later ones; plus the wrap case. */
function reorder(sent: Sent[], random: SeededRandom): Sent[] {
  const out = [...sent];
  for (let i = 0; i < out.length - 9; i++) {
    if (random.below(100) !== 0) continue;
    const [moved] = out.splice(i, 1);
    if (moved !== undefined) out.splice(i + 1 + random.below(8), 0, moved);
  }
  // Around the rotation before the wrap: the first new-epoch packets arrive after post-wrap ones.
  const wrapIndex = 0x1_0000 - firstSeq;
  const at = out.findIndex((entry) => entry.index === wrapIndex - 6);
  const run = out.splice(at, 6);
  const after = out.findIndex((entry) => entry.index === wrapIndex + 2);
  out.splice(after + 1, 0, ...run);
  return out;
}

describe('a long hop stream with rotations and reordering', () => {
  it('loses none of 10,000 packets over 5 rotations with 1% reordering', () => {
    let epoch = 1;
    const firstKey = keyOf(epoch);
    const sender = new HopSender({ key: firstKey });
    const receiver = new HopReceiver({ hopId });
    receiver.install(firstKey);

    const sent: Sent[] = [];
    /** Which key the receiver gets when: shortly before the sender switches, as the control plane delivers them. */
    const installs = new Map<number, HopKey>();
    for (let index = 0; index < total; index++) {
      if (rotateAt.has(index)) {
        epoch++;
        const next = keyOf(epoch);
        installs.set(index - installLeadPackets, next);
        sender.rotate(next, index * packetIntervalMs);
      }
      const result = sender.protectRtp(mediaPacket(firstSeq + index), index * packetIntervalMs);
      assert.ok(result.ok);
      sent.push({ index, packet: result.packet });
    }
    assert.equal(sender.epoch, 6);

    const arrivals = reorder(sent, new SeededRandom(16));
    const seen = new Set<number>();
    arrivals.forEach(({ packet }, position) => {
      const key = installs.get(position);
      if (key !== undefined) receiver.install(key);
      const result = receiver.receive(packet, position * packetIntervalMs);
      assert.ok(result.ok, `packet at arrival ${position}: ${JSON.stringify(result)}`);
      seen.add(result.packet.readUInt32BE(12));
    });

    assert.equal(seen.size, total);
    assert.deepEqual(receiver.drops(), {});
    const snapshot = receiver.snapshot(total);
    assert.equal(snapshot.epochs.current, 6);
    assert.equal(snapshot.rtpPackets, total);
    const stream = snapshot.streams[0];
    assert.ok(stream !== undefined);
    assert.equal(stream.lost, 0);
    assert.ok(stream.reordered >= 90, `about 1% arrived reordered: ${stream.reordered}`);
  });
});
