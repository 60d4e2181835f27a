/**
 * Viewers of an RTSP path see one SSRC and unbroken sequence numbers and
 * timestamps, whatever the camera does: restarts, SSRC changes, reordering.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrackContinuity } from '../../../../src/media/source/continuity.js';
import { at } from '../../../helpers/defined.js';
import { rtp } from '../../../helpers/udp.js';

const seqOf = (p: Buffer): number => p.readUInt16BE(2);
const tsOf = (p: Buffer): number => p.readUInt32BE(4);
const ssrcOf = (p: Buffer): number => p.readUInt32BE(8);

function send(
  track: TrackContinuity,
  fields: { sequence: number; timestamp: number; ssrc: number },
  nowMs: number,
): Buffer {
  const packet = rtp(fields);
  track.rewrite(packet, nowMs);
  return packet;
}

describe('TrackContinuity', () => {
  it('replaces the SSRC and keeps numbering continuous across a source restart', () => {
    const track = new TrackContinuity(90_000, 0xcafe);
    const first: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      first.push(send(track, { sequence: 65533 + i, timestamp: 1000 + i * 3600, ssrc: 1 }, i * 40));
    }
    for (let i = 1; i < first.length; i++) {
      assert.equal(
        seqOf(at(first, i)),
        (seqOf(at(first, i - 1)) + 1) & 0xffff,
        'wraps continuously',
      );
      assert.equal(tsOf(at(first, i)) - tsOf(at(first, i - 1)), 3600);
    }
    assert.ok(first.every((p) => ssrcOf(p) === 0xcafe));
    const last = at(first, -1);
    // The camera comes back 2 s later with a new SSRC, sequence and timestamp base.
    track.restart();
    const resumed = send(track, { sequence: 7, timestamp: 99, ssrc: 2 }, 160 + 2000);
    assert.equal(ssrcOf(resumed), 0xcafe);
    assert.equal(seqOf(resumed), (seqOf(last) + 1) & 0xffff);
    assert.equal((tsOf(resumed) - tsOf(last)) >>> 0, 2000 * 90, 'advanced by the outage');
    const next = send(track, { sequence: 8, timestamp: 99 + 3600, ssrc: 2 }, 2200);
    assert.equal(seqOf(next), (seqOf(resumed) + 1) & 0xffff);
    assert.equal(tsOf(next) - tsOf(resumed), 3600);
    assert.equal(track.epochs, 2);
  });

  it('a withdrawn packet gives its number to the next one; only the last rewrite can be withdrawn', () => {
    const track = new TrackContinuity(90_000, 7);
    const a = send(track, { sequence: 10, timestamp: 0, ssrc: 1 }, 0);
    // After a restart every viewer waits for a keyframe: two packets reach no one.
    track.restart();
    send(track, { sequence: 500, timestamp: 9000, ssrc: 2 }, 1000);
    track.withdraw();
    send(track, { sequence: 501, timestamp: 9000, ssrc: 2 }, 1010);
    track.withdraw();
    track.withdraw(); // a second withdraw of the same rewrite changes nothing
    const keyframe = send(track, { sequence: 502, timestamp: 12_600, ssrc: 2 }, 1040);
    assert.equal(seqOf(keyframe), (seqOf(a) + 1) & 0xffff, 'no hole where the two were withdrawn');
    const next = send(track, { sequence: 503, timestamp: 16_200, ssrc: 2 }, 1080);
    assert.equal(seqOf(next), (seqOf(keyframe) + 1) & 0xffff);
    assert.equal(tsOf(next) - tsOf(keyframe), 3600, 'timestamps keep their spacing');
  });

  it('starts a new epoch by itself when the SSRC changes without a restart', () => {
    const track = new TrackContinuity(8000, 5);
    const a = send(track, { sequence: 100, timestamp: 0, ssrc: 1 }, 0);
    const b = send(track, { sequence: 40_000, timestamp: 123_456, ssrc: 9 }, 20);
    assert.equal(seqOf(b), (seqOf(a) + 1) & 0xffff);
    assert.equal(tsOf(b) - tsOf(a), 160);
  });

  it('passes reordering through without moving the reference backwards', () => {
    const track = new TrackContinuity(90_000, 5);
    const a = send(track, { sequence: 10, timestamp: 0, ssrc: 1 }, 0);
    const c = send(track, { sequence: 12, timestamp: 7200, ssrc: 1 }, 80);
    const b = send(track, { sequence: 11, timestamp: 3600, ssrc: 1 }, 81);
    assert.deepEqual([seqOf(b) - seqOf(a), seqOf(c) - seqOf(a)], [1, 2]);
    assert.equal(track.nextSequence, (seqOf(c) + 1) & 0xffff);
  });

  it('rewrites a Sender Report to the path SSRC and shifted timestamp', () => {
    const track = new TrackContinuity(90_000, 0xabcdef01);
    const sr = Buffer.alloc(28 + 24);
    sr[0] = 0x81; // one report block, dropped in the rewrite
    sr[1] = 200;
    sr.writeUInt16BE(sr.length / 4 - 1, 2);
    sr.writeUInt32BE(77, 4);
    sr.writeUInt32BE(5000, 16);
    assert.equal(track.senderReport(sr), undefined, 'nothing sent yet');
    const packet = send(track, { sequence: 1, timestamp: 5000, ssrc: 77 }, 0);
    const out = track.senderReport(sr);
    assert.ok(out);
    assert.equal(out.length, 28);
    assert.equal(out[0], 0x80);
    assert.equal(out.readUInt16BE(2), 6);
    assert.equal(out.readUInt32BE(4), 0xabcdef01);
    assert.equal(out.readUInt32BE(16), tsOf(packet));
    sr.writeUInt32BE(78, 4);
    assert.equal(track.senderReport(sr), undefined, "another source's report");
    assert.equal(track.senderReport(Buffer.from([0x80, 200, 0xff, 0xff])), undefined, 'truncated');
  });
});
