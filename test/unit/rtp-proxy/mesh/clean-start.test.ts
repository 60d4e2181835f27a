/**
 * Where a stream may switch source (startsCleanly): at a video keyframe's
 * first packet; never at an audio packet of a stream that also has video
 * (its picture would start mid-GOP); anywhere in an audio-only stream or a
 * video codec we cannot read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startsCleanly } from '../../../../rtp-proxy/media/mesh/clean-start.js';
import { describeTracks, type SourceDescription } from '../../../../src/media/source/index.js';
import { parseSdp } from '../../../../src/protocol/sdp/index.js';
import { rtp } from '../../../helpers/udp.js';

function described(...media: string[]): SourceDescription {
  const sdp = parseSdp(
    ['v=0', 'o=- 1 1 IN IP4 0.0.0.0', 's=cam', 't=0 0', ...media, ''].join('\r\n'),
  );
  if (!sdp.ok) throw new Error('test SDP');
  return { sdp: sdp.sdp, tracks: describeTracks(sdp.sdp) };
}

const H264 = ['m=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=control:trackID=0'];
const PCMA = ['m=audio 0 RTP/AVP 8', 'a=rtpmap:8 PCMA/8000', 'a=control:trackID=1'];
const VP8 = ['m=video 0 RTP/AVP 97', 'a=rtpmap:97 VP8/90000', 'a=control:trackID=0'];

/** H.264 RTP: an SPS (NAL type 7) starts a keyframe, a non-IDR slice (type 1) does not. */
const keyframe = rtp({ sequence: 1, payload: Buffer.from([0x67, 1, 2, 3]) });
const delta = rtp({ sequence: 2, payload: Buffer.from([0x41, 1, 2, 3]) });
const audio = rtp({ sequence: 3, payloadType: 8, payload: Buffer.alloc(160, 0xd5) });

describe('startsCleanly', () => {
  it('takes a video keyframe, not a delta frame', () => {
    const video = described(...H264);
    assert.equal(startsCleanly(video, 0, keyframe), true);
    assert.equal(startsCleanly(video, 0, delta), false);
  });

  it('waits for the video keyframe in a stream with audio and video', () => {
    const both = described(...H264, ...PCMA);
    assert.equal(
      startsCleanly(both, 1, audio),
      false,
      'an audio packet would start the picture mid-GOP',
    );
    assert.equal(startsCleanly(both, 0, keyframe), true);
  });

  it('takes any packet of an audio-only stream or of a video codec it cannot read', () => {
    assert.equal(
      startsCleanly(
        described(...PCMA.map((line) => line.replace('trackID=1', 'trackID=0'))),
        0,
        audio,
      ),
      true,
    );
    const vp8 = described(...VP8, ...PCMA);
    assert.equal(startsCleanly(vp8, 0, delta), true);
    assert.equal(startsCleanly(vp8, 1, audio), true);
  });
});
