import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { estimatePacketIndex, rolloverCounter } from '../../../../src/protocol/srtp/rollover.js';

const roc = (n: number): number => n * 0x1_0000;

describe('ROC estimate (RFC 3711 §3.3.1, Appendix A)', () => {
  it('keeps the ROC for sequence numbers near the highest', () => {
    assert.equal(estimatePacketIndex(roc(3) + 1000, 1001), roc(3) + 1001);
    assert.equal(estimatePacketIndex(roc(3) + 1000, 999), roc(3) + 999);
    assert.equal(estimatePacketIndex(roc(3) + 40000, 40100), roc(3) + 40100);
  });

  it('guesses ROC + 1 for a small SEQ after a high one (the wrap)', () => {
    assert.equal(estimatePacketIndex(roc(0) + 65535, 0), roc(1));
    assert.equal(estimatePacketIndex(roc(5) + 65000, 200), roc(6) + 200);
    // s_l - 2^15 > SEQ is the test; at exactly half way it is still this ROC.
    assert.equal(estimatePacketIndex(roc(5) + 40000, 40000 - 0x8000), roc(5) + 7232);
    assert.equal(estimatePacketIndex(roc(5) + 40000, 40000 - 0x8000 - 1), roc(6) + 7231);
  });

  it('guesses ROC - 1 for a high SEQ after a low one (a straggler from before the wrap)', () => {
    assert.equal(estimatePacketIndex(roc(1) + 2, 65535), roc(0) + 65535);
    assert.equal(estimatePacketIndex(roc(7) + 100, 65000), roc(6) + 65000);
    assert.equal(estimatePacketIndex(roc(7) + 100, 100 + 0x8000), roc(7) + 100 + 0x8000);
    assert.equal(estimatePacketIndex(roc(7) + 100, 100 + 0x8001), roc(6) + 100 + 0x8001);
  });

  it('never guesses a negative ROC (libsrtp: ROC 0 instead)', () => {
    assert.equal(estimatePacketIndex(10, 65000), 65000);
  });

  it('splits an index into its ROC', () => {
    assert.equal(rolloverCounter(roc(0xffff_ffff) + 0xffff), 0xffff_ffff);
    assert.equal(rolloverCounter(65535), 0);
  });
});
