/**
 * GStreamer's srtpenc (libsrtp2) to ffmpeg's SRTP receiver (ffmpeg's own
 * SRTP code): two independent implementations agree on the wire.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startRtpReceiver, rewriteSdp } from '../../helpers/peers/ffmpeg.js';
import { gstH264Pipeline, gstreamerSdp, sendGstH264 } from '../../helpers/peers/gstreamer.js';
import { freeUdpPortPair, stopAllPeers } from '../../helpers/peers/process.js';
import { randomSrtpKey, srtpKeyHex } from '../../helpers/peers/srtp-key.js';

after(stopAllPeers);

describe('GStreamer peers', { timeout: 60_000 }, () => {
  it('srtpenc H.264 decodes in ffmpeg, one picture per frame sent', async () => {
    const key = randomSrtpKey();
    const port = await freeUdpPortPair();
    const receiver = await startRtpReceiver({
      sdp: gstreamerSdp({ srtpKey: key }),
      port,
      srtpKey: key,
      timeoutMs: 20_000,
    });
    await sendGstH264({ port, srtpKey: key, frames: 50, ssrc: 0xdeadbeef });
    const result = await receiver.result();
    assert.equal(result.hmacMismatch, false, result.stderr);
    assert.equal(result.frames, 50, result.stderr);
  });

  it('plain RTP from GStreamer decodes too', async () => {
    const port = await freeUdpPortPair();
    const receiver = await startRtpReceiver({
      sdp: rewriteSdp(gstreamerSdp(), { port }),
      port,
      timeoutMs: 20_000,
    });
    await sendGstH264({ port, frames: 25 });
    const result = await receiver.result();
    assert.equal(result.frames, 25, result.stderr);
  });

  it('builds the srtpenc pipeline with the key as hex of key||salt', () => {
    const key = randomSrtpKey();
    const pipeline = gstH264Pipeline({ port: 5004, srtpKey: key, ssrc: 0xfffffffe });
    assert.ok(pipeline.includes(`key=${srtpKeyHex(key)}`));
    assert.ok(pipeline.includes('ssrc=4294967294'));
    assert.equal(srtpKeyHex(key).length, 60);
    assert.throws(() => srtpKeyHex('c2hvcnQ='), /30 bytes/);
  });
});
