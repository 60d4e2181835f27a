/**
 * RTCP held while no sender is latched (rtp-proxy/media/relay/early-sender-rtcp.ts):
 * released in arrival order, bounded in count and age, and every datagram
 * that leaves without being released is counted once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EarlySenderRtcp,
  type EarlyRtcp,
} from '../../../rtp-proxy/media/relay/early-sender-rtcp.js';

function early(arrivalMs: number, port = 5001): EarlyRtcp {
  return { datagram: Buffer.from([arrivalMs & 0xff]), address: '127.0.0.1', port, arrivalMs };
}

function holder(): { held: EarlySenderRtcp; dropped: () => number } {
  let dropped = 0;
  const held = new EarlySenderRtcp({
    maxPackets: 4,
    maxAgeMs: 1_000,
    onDropped: () => {
      dropped += 1;
    },
  });
  return { held, dropped: () => dropped };
}

describe('early sender RTCP', () => {
  it('releases what waited, oldest first, once; nothing is counted as dropped', () => {
    const { held, dropped } = holder();
    held.hold(early(10));
    held.hold(early(11, 5003));
    assert.equal(held.size, 2);
    assert.deepEqual(
      held.release(12).map((rtcp) => [rtcp.arrivalMs, rtcp.port]),
      [
        [10, 5001],
        [11, 5003],
      ],
    );
    assert.equal(held.size, 0);
    assert.deepEqual(held.release(13), []);
    assert.equal(dropped(), 0);
  });

  it('keeps at most maxPackets: a newer datagram pushes the oldest out, counted', () => {
    const { held, dropped } = holder();
    for (let ms = 0; ms < 6; ms += 1) held.hold(early(ms));
    assert.equal(held.size, 4);
    assert.equal(dropped(), 2);
    assert.deepEqual(
      held.release(6).map((rtcp) => rtcp.arrivalMs),
      [2, 3, 4, 5],
    );
    assert.equal(dropped(), 2);
  });

  it('drops what waited longer than maxAgeMs: at release, at the next hold, at the sweep', () => {
    const { held, dropped } = holder();
    held.hold(early(0));
    held.hold(early(500));
    assert.deepEqual(
      held.release(1_500).map((rtcp) => rtcp.arrivalMs),
      [500],
      'exactly 1 000 ms old still goes; older does not',
    );
    assert.equal(dropped(), 1);
    held.hold(early(2_000));
    held.hold(early(3_001));
    assert.equal(held.size, 1, 'the next hold drops the old one');
    assert.equal(dropped(), 2);
    held.expire(4_002);
    assert.equal(held.size, 0);
    assert.equal(dropped(), 3);
  });

  it('clear (the route closes) counts whatever waits', () => {
    const { held, dropped } = holder();
    held.hold(early(0));
    held.hold(early(1));
    held.clear();
    assert.equal(held.size, 0);
    assert.equal(dropped(), 2);
    assert.deepEqual(held.release(2), []);
  });
});
