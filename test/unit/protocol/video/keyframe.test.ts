import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { h264StartsKeyframe, h265StartsKeyframe } from '../../../../src/protocol/video/index.js';

const bytes = (...values: number[]): Buffer => Buffer.from(values);

describe('keyframe starts in RTP payloads', () => {
  it('H.264 (RFC 6184): single NAL, STAP-A, FU-A', () => {
    assert.equal(h264StartsKeyframe(bytes(0x65, 0x88)), true); // IDR slice
    assert.equal(h264StartsKeyframe(bytes(0x67, 0x64, 0x00)), true); // SPS
    assert.equal(h264StartsKeyframe(bytes(0x41, 0x9a)), false); // non-IDR slice
    assert.equal(h264StartsKeyframe(bytes(0x68, 0xeb)), false); // PPS alone
    // STAP-A holding SPS then PPS, as cameras send before an IDR.
    assert.equal(
      h264StartsKeyframe(bytes(0x78, 0x00, 0x02, 0x67, 0x64, 0x00, 0x02, 0x68, 0xeb)),
      true,
    );
    assert.equal(h264StartsKeyframe(bytes(0x78, 0x00, 0x02, 0x41, 0x9a)), false);
    // FU-A: start bit with IDR type starts; a middle fragment does not.
    assert.equal(h264StartsKeyframe(bytes(0x7c, 0x85, 0x88)), true);
    assert.equal(h264StartsKeyframe(bytes(0x7c, 0x05, 0x88)), false);
    assert.equal(h264StartsKeyframe(bytes(0x7c, 0x81, 0x9a)), false);
  });

  it('H.265 (RFC 7798): single NAL, AP, FU', () => {
    assert.equal(h265StartsKeyframe(bytes(19 << 1, 0x01, 0xaf)), true); // IDR_W_RADL
    assert.equal(h265StartsKeyframe(bytes(32 << 1, 0x01)), true); // VPS
    assert.equal(h265StartsKeyframe(bytes(1 << 1, 0x01, 0xd0)), false); // TRAIL_R
    assert.equal(h265StartsKeyframe(bytes(48 << 1, 0x01, 0x00, 0x02, 32 << 1, 0x01)), true); // AP with VPS
    assert.equal(h265StartsKeyframe(bytes(49 << 1, 0x01, 0x80 | 19, 0xaf)), true); // FU start, IDR
    assert.equal(h265StartsKeyframe(bytes(49 << 1, 0x01, 19, 0xaf)), false); // FU middle
  });

  it('truncated and hostile payloads are never a start and never read out of bounds', () => {
    for (const check of [h264StartsKeyframe, h265StartsKeyframe]) {
      assert.equal(check(bytes()), false);
    }
    assert.equal(h264StartsKeyframe(bytes(0x78, 0xff, 0xff)), false); // STAP-A size that lies
    assert.equal(h264StartsKeyframe(bytes(0x78, 0x00, 0x00, 0x67)), false); // zero-size unit
    assert.equal(h264StartsKeyframe(bytes(0x7c)), false); // FU-A without its header
    assert.equal(h265StartsKeyframe(bytes(49 << 1, 0x01)), false);
    let seed = 0x1234567;
    for (let i = 0; i < 100_000; i += 1) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const length = seed % 24;
      const payload = Buffer.alloc(length);
      for (let j = 0; j < length; j += 1) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        payload[j] = seed >>> 24;
      }
      assert.equal(typeof h264StartsKeyframe(payload), 'boolean');
      assert.equal(typeof h265StartsKeyframe(payload), 'boolean');
    }
  });
});
