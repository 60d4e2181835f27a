/**
 * RTP accessors, setters, demux and the RtpPacket codec on hand-built input.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkRtp,
  isRtcpPacket,
  parseHeaderExtensionElements,
  rtpPayloadLength,
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
  RtpPacket,
  serializeHeaderExtensionElements,
  setRtpSequenceNumber,
  setRtpSsrc,
  setRtpTimestamp,
} from '../../../../src/protocol/rtp/index.js';
import { readFixtures } from '../../../helpers/protocol/rtp-support.js';

describe('RTP setters', () => {
  it('rewrite SSRC, sequence number and timestamp in place, modulo their width', () => {
    const packet = new RtpPacket({
      payloadType: 96,
      sequenceNumber: 1,
      timestamp: 2,
      ssrc: 3,
      payload: Buffer.from('payload'),
    }).serialize();
    const before = Buffer.from(packet);
    setRtpSsrc(packet, 0xdeadbeef);
    setRtpSequenceNumber(packet, 0x1_0005);
    setRtpTimestamp(packet, 0x1_2345_6789);
    assert.equal(rtpSsrc(packet), 0xdeadbeef);
    assert.equal(rtpSequenceNumber(packet), 5);
    assert.equal(rtpTimestamp(packet), 0x2345_6789);
    // Nothing else moved.
    assert.ok(packet.subarray(0, 2).equals(before.subarray(0, 2)));
    assert.ok(packet.subarray(12).equals(before.subarray(12)));
    setRtpTimestamp(packet, -1);
    assert.equal(rtpTimestamp(packet), 0xffffffff);
  });

  it('neither throw nor write past the end of a short buffer', () => {
    const short = Buffer.from([0x80, 0x60, 0x00]);
    setRtpSsrc(short, 0xffffffff);
    setRtpTimestamp(short, 0xffffffff);
    setRtpSequenceNumber(short, 0xffff);
    assert.deepEqual([...short], [0x80, 0x60, 0xff]);
  });
});

describe('checkRtp edge cases', () => {
  const header = (first: number): Buffer =>
    Buffer.from([first, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);

  it('accepts a 12-byte header with an empty payload, and CC that exactly fits', () => {
    assert.equal(checkRtp(header(0x80)), null);
    const withCsrc = Buffer.concat([header(0x81), Buffer.alloc(4)]);
    assert.equal(checkRtp(withCsrc), null);
    assert.equal(checkRtp(withCsrc.subarray(0, 15)), 'bad_csrc_count');
  });

  it('accepts an empty extension block and refuses one a byte short', () => {
    const extension = Buffer.concat([
      header(0x90),
      Buffer.from([0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]),
    ]);
    assert.equal(checkRtp(extension), null);
    assert.equal(checkRtp(extension.subarray(0, 19)), 'bad_extension_length');
    const empty = Buffer.concat([header(0x90), Buffer.from([0xbe, 0xde, 0, 0])]);
    assert.equal(checkRtp(empty), null);
    assert.equal(rtpPayloadLength(empty), 0);
  });

  it('padding may fill the whole packet after the header, and not one byte more', () => {
    const exact = Buffer.concat([header(0xa0), Buffer.from([0, 0, 0, 4])]);
    assert.equal(checkRtp(exact), null);
    assert.equal(rtpPayloadLength(exact), 0);
    exact[15] = 5;
    assert.equal(checkRtp(exact), 'bad_padding');
  });

  it('checks in a fixed order: runt, version, CSRCs, extension, padding', () => {
    assert.equal(checkRtp(Buffer.alloc(11, 0xff)), 'runt');
    assert.equal(checkRtp(Buffer.alloc(12, 0x3f)), 'bad_version');
    // V=2 P=1 X=1 CC=15 on 12 bytes: the CSRCs are reported first.
    assert.equal(checkRtp(header(0xbf)), 'bad_csrc_count');
    // V=2 P=1 X=1, extension header missing and padding count 0: extension first.
    assert.equal(checkRtp(Buffer.concat([header(0xb0), Buffer.from([0])])), 'bad_extension_length');
  });
});

describe('isRtcpPacket (RFC 5761 §4)', () => {
  it('is true for second bytes 192..223 only', () => {
    const packet = Buffer.from([0x80, 0, 0, 0]);
    const rtcp: number[] = [];
    for (let second = 0; second < 256; second++) {
      packet[1] = second;
      if (isRtcpPacket(packet)) rtcp.push(second);
    }
    assert.equal(rtcp.length, 32);
    assert.equal(rtcp[0], 192);
    assert.equal(rtcp.at(-1), 223);
  });

  it('is false for buffers shorter than 2 bytes', () => {
    assert.equal(isRtcpPacket(Buffer.alloc(0)), false);
    assert.equal(isRtcpPacket(Buffer.from([0xc8])), false);
  });

  it('tells every RTP fixture from every RTCP fixture', () => {
    for (const [name, buffer] of readFixtures('rtp')) {
      if (name.startsWith('valid-')) assert.equal(isRtcpPacket(buffer), false, name);
    }
    for (const [name, buffer] of readFixtures('rtcp')) {
      if (name.startsWith('valid-')) assert.equal(isRtcpPacket(buffer), true, name);
    }
  });
});

describe('RtpPacket', () => {
  it('serializes what it was built from, and reads it back', () => {
    const extension = serializeHeaderExtensionElements([
      { id: 1, data: Buffer.from([0x90]) },
      { id: 3, data: Buffer.from([0x01, 0x02]) },
    ]);
    const packet = new RtpPacket({
      marker: true,
      payloadType: 111,
      sequenceNumber: 65535,
      timestamp: 0xfffffffe,
      ssrc: 0x80000000,
      csrcs: [1, 2, 3],
      extension,
      payload: Buffer.from('opus'),
      padding: RtpPacket.padding(3),
    });
    const buffer = packet.serialize();
    assert.equal(buffer.length, 12 + 12 + 4 + 8 + 4 + 3);
    assert.equal(checkRtp(buffer), null);
    const back = RtpPacket.deserialize(buffer);
    assert.deepEqual(back.toJSON(), packet.toJSON());
    assert.deepEqual(
      back.extension && parseHeaderExtensionElements(back.extension)?.map((element) => element.id),
      [1, 3],
    );
  });

  it('refuses fields the wire cannot carry', () => {
    const base = { payloadType: 96, sequenceNumber: 0, timestamp: 0, ssrc: 0 };
    assert.throws(() => new RtpPacket({ ...base, payloadType: 128 }).serialize(), RangeError);
    assert.throws(
      () => new RtpPacket({ ...base, csrcs: new Array<number>(16).fill(1) }).serialize(),
      RangeError,
    );
    assert.throws(() => new RtpPacket({ ...base, sequenceNumber: 65536 }).serialize(), RangeError);
    assert.throws(() => new RtpPacket({ ...base, ssrc: -1 }).serialize(), RangeError);
    assert.throws(
      () =>
        new RtpPacket({
          ...base,
          extension: { profile: 0xbede, data: Buffer.alloc(3) },
        }).serialize(),
      RangeError,
    );
    assert.throws(
      () => new RtpPacket({ ...base, padding: Buffer.from([0, 0, 2]) }).serialize(),
      RangeError,
    );
    assert.throws(() => RtpPacket.padding(0), RangeError);
    assert.throws(() => RtpPacket.padding(256), RangeError);
  });

  it('deserialize returns views into the input, not copies', () => {
    const buffer = new RtpPacket({
      payloadType: 96,
      sequenceNumber: 0,
      timestamp: 0,
      ssrc: 0,
      payload: Buffer.from([1, 2, 3]),
    }).serialize();
    const packet = RtpPacket.deserialize(buffer);
    buffer[12] = 9;
    assert.equal(packet.payload[0], 9);
  });
});

describe('RFC 8285 header extension elements', () => {
  it('uses the one-byte form when every element fits it, else the two-byte form', () => {
    const one = serializeHeaderExtensionElements([{ id: 14, data: Buffer.alloc(16, 1) }]);
    assert.equal(one.profile, 0xbede);
    assert.equal(one.data.length, 20);
    const two = serializeHeaderExtensionElements([{ id: 15, data: Buffer.alloc(1, 1) }]);
    assert.equal(two.profile, 0x1000);
    assert.equal(two.data.toString('hex'), '0f010100');
    const long = serializeHeaderExtensionElements([{ id: 1, data: Buffer.alloc(17, 2) }]);
    assert.equal(long.profile, 0x1000);
    assert.equal(parseHeaderExtensionElements(long)?.[0]?.data.length, 17);
    assert.throws(
      () => serializeHeaderExtensionElements([{ id: 0, data: Buffer.alloc(1) }]),
      RangeError,
    );
  });

  it('stops at one-byte ID 15, skips padding, refuses elements that overrun', () => {
    const stop = { profile: 0xbede, data: Buffer.from([0x10, 0xaa, 0xf0, 0x10, 0xbb, 0, 0, 0]) };
    assert.deepEqual(
      parseHeaderExtensionElements(stop)?.map((element) => element.id),
      [1],
    );
    const overrun = { profile: 0xbede, data: Buffer.from([0x00, 0x00, 0x13, 0xaa]) };
    assert.equal(parseHeaderExtensionElements(overrun), null);
    const twoByteOverrun = { profile: 0x1002, data: Buffer.from([0x01, 0x05, 0xaa, 0xbb]) };
    assert.equal(parseHeaderExtensionElements(twoByteOverrun), null);
    assert.equal(parseHeaderExtensionElements({ profile: 0x1234, data: Buffer.alloc(4) }), null);
  });
});
