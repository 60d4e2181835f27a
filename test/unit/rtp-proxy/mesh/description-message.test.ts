/**
 * The in-band description an owner sends its edges (RTCP APP `SMSD`): it
 * reads back as it was written, alone or inside a compound, padded to a
 * word with spaces; a description too large for a hop datagram is not
 * built; an SMSD whose JSON or SSRCs do not read is 'invalid' (counted by
 * the edge), and a compound without one carries no description.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildDescriptionPacket,
  DESCRIPTION_APP_NAME,
  MAX_DESCRIPTION_BYTES,
  readDescription,
  type HopDescription,
} from '../../../../rtp-proxy/media/mesh/description-message.js';
import { App, buildSdesCname, SenderReport } from '../../../../src/protocol/rtcp/index.js';

const SDP = 'v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=cam\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n';

function built(description: HopDescription): Buffer {
  const packet = buildDescriptionPacket(0x1234_5678, description);
  assert.ok(packet, 'a small description is built');
  return packet;
}

/** An SMSD packet with these data bytes as they are (no JSON written by us). */
function smsd(data: string): Buffer {
  const bytes = Buffer.alloc(Math.ceil(Buffer.byteLength(data) / 4) * 4, 0x20);
  bytes.write(data, 'utf8');
  return new App({ subtype: 0, ssrc: 7, name: DESCRIPTION_APP_NAME, data: bytes }).serialize();
}

function senderReport(): Buffer {
  return Buffer.concat([
    new SenderReport({
      ssrc: 7,
      ntpSeconds: 1,
      ntpFraction: 2,
      rtpTimestamp: 3,
      packetCount: 4,
      octetCount: 5,
    }).serialize(),
    buildSdesCname(7, 'cam@owner'),
  ]);
}

describe('hop description message (RTCP APP SMSD)', () => {
  it('reads back what was written, alone and inside a compound', () => {
    const description = { sdp: SDP, ssrcs: [0, 1, 0xffff_ffff] };
    assert.deepEqual(readDescription(built(description)), description);
    const compound = Buffer.concat([senderReport(), built(description)]);
    assert.deepEqual(readDescription(compound), description);
  });

  it('pads the JSON to a whole word with spaces, whatever its length in bytes', () => {
    // Lengths 0..3 mod 4, one with multi-byte characters (bytes, not characters, count).
    for (const name of ['a', 'ab', 'abc', 'abcd', 'caméra-é']) {
      const description = { sdp: `${SDP}a=x-name:${name}\r\n`, ssrcs: [42] };
      const packet = built(description);
      assert.equal(packet.length % 4, 0);
      const app = App.deserialize(packet);
      const json = JSON.stringify(description);
      assert.equal(app.data.length, Math.ceil(Buffer.byteLength(json) / 4) * 4);
      assert.ok(app.data.subarray(Buffer.byteLength(json)).every((byte) => byte === 0x20));
      assert.deepEqual(readDescription(packet), description);
    }
  });

  it('builds nothing for a description over MAX_DESCRIPTION_BYTES, and builds one at it', () => {
    const overhead = Buffer.byteLength(JSON.stringify({ sdp: '', ssrcs: [1] }));
    const fits = { sdp: 'x'.repeat(MAX_DESCRIPTION_BYTES - overhead), ssrcs: [1] };
    assert.ok(buildDescriptionPacket(1, fits));
    const over = { sdp: 'x'.repeat(MAX_DESCRIPTION_BYTES - overhead + 1), ssrcs: [1] };
    assert.equal(buildDescriptionPacket(1, over), undefined);
  });

  it("says 'invalid' for an SMSD whose JSON or SSRCs do not read", () => {
    for (const data of [
      '{',
      'null',
      '"sdp"',
      '[]',
      JSON.stringify({ ssrcs: [1] }),
      JSON.stringify({ sdp: SDP }),
      JSON.stringify({ sdp: 5, ssrcs: [1] }),
      JSON.stringify({ sdp: SDP, ssrcs: 1 }),
      JSON.stringify({ sdp: SDP, ssrcs: [-1] }),
      JSON.stringify({ sdp: SDP, ssrcs: [1.5] }),
      JSON.stringify({ sdp: SDP, ssrcs: [0x1_0000_0000] }),
      JSON.stringify({ sdp: SDP, ssrcs: ['1'] }),
      JSON.stringify({ sdp: SDP, ssrcs: [null] }),
    ]) {
      assert.equal(readDescription(smsd(data)), 'invalid', data);
    }
  });

  it('finds no description in a compound without SMSD, in another APP, or in garbage', () => {
    assert.equal(readDescription(senderReport()), undefined);
    const other = new App({ subtype: 0, ssrc: 7, name: 'ABCD', data: Buffer.from('{}  ') });
    assert.equal(readDescription(Buffer.concat([senderReport(), other.serialize()])), undefined);
    assert.equal(readDescription(Buffer.alloc(0)), undefined);
    assert.equal(readDescription(Buffer.from('not rtcp at all')), undefined);
    // Truncated: the SMSD's length says more than there is.
    const cut = built({ sdp: SDP, ssrcs: [1] });
    assert.equal(readDescription(cut.subarray(0, cut.length - 8)), undefined);
  });
});
