/**
 * Key rotation on a hop, without sockets: the sender switches at a packet
 * boundary; the receiver accepts the previous epoch during the overlap
 * (reordered old packets included) and drops it after, counted; wrong keys,
 * garbage and replays yield nothing and are counted; a long stream with
 * rotations and reordering loses no packet.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  HopKeyRejectedError,
  HopReceiver,
  HopSender,
  type HopReceiveResult,
} from '../../../../src/media/hop/index.js';
import { SrtpKeyError } from '../../../../src/protocol/srtp/index.js';
import { epochOf, hopId, keyOf, mediaPacket } from './hop-fixture.js';

const graceMs = 2000;

function protect(sender: HopSender, seq: number, nowMs: number): Buffer {
  const result = sender.protectRtp(mediaPacket(seq), nowMs);
  assert.ok(result.ok, `protect ${seq}`);
  return result.packet;
}

function accepted(result: HopReceiveResult): Buffer {
  assert.ok(result.ok, `expected a packet, got ${JSON.stringify(result)}`);
  return result.packet;
}

/** Epoch 1 for seq 0..9, then epoch 2 for 10..19, keys installed at the receiver first. */
function rotatedStream(): { sender: HopSender; receiver: HopReceiver; packets: Buffer[] } {
  const first = keyOf(1);
  const second = keyOf(2);
  const sender = new HopSender({ key: first });
  const receiver = new HopReceiver({ hopId, overlapGraceMs: graceMs });
  receiver.install(first);
  receiver.install(second);
  const packets: Buffer[] = [];
  for (let seq = 0; seq < 10; seq++) packets.push(protect(sender, seq, 0));
  sender.rotate(second, 0);
  for (let seq = 10; seq < 20; seq++) packets.push(protect(sender, seq, 0));
  return { sender, receiver, packets };
}

function packetAt(packets: readonly Buffer[], index: number): Buffer {
  const packet = packets[index];
  assert.ok(packet !== undefined);
  return packet;
}

describe('hop key rotation', () => {
  it('switches the sender at a packet boundary: every packet carries exactly one epoch', () => {
    const { sender, receiver, packets } = rotatedStream();
    assert.deepEqual(packets.map(epochOf), [
      ...Array<number>(10).fill(1),
      ...Array<number>(10).fill(2),
    ]);
    assert.equal(sender.epoch, 2);
    packets.forEach((packet, seq) => {
      const result = receiver.receive(packet, seq);
      assert.ok(result.ok);
      assert.equal(result.epoch, seq < 10 ? 1 : 2);
      assert.deepEqual(result.packet, mediaPacket(seq));
    });
    assert.deepEqual(receiver.snapshot(20).epochs, {
      current: 2,
      previous: 1,
      next: null,
      notAfter: Date.UTC(2030, 0),
    });
  });

  it('accepts old-epoch packets reordered after new ones within the overlap', () => {
    const { receiver, packets } = rotatedStream();
    const order = [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 8, 14, 9, 15, 16, 17, 18, 19];
    let now = 0;
    for (const index of order) {
      assert.deepEqual(
        accepted(receiver.receive(packetAt(packets, index), now)),
        mediaPacket(index),
      );
      now += graceMs / 4;
    }
    assert.deepEqual(receiver.drops(), {});
    assert.equal(receiver.snapshot(now).streams[0]?.lost, 0);
  });

  it('drops old-epoch packets after the overlap, counted as unknown_key', () => {
    const { receiver, packets } = rotatedStream();
    for (const index of [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12]) {
      accepted(receiver.receive(packetAt(packets, index), 0));
    }
    // The first epoch-2 packet arrived at 0: the overlap ends at graceMs.
    assert.ok(receiver.receive(packetAt(packets, 8), graceMs).ok);
    // That old packet extended the overlap to 2 * graceMs.
    assert.deepEqual(receiver.receive(packetAt(packets, 9), 2 * graceMs + 1), {
      ok: false,
      reason: 'unknown_key',
    });
    assert.deepEqual(receiver.drops(), { unknown_key: 1 });
    assert.equal(receiver.snapshot(2 * graceMs + 1).epochs.previous, null);
    assert.ok(receiver.receive(packetAt(packets, 13), 2 * graceMs + 2).ok);
  });

  it('never keeps the previous epoch past maxOverlapMs after the switch', () => {
    const first = keyOf(1);
    const second = keyOf(2);
    const sender = new HopSender({ key: first });
    const receiver = new HopReceiver({ hopId, overlapGraceMs: 100, maxOverlapMs: 1000 });
    receiver.install(first);
    receiver.install(second);
    const late = Array.from({ length: 40 }, (_, seq) => protect(sender, seq, 0));
    sender.rotate(second, 0);
    accepted(receiver.receive(protect(sender, 40, 0), 0));
    // Old packets every 50 ms would keep extending a grace of 100 ms; the cap ends it at 1000.
    const verdicts = late.map((packet, i) => receiver.receive(packet, i * 50).ok);
    assert.deepEqual(verdicts, [
      ...Array<boolean>(21).fill(true),
      ...Array<boolean>(19).fill(false),
    ]);
    assert.deepEqual(receiver.drops(), { unknown_key: 19 });
  });

  it('yields nothing for a wrong key, a key never installed, garbage or plain RTP, and counts each', () => {
    const sender = new HopSender({ key: keyOf(1) });
    const receiver = new HopReceiver({ hopId });
    receiver.install(keyOf(1)); // epoch 1, but another key: fails authentication
    const wrong = protect(sender, 1, 0);
    assert.deepEqual(receiver.receive(wrong, 0), { ok: false, reason: 'auth_failed' });

    const stranger = new HopSender({ key: keyOf(7) }); // an epoch the receiver never got
    assert.deepEqual(receiver.receive(protect(stranger, 2, 0), 0), {
      ok: false,
      reason: 'unknown_key',
    });
    assert.equal(receiver.receive(mediaPacket(3), 0).ok, false);
    assert.equal(receiver.receive(Buffer.alloc(0), 0).ok, false);
    assert.equal(receiver.receive(Buffer.from([0x00, 0x01, 0x02]), 0).ok, false);
    assert.equal(receiver.receive(Buffer.alloc(300, 0x80), 0).ok, false);
    const rtcpLike = Buffer.alloc(40);
    rtcpLike.writeUInt16BE(0x80c9, 0);
    assert.equal(receiver.receive(rtcpLike, 0).ok, false);
    assert.equal(receiver.receive(Buffer.alloc(40, 0x40), 0).ok, false); // RTP version 1
    assert.deepEqual(receiver.drops(), {
      auth_failed: 1,
      unknown_key: 4,
      too_short: 2,
      bad_header: 1,
    });
    assert.equal(receiver.snapshot(0).rtpPackets, 0);
  });

  it('the sender refuses what is not RTP, and RTP that a receiver would take for RTCP', () => {
    const sender = new HopSender({ key: keyOf(1) });
    const rtcpLooking = mediaPacket(1);
    rtcpLooking.writeUInt8(0x80 | 72, 1); // marker + PT 72: byte 200, an SR's packet type
    const version1 = mediaPacket(2);
    version1.writeUInt8(0x40, 0);
    for (const packet of [rtcpLooking, version1, Buffer.alloc(11, 0x80)]) {
      assert.deepEqual(sender.protectRtp(packet, 0), { ok: false, reason: 'bad_header' });
    }
    assert.deepEqual(sender.drops(), { bad_header: 3 });
    assert.equal(sender.snapshot(0).rtpPackets, 0);
  });

  it('the sender never protects an index twice: a source going back in its numbering is dropped', () => {
    const sender = new HopSender({ key: keyOf(1) });
    for (const seq of [100, 101, 102])
      assert.equal(sender.protectRtp(mediaPacket(seq), 0).ok, true);
    // A camera that reset its sequence numbers (same SSRC), and a packet reordered upstream:
    // other plaintext under an index already used would give the keystream away.
    for (const seq of [5, 101, 102]) {
      assert.deepEqual(sender.protectRtp(mediaPacket(seq), 0), {
        ok: false,
        reason: 'index_reused',
      });
    }
    assert.equal(sender.protectRtp(mediaPacket(103), 0).ok, true);
    assert.deepEqual(sender.drops(), { index_reused: 3 });
  });

  it('counts replayed packets and still delivers the stream once', () => {
    const key = keyOf(1);
    const sender = new HopSender({ key });
    const receiver = new HopReceiver({ hopId });
    receiver.install(key);
    const packets = Array.from({ length: 300 }, (_, seq) => protect(sender, seq, 0));
    let delivered = 0;
    for (const packet of packets) if (receiver.receive(packet, 0).ok) delivered++;
    for (const packet of packets.slice(250)) assert.equal(receiver.receive(packet, 0).ok, false);
    // Older than the 128-packet window: it can no longer be told from a replay.
    assert.equal(receiver.receive(packetAt(packets, 10), 0).ok, false);
    assert.equal(delivered, 300);
    assert.deepEqual(receiver.drops(), { replay: 50, replay_too_old: 1 });
  });

  it('refuses keys of another hop, older epochs and a second key for a held epoch, keeping its keys', () => {
    const key = keyOf(2);
    const sender = new HopSender({ key });
    const receiver = new HopReceiver({ hopId });
    receiver.install(key);
    receiver.install(key); // the same key again: nothing happens
    assert.throws(() => receiver.install(keyOf(3, 'other-hop')), HopKeyRejectedError);
    assert.throws(() => receiver.install(keyOf(1)), HopKeyRejectedError);
    assert.throws(() => receiver.install(keyOf(2)), HopKeyRejectedError);
    assert.throws(() => receiver.install({ ...keyOf(3), key: 'not base64!' }), SrtpKeyError);
    assert.throws(() => sender.rotate(keyOf(1), 0), HopKeyRejectedError);
    assert.equal(sender.epoch, 2);
    assert.ok(receiver.receive(protect(sender, 1, 0), 0).ok);
  });
});
