/**
 * What a hop measures: loss and jitter per SSRC at the receiver, and the
 * round trip at the sender from its SR and the receiver's RR (RFC 3550
 * §6.4.1), on exact times.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HopReceiver, HopSender } from '../../../../src/media/hop/index.js';
import { ntpFromUnixMs, SenderReport } from '../../../../src/protocol/rtcp/index.js';
import { hopId, keyOf, mediaPacket, ssrc } from './hop-fixture.js';

function pair(): { sender: HopSender; receiver: HopReceiver } {
  const key = keyOf(1);
  const receiver = new HopReceiver({
    hopId,
    payloadTypes: new Map([[96, { clockRate: 90_000, kind: 'video' }]]),
  });
  receiver.install(key);
  return { sender: new HopSender({ key }), receiver };
}

describe('hop measurement', () => {
  it('measures loss and jitter per SSRC at the receiver', () => {
    const { sender, receiver } = pair();
    const other = 0x0bad_cafe;
    for (let seq = 0; seq < 1000; seq++) {
      // 20 ms apart in RTP time and on arrival, except every 100th arrives 10 ms late.
      const arrival = seq * 20 + (seq % 100 === 50 ? 10 : 0);
      const plain = mediaPacket(seq);
      plain.writeUInt32BE(seq * 1800, 4);
      const protectedPacket = sender.protectRtp(plain, arrival);
      assert.ok(protectedPacket.ok);
      const otherPacket = sender.protectRtp(mediaPacket(seq, other), arrival);
      assert.ok(otherPacket.ok);
      // 1 in 100 lost on the first stream only.
      if (seq % 100 !== 7) receiver.receive(protectedPacket.packet, arrival);
      receiver.receive(otherPacket.packet, arrival);
    }
    const snapshot = receiver.snapshot(20_000);
    const first = snapshot.streams.find((stream) => stream.ssrc === ssrc);
    const second = snapshot.streams.find((stream) => stream.ssrc === other);
    assert.ok(first !== undefined && second !== undefined);
    assert.equal(first.lost, 10);
    assert.equal(second.lost, 0);
    assert.ok(first.jitterMaxMs > 0.5, `jitter ${first.jitterMaxMs}`);
    assert.ok(Math.abs(snapshot.lossFraction - 10 / 1999) < 1e-3);
    assert.equal(snapshot.role, 'receiver');
  });

  it('computes the round trip at the sender from its SR and the receiver RR', () => {
    const { sender, receiver } = pair();
    const t0 = Date.UTC(2026, 11, 4, 12);
    for (let seq = 0; seq < 10; seq++) {
      const sent = sender.protectRtp(mediaPacket(seq), t0 + seq);
      assert.ok(sent.ok);
      assert.ok(receiver.receive(sent.packet, t0 + seq + 7).ok);
    }
    const ntp = ntpFromUnixMs(t0 + 100);
    const sr = new SenderReport({
      ssrc,
      ntpSeconds: ntp.seconds,
      ntpFraction: ntp.fraction,
      rtpTimestamp: 9000,
      packetCount: 10,
      octetCount: 1720,
    }).serialize();
    const protectedSr = sender.protectRtcp(sr, t0 + 100);
    assert.ok(protectedSr.ok);
    // 7 ms one way, the receiver holds the SR 250 ms before its RR, 7 ms back: RTT 14 ms.
    assert.ok(receiver.receive(protectedSr.packet, t0 + 107).ok);
    const rr = receiver.receiverReport(t0 + 357);
    assert.ok(rr !== undefined);
    const back = sender.receiveRtcp(rr, t0 + 364);
    assert.ok(back.ok);
    const snapshot = sender.snapshot(t0 + 364);
    assert.ok(
      snapshot.rttMs !== null && Math.abs(snapshot.rttMs - 14) < 0.1,
      `rtt ${snapshot.rttMs}`,
    );
    assert.equal(snapshot.lossFraction, 0);
    assert.equal(snapshot.rtcpPackets, 1);
    assert.equal(snapshot.rtpPackets, 10);
  });

  it('a forged RR changes nothing at the sender and is counted', () => {
    const { sender } = pair();
    const forged = Buffer.alloc(60, 0);
    forged.writeUInt16BE(0x81c9, 0);
    assert.equal(sender.receiveRtcp(forged, 0).ok, false);
    assert.deepEqual(sender.drops(), { unknown_key: 1 });
    assert.equal(sender.snapshot(0).rttMs, null);
  });
});
