/**
 * RTP fixtures: every valid one checks, reads and round-trips byte for byte;
 * every invalid one is refused with the reason its name gives.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkRtp,
  parseHeaderExtensionElements,
  rtpHeaderLength,
  rtpMarker,
  rtpPayloadLength,
  rtpPayloadType,
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
  RtpPacket,
  RtpParseError,
} from '../../../../src/protocol/rtp/index.js';
import { rtpFixtures } from '../../../helpers/protocol/rtp-fixtures.js';
import { expectedReason, readFixtures } from '../../../helpers/protocol/rtp-support.js';

const fixtures = readFixtures('rtp');

function fixture(name: string): Buffer {
  const buffer = fixtures.get(name);
  assert.ok(buffer, `missing fixture ${name}`);
  return buffer;
}

describe('RTP fixtures', () => {
  it('are the bytes test/helpers/protocol/rtp-fixtures.ts describes', () => {
    assert.deepEqual([...fixtures.keys()].sort(), Object.keys(rtpFixtures).sort());
    for (const [name, buffer] of Object.entries(rtpFixtures)) {
      assert.ok(fixture(name).equals(buffer), `${name} differs from fixtures.ts; regenerate`);
    }
    assert.ok([...fixtures.keys()].filter((name) => name.startsWith('valid-')).length >= 6);
  });

  for (const [name, buffer] of fixtures) {
    const reason = expectedReason(name);
    if (reason === null) {
      it(`${name}: valid, accessors agree with the codec, round-trips byte for byte`, () => {
        assert.equal(checkRtp(buffer), null);
        const packet = RtpPacket.deserialize(buffer);
        assert.equal(rtpPayloadType(buffer), packet.payloadType);
        assert.equal(rtpSequenceNumber(buffer), packet.sequenceNumber);
        assert.equal(rtpTimestamp(buffer), packet.timestamp);
        assert.equal(rtpSsrc(buffer), packet.ssrc);
        assert.equal(rtpMarker(buffer), packet.marker);
        assert.equal(rtpHeaderLength(buffer), packet.headerLength);
        assert.equal(rtpPayloadLength(buffer), packet.payload.length);
        assert.equal(
          rtpHeaderLength(buffer) + rtpPayloadLength(buffer) + packet.padding.length,
          buffer.length,
        );
        assert.ok(packet.serialize().equals(buffer));
        assert.equal(packet.serializedLength, buffer.length);
      });
    } else {
      it(`${name}: refused as ${reason}`, () => {
        assert.equal(checkRtp(buffer), reason);
        assert.throws(
          () => RtpPacket.deserialize(buffer),
          (error: unknown) =>
            error instanceof RtpParseError &&
            error.code === 'ERR_RTP_INVALID' &&
            error.reason === reason,
        );
      });
    }
  }

  it('H.264 FU-A with one-byte extensions: fields, elements and FU headers', () => {
    const buffer = fixture('valid-h264-fu-a-one-byte-ext.bin');
    const packet = RtpPacket.deserialize(buffer);
    assert.deepEqual(packet.toJSON(), {
      marker: false,
      payloadType: 102,
      sequenceNumber: 23117,
      timestamp: 759066496,
      ssrc: 0x6c1f3a52,
      csrcs: [],
      extension: { profile: 0xbede, data: '228c3f5e31017a4030000000' },
      payloadLength: 1152,
      paddingLength: 0,
    });
    assert.ok(packet.extension);
    const elements = parseHeaderExtensionElements(packet.extension);
    assert.deepEqual(
      elements?.map((element) => [element.id, element.data.toString('hex')]),
      [
        [2, '8c3f5e'],
        [3, '017a'],
        [4, '30'],
      ],
    );
    assert.equal(packet.payload[0], 0x7c); // FU indicator, type 28
    assert.equal(packet.payload[1], 0x85); // FU header, S=1, IDR
    assert.equal(rtpHeaderLength(buffer), 28);
  });

  it('Opus with audio level: marker, extension elements', () => {
    const packet = RtpPacket.deserialize(fixture('valid-opus-audio-level.bin'));
    assert.equal(packet.marker, true);
    assert.equal(packet.payloadType, 111);
    assert.equal(packet.timestamp, 768000);
    assert.ok(packet.extension);
    assert.deepEqual(
      parseHeaderExtensionElements(packet.extension)?.map((element) => [
        element.id,
        element.data.toString('hex'),
      ]),
      [
        [1, 'ba'],
        [3, '002b'],
      ],
    );
    assert.equal(packet.payload[0], 0x78);
    assert.equal(packet.payload.length, 72);
  });

  it('CSRCs are read in order', () => {
    const buffer = fixture('valid-pcmu-csrcs.bin');
    const packet = RtpPacket.deserialize(buffer);
    assert.deepEqual(packet.csrcs, [0x11111111, 0x22222222]);
    assert.equal(packet.marker, true);
    assert.equal(packet.payloadType, 0);
    assert.equal(rtpHeaderLength(buffer), 20);
    assert.equal(rtpPayloadLength(buffer), 160);
  });

  it('padding is excluded from the payload; padding-only probes have no payload', () => {
    const vp8 = RtpPacket.deserialize(fixture('valid-vp8-padding.bin'));
    assert.equal(vp8.padding.toString('hex'), '00000004');
    assert.equal(vp8.payload.length, 44);
    assert.equal(rtpPayloadLength(fixture('valid-vp8-padding.bin')), 44);

    const probe = fixture('valid-padding-only-probe.bin');
    assert.equal(rtpPayloadLength(probe), 0);
    assert.equal(rtpHeaderLength(probe) + 224, probe.length);
    assert.equal(RtpPacket.deserialize(probe).padding.length, 224);
  });

  it('two-byte extension elements, including zero-length ones', () => {
    const packet = RtpPacket.deserialize(fixture('valid-two-byte-ext.bin'));
    assert.ok(packet.extension);
    assert.equal(packet.extension.profile, 0x1000);
    assert.deepEqual(
      parseHeaderExtensionElements(packet.extension)?.map((element) => [
        element.id,
        element.data.toString('hex'),
      ]),
      [
        [1, 'aabbccdd'],
        [15, ''],
        [17, '010203'],
      ],
    );
  });

  it('unsigned 32-bit fields stay unsigned', () => {
    const buffer = fixture('valid-header-only.bin');
    assert.equal(rtpTimestamp(buffer), 0xffffffff);
    assert.equal(rtpSsrc(buffer), 0xffffffff);
    assert.equal(rtpSequenceNumber(buffer), 0xffff);
    assert.equal(rtpPayloadLength(buffer), 0);
  });
});
