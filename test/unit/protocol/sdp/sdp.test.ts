import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  attributes,
  parseSdp,
  rewriteForProxy,
  rtpMaps,
  serializeSdp,
  type Sdp,
} from '../../../../src/protocol/sdp/index.js';

/** What GStreamer's rtsp-server answers to DESCRIBE for an H.264 + Opus mount. */
const gstreamer = [
  'v=0',
  'o=- 1188340656180883 1 IN IP4 192.168.0.10',
  's=Session streamed with GStreamer',
  'i=rtsp-server',
  't=0 0',
  'a=tool:GStreamer',
  'a=type:broadcast',
  'a=range:npt=now-',
  'a=control:rtsp://192.168.0.10:8554/test',
  'm=video 0 RTP/AVP 96',
  'c=IN IP4 0.0.0.0',
  'b=AS:2048',
  'a=rtpmap:96 H264/90000',
  'a=framerate:25',
  'a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z2QAFazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA;profile-level-id=640015',
  'a=control:rtsp://192.168.0.10:8554/test/stream=0',
  'a=ts-refclk:local',
  'a=mediaclk:sender',
  'm=audio 0 RTP/AVP 97',
  'c=IN IP4 0.0.0.0',
  'a=rtpmap:97 OPUS/48000/2',
  'a=control:rtsp://192.168.0.10:8554/test/stream=1',
  '',
].join('\r\n');

function parsed(text: string): Sdp {
  const result = parseSdp(text);
  assert.ok(result.ok, result.ok ? '' : result.reason);
  return result.sdp;
}

describe('SDP', () => {
  it('parses a camera description and serializes it byte for byte', () => {
    const sdp = parsed(gstreamer);
    assert.equal(sdp.media.length, 2);
    assert.deepEqual(
      sdp.media.map((m) => [m.kind, m.port, m.protocol, m.formats]),
      [
        ['video', 0, 'RTP/AVP', ['96']],
        ['audio', 0, 'RTP/AVP', ['97']],
      ],
    );
    assert.equal(serializeSdp(sdp), gstreamer);
  });

  it('reads payload types and clock rates', () => {
    const [video, audio] = parsed(gstreamer).media;
    assert.ok(video && audio);
    assert.deepEqual(rtpMaps(video), [
      { payloadType: 96, encoding: 'H264', clockRate: 90000, channels: undefined },
    ]);
    assert.deepEqual(rtpMaps(audio), [
      { payloadType: 97, encoding: 'OPUS', clockRate: 48000, channels: 2 },
    ]);
    assert.deepEqual(attributes(video.lines, 'framerate'), ['25']);
  });

  it('rewrites addresses and control URLs so viewers only see the proxy', () => {
    const rewritten = serializeSdp(
      rewriteForProxy(parsed(gstreamer), {
        address: '127.0.0.1',
        controlFor: (index) => `trackID=${index}`,
      }),
    );
    assert.doesNotMatch(rewritten, /192\.168\.0\.10/);
    assert.match(rewritten, /^o=- 1188340656180883 1 IN IP4 127\.0\.0\.1\r$/m);
    assert.match(rewritten, /^a=control:\*\r\nm=video/m);
    assert.match(rewritten, /a=control:trackID=0\r\nm=audio/);
    assert.match(rewritten, /a=control:trackID=1\r\n$/);
    assert.equal(rewritten.match(/^c=IN IP4 127\.0\.0\.1\r$/gm)?.length, 2);
    assert.ok(parseSdp(rewritten).ok);
  });

  it('accepts bare LF line endings, as some cameras send', () => {
    const sdp = parsed(gstreamer.replaceAll('\r\n', '\n'));
    assert.equal(sdp.media.length, 2);
  });

  it('refuses what is not SDP, with a reason', () => {
    const cases: [string, string][] = [
      ['', 'no_version'],
      ['hello world', 'bad_line'],
      ['s=no version first\r\nv=0', 'no_version'],
      ['v=0\r\nm=video x RTP/AVP 96', 'bad_media_line'],
      ['v=0\r\nm=video 70000 RTP/AVP 96', 'bad_media_line'],
      ['v=0\r\na=control:\u0000evil', 'bad_line'],
      ['v=0\r\n' + 'a=x\r\n'.repeat(2000), 'too_many_lines'],
      ['v=0\r\n' + 'm=video 0 RTP/AVP 96\r\n'.repeat(65), 'too_many_media'],
      ['v=0\r\na=' + 'x'.repeat(70_000), 'too_large'],
    ];
    for (const [text, reason] of cases) {
      const result = parseSdp(text);
      assert.equal(result.ok ? 'ok' : result.reason, reason, JSON.stringify(text.slice(0, 40)));
    }
  });

  it('never throws on 100,000 random or mutated inputs', () => {
    let seed = Number(process.env['STREAMMESH_FUZZ_SEED'] ?? Date.now() % 0xffffffff) >>> 0 || 1;
    const startSeed = seed;
    const next = (): number => {
      // xorshift32
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      seed >>>= 0;
      return seed;
    };
    const alphabet = 'v=om csatb:/ 0123456789RTP/AVP\r\n*;,.-\u0000\u007f\u00e9';
    let accepted = 0;
    for (let i = 0; i < 100_000; i += 1) {
      let input: string;
      if (i % 2 === 0) {
        const length = next() % 300;
        input = Array.from({ length }, () => alphabet[next() % alphabet.length]).join('');
      } else {
        const chars = gstreamer.split('');
        for (let flips = next() % 4; flips >= 0; flips -= 1) {
          chars[next() % chars.length] = alphabet[next() % alphabet.length] ?? '';
        }
        input = chars.slice(0, next() % (chars.length + 1)).join('');
      }
      try {
        const result = parseSdp(input);
        if (result.ok) {
          accepted += 1;
          // What parses re-parses to the same structure.
          const again = parseSdp(serializeSdp(result.sdp));
          assert.ok(again.ok);
          assert.deepEqual(again.sdp, result.sdp);
        }
      } catch (error) {
        throw new Error(`SDP fuzz failed: STREAMMESH_FUZZ_SEED=${startSeed}, input #${i}`, {
          cause: error,
        });
      }
    }
    assert.ok(accepted > 0);
  });
});
