import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplayWindow, replayVerdict } from '../../../../src/protocol/srtp/replay-window.js';

const { fresh, replayed, tooOld } = replayVerdict;

describe('ReplayWindow (RFC 3711 §3.3.2)', () => {
  it('accepts new indices, refuses seen ones and ones below the window', () => {
    const window = new ReplayWindow(64, 1000);
    assert.equal(window.check(1000), replayed);
    assert.equal(window.check(1001), fresh);
    assert.equal(window.check(999), fresh);
    assert.equal(window.check(937), fresh);
    assert.equal(window.check(936), tooOld);
    window.commit(999);
    assert.equal(window.check(999), replayed);
    assert.equal(window.highest, 1000);
  });

  it('slides with the highest index and forgets what it passes', () => {
    const window = new ReplayWindow(128, 0);
    window.commit(5);
    window.commit(130);
    assert.equal(window.check(5), replayed, 'still inside (130 - 128, 130]');
    assert.equal(window.check(4), fresh);
    assert.equal(window.check(2), tooOld);
    assert.equal(window.check(130), replayed);
    window.commit(200);
    assert.equal(window.check(5), tooOld);
    assert.equal(window.check(130), replayed);
    assert.equal(window.check(129), fresh);
  });

  it('clears ring positions reused after a jump of less than a window', () => {
    // size 100 rounds to a 128-bit ring: index 3 and index 131 share a bit.
    const window = new ReplayWindow(100, 3);
    window.commit(131);
    assert.equal(window.check(131), replayed);
    assert.equal(window.check(3), tooOld);
    assert.equal(window.check(35), fresh);
    assert.equal(window.check(31), tooOld, '131 - 31 = 100 is outside a window of 100');
    window.commit(132);
    assert.equal(window.check(4), tooOld);
  });

  it('starts over after a jump of more than the ring', () => {
    const window = new ReplayWindow(64, 10);
    window.commit(11);
    window.commit(10_000);
    for (let index = 10_000 - 63; index < 10_000; index++) assert.equal(window.check(index), fresh);
    assert.equal(window.check(10_000), replayed);
  });

  it('handles 48-bit indices', () => {
    const top = 2 ** 48 - 1;
    const window = new ReplayWindow(128, top - 200);
    window.commit(top);
    assert.equal(window.check(top), replayed);
    assert.equal(window.check(top - 1), fresh);
    assert.equal(window.check(top - 200), tooOld);
  });
});
