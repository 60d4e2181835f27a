/**
 * ffmpeg RTP and SRTP straight to an ffmpeg receiver: the baseline every
 * relay test compares with. All frames of the clip arrive, bit-exact.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  clipSdp,
  rewriteSdp,
  sendRtp,
  startRtpReceiver,
  testClip,
} from '../../helpers/peers/ffmpeg.js';
import { freeUdpPortPair, stopAllPeers } from '../../helpers/peers/process.js';
import { randomSrtpKey } from '../../helpers/peers/srtp-key.js';

after(stopAllPeers);

describe('ffmpeg peers', { timeout: 60_000 }, () => {
  it('receives every frame of the clip over plain RTP, bit-exact', async () => {
    const clip = await testClip();
    assert.equal(clip.frames, 100);
    const sdp = await clipSdp(clip, { ssrc: 0x11223344 });
    assert.match(sdp, /sprop-parameter-sets=/);
    const port = await freeUdpPortPair();
    const receiver = await startRtpReceiver({ sdp, port, timeoutMs: 20_000 });
    await sendRtp({ clip, port, ssrc: 0x11223344 });
    const result = await receiver.result();
    assert.equal(result.frames, clip.frames, result.stderr);
    assert.deepEqual(result.frameHashes, clip.frameHashes);
  });

  it('receives every frame over SRTP with the key from the sender SDP', async () => {
    const clip = await testClip();
    const key = randomSrtpKey();
    const sdp = await clipSdp(clip, { srtpKey: key });
    assert.ok(sdp.includes(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key}`), sdp);
    const port = await freeUdpPortPair();
    const receiver = await startRtpReceiver({ sdp, port, srtpKey: key, timeoutMs: 20_000 });
    await sendRtp({ clip, port, srtpKey: key });
    const result = await receiver.result();
    assert.equal(result.hmacMismatch, false);
    assert.deepEqual(result.frameHashes, clip.frameHashes);
  });

  it('reports an HMAC mismatch and decodes nothing with the wrong key', async () => {
    const clip = await testClip();
    const sdp = await clipSdp(clip);
    const port = await freeUdpPortPair();
    const receiver = await startRtpReceiver({
      sdp,
      port,
      srtpKey: randomSrtpKey(),
      timeoutMs: clip.durationMs + 3_000,
    });
    await sendRtp({ clip, port, srtpKey: randomSrtpKey() });
    const result = await receiver.stop();
    assert.equal(result.hmacMismatch, true, result.stderr);
    assert.equal(result.frames, 0);
  });

  it('rewrites an SDP to a port, with and without a=crypto', () => {
    const sdp = 'v=0\nc=IN IP4 10.0.0.1\nm=video 9 RTP/AVP 96\na=crypto:1 X inline:abc\n';
    assert.equal(
      rewriteSdp(sdp, { port: 5004 }),
      'v=0\nc=IN IP4 127.0.0.1\nm=video 5004 RTP/AVP 96\n',
    );
    assert.equal(
      rewriteSdp(sdp, { port: 5004, srtpKey: 'KEY' }),
      'v=0\nc=IN IP4 127.0.0.1\nm=video 5004 RTP/SAVP 96\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:KEY\n',
    );
  });
});
