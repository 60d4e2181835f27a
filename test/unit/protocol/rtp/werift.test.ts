/**
 * Cross-check with werift's RTP codec (a real peer's implementation): for a
 * few hundred random valid packets, each side reads what the other wrote and
 * both see the same fields.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtpHeader as WeriftRtpHeader, RtpPacket as WeriftRtpPacket } from 'werift';
import {
  checkRtp,
  parseHeaderExtensionElements,
  rtpHeaderLength,
  rtpPayloadLength,
  rtpPayloadType,
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
  RtpPacket,
} from '../../../../src/protocol/rtp/index.js';
import { randomRtpPacket } from '../../../helpers/protocol/rtp-generators.js';
import {
  expectedReason,
  fuzzSeed,
  readFixtures,
  Xorshift32,
} from '../../../helpers/protocol/rtp-support.js';

const PACKETS = 300;

function weriftExtensions(packet: RtpPacket): { id: number; payload: string }[] {
  if (packet.extension === null) return [];
  const elements = parseHeaderExtensionElements(packet.extension);
  if (elements === null) return [{ id: 0, payload: packet.extension.data.toString('hex') }];
  return elements.map((element) => ({ id: element.id, payload: element.data.toString('hex') }));
}

function assertSame(ours: RtpPacket, theirs: WeriftRtpPacket): void {
  const { header } = theirs;
  assert.equal(header.version, 2);
  assert.equal(header.marker, ours.marker);
  assert.equal(header.payloadType, ours.payloadType);
  assert.equal(header.sequenceNumber, ours.sequenceNumber);
  assert.equal(header.timestamp, ours.timestamp);
  assert.equal(header.ssrc, ours.ssrc);
  assert.deepEqual(header.csrc, ours.csrcs);
  assert.equal(header.padding, ours.padding.length > 0);
  assert.equal(header.paddingSize, ours.padding.length);
  assert.equal(header.extension, ours.extension !== null);
  if (ours.extension !== null) {
    assert.equal(header.extensionProfile, ours.extension.profile);
    assert.deepEqual(
      header.extensions.map((element) => ({
        id: element.id,
        payload: element.payload.toString('hex'),
      })),
      weriftExtensions(ours),
    );
  }
  assert.equal(header.payloadOffset, ours.headerLength);
  assert.ok(theirs.payload.equals(ours.payload));
}

describe('RTP cross-check with werift', () => {
  it('werift reads what RtpPacket writes', (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`seed ${seed}`);
    const random = new Xorshift32(seed);
    for (let i = 0; i < PACKETS; i++) {
      // werift reads two-byte extensions only under profile 0x1000 exactly, which ours writes.
      const ours = randomRtpPacket(random);
      const wire = ours.serialize();
      try {
        assert.equal(checkRtp(wire), null);
        assertSame(ours, WeriftRtpPacket.deSerialize(wire));
      } catch (error) {
        throw new Error(`seed ${seed}, packet ${i}: ${wire.toString('hex')}`, { cause: error });
      }
    }
  });

  it('RtpPacket and the accessors read what werift writes', (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`seed ${seed}`);
    const random = new Xorshift32(seed);
    for (let i = 0; i < PACKETS; i++) {
      const template = randomRtpPacket(random, { extensions: ['one-byte'] });
      const extensions =
        template.extension === null
          ? []
          : (parseHeaderExtensionElements(template.extension) ?? []).map((element) => ({
              id: element.id,
              payload: element.data,
            }));
      const header = new WeriftRtpHeader({
        marker: template.marker,
        payloadType: template.payloadType,
        sequenceNumber: template.sequenceNumber,
        timestamp: template.timestamp,
        ssrc: template.ssrc,
        csrc: template.csrcs,
        extensions,
        padding: template.padding.length > 0,
        paddingSize: template.padding.length,
      });
      const theirs = new WeriftRtpPacket(header, template.payload);
      const wire = theirs.serialize();
      try {
        assert.equal(checkRtp(wire), null);
        const ours = RtpPacket.deserialize(wire);
        assertSame(ours, WeriftRtpPacket.deSerialize(wire));
        assert.equal(rtpPayloadType(wire), template.payloadType);
        assert.equal(rtpSequenceNumber(wire), template.sequenceNumber);
        assert.equal(rtpTimestamp(wire), template.timestamp);
        assert.equal(rtpSsrc(wire), template.ssrc);
        assert.equal(rtpPayloadLength(wire), template.payload.length);
        assert.equal(
          rtpHeaderLength(wire) + rtpPayloadLength(wire) + template.padding.length,
          wire.length,
        );
        assert.ok(ours.serialize().equals(wire));
      } catch (error) {
        throw new Error(`seed ${seed}, packet ${i}: ${wire.toString('hex')}`, { cause: error });
      }
    }
  });

  it('werift and RtpPacket read the valid fixtures alike', () => {
    for (const [name, buffer] of readFixtures('rtp')) {
      if (expectedReason(name) !== null) continue;
      assertSame(RtpPacket.deserialize(buffer), WeriftRtpPacket.deSerialize(buffer));
    }
  });
});
