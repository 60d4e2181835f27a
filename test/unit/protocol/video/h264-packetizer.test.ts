import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtpPacket } from '../../../../src/protocol/rtp/index.js';
import {
  DEFAULT_MAX_PAYLOAD_SIZE,
  FU_A_TYPE,
  H264Packetizer,
  h264NalPayloads,
} from '../../../../src/protocol/video/index.js';

/** A NAL unit of `length` bytes with header `header` and a recognisable body. */
function nalUnit(header: number, length: number): Buffer {
  const unit = Buffer.alloc(length);
  unit[0] = header;
  for (let i = 1; i < length; i++) unit[i] = (i * 7 + 1) & 0xff;
  return unit;
}

/** RFC 6184 §5.8 reassembly: F|NRI from the indicator, type from the FU header. */
function reassemble(fragments: readonly Buffer[]): Buffer {
  const first = fragments[0];
  assert.ok(first !== undefined);
  const header = ((first[0] ?? 0) & 0xe0) | ((first[1] ?? 0) & 0x1f);
  return Buffer.concat([Buffer.from([header]), ...fragments.map((f) => f.subarray(2))]);
}

describe('h264NalPayloads (RFC 6184 §5.6, §5.8)', () => {
  it('sends a NAL unit that fits as a single NAL unit packet', () => {
    const sps = nalUnit(0x67, 20);
    assert.deepEqual(h264NalPayloads(sps), [sps]);
    const exact = nalUnit(0x65, DEFAULT_MAX_PAYLOAD_SIZE);
    assert.deepEqual(h264NalPayloads(exact), [exact]);
    assert.deepEqual(h264NalPayloads(Buffer.alloc(0)), []);
  });

  it('splits a larger one into FU-A fragments that reassemble to it', () => {
    for (const length of [DEFAULT_MAX_PAYLOAD_SIZE + 1, 5_000, 3 * 1198 + 1]) {
      const idr = nalUnit(0x65, length); // F=0, NRI=3, type 5
      const fragments = h264NalPayloads(idr);
      assert.equal(fragments.length, Math.ceil((length - 1) / (DEFAULT_MAX_PAYLOAD_SIZE - 2)));
      fragments.forEach((fragment, index) => {
        assert.ok(fragment.length <= DEFAULT_MAX_PAYLOAD_SIZE);
        assert.equal(fragment[0], 0x60 | FU_A_TYPE, 'FU indicator: F|NRI of the unit, type 28');
        const start = index === 0 ? 0x80 : 0;
        const end = index === fragments.length - 1 ? 0x40 : 0;
        assert.equal(fragment[1], start | end | 5, `FU header of fragment ${index}`);
      });
      assert.ok(reassemble(fragments).equals(idr));
    }
  });

  it('keeps F and NRI in the indicator and honours a small payload size', () => {
    const unit = nalUnit(0xa1, 10); // F=1, NRI=1, type 1
    const fragments = h264NalPayloads(unit, 4);
    assert.equal(fragments.length, 5); // 9 body bytes, 2 per fragment
    for (const fragment of fragments) assert.equal(fragment[0], 0xa0 | FU_A_TYPE);
    assert.ok(reassemble(fragments).equals(unit));
  });
});

describe('H264Packetizer', () => {
  const ssrc = 0xdeadbeef;

  it('stamps every packet of an access unit alike and marks only the last', () => {
    const packetizer = new H264Packetizer({ ssrc, firstSequenceNumber: 1000 });
    const sps = nalUnit(0x67, 12);
    const pps = nalUnit(0x68, 4);
    const idr = nalUnit(0x65, 3_000);
    const packets = packetizer.packetize([sps, pps, idr], 0x1_0000_0010).map((packet) => {
      assert.equal(packet[0], 0x80, 'version 2, no padding, extension or CSRCs');
      return RtpPacket.deserialize(packet);
    });
    assert.equal(packets.length, 2 + 3);
    packets.forEach((packet, index) => {
      assert.equal(packet.payloadType, 96);
      assert.equal(packet.ssrc, ssrc);
      assert.equal(packet.timestamp, 0x10, 'timestamp modulo 2^32');
      assert.equal(packet.sequenceNumber, 1000 + index);
      assert.equal(packet.marker, index === packets.length - 1);
    });
    assert.ok(packets[0]?.payload.equals(sps));
    assert.ok(packets[1]?.payload.equals(pps));
    assert.ok(reassemble(packets.slice(2).map((packet) => packet.payload)).equals(idr));
    assert.equal(packetizer.nextSequenceNumber, 1005);
    assert.equal(packetizer.packetCount, 5);
    assert.equal(
      packetizer.octetCount,
      packets.reduce((sum, packet) => sum + packet.payload.length, 0),
    );
  });

  it('wraps the sequence number after 65535', () => {
    const packetizer = new H264Packetizer({ ssrc, firstSequenceNumber: 65_534 });
    const sequence = [0, 1, 2].flatMap((frame) =>
      packetizer
        .packetize([nalUnit(0x41, 50)], frame * 3600)
        .map((packet) => RtpPacket.deserialize(packet).sequenceNumber),
    );
    assert.deepEqual(sequence, [65_534, 65_535, 0]);
  });

  it('gives fresh buffers: changing a packet changes neither the NAL unit nor the next packet', () => {
    const packetizer = new H264Packetizer({ ssrc, payloadType: 97 });
    const unit = nalUnit(0x41, 30);
    const copy = Buffer.from(unit);
    const [first] = packetizer.packetize([unit], 0);
    assert.ok(first !== undefined);
    first.fill(0xff);
    assert.ok(unit.equals(copy));
    const [second] = packetizer.packetize([unit], 3600);
    assert.ok(second !== undefined);
    assert.equal(second[1], 0x80 | 97);
    assert.ok(second.subarray(12).equals(copy));
  });

  it('refuses a payload size too small for FU-A', () => {
    assert.throws(() => new H264Packetizer({ ssrc, maxPayloadSize: 2 }), RangeError);
    assert.throws(() => new H264Packetizer({ ssrc, maxPayloadSize: 10.5 }), RangeError);
  });
});
