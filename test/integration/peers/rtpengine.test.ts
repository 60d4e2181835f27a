/**
 * rtpengine relays the ffmpeg clip, plain and bridged RTP -> SRTP, set up
 * over the NG protocol with our bencode; the bencode codec on its own,
 * including truncated and invalid input.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BencodeError, bdecode, bencode, type BencodeValue } from '../../helpers/peers/bencode.js';
import { clipSdp, sendRtp, startRtpReceiver, testClip } from '../../helpers/peers/ffmpeg.js';
import { freeUdpPortPair, stopAllPeers } from '../../helpers/peers/process.js';
import {
  NgError,
  parseCryptoLines,
  setupOneWayRelay,
  startRtpengine,
  type Rtpengine,
} from '../../helpers/peers/rtpengine.js';

describe('bencode', () => {
  it('round-trips every type, with dictionary keys sorted and UTF-8 byte lengths', () => {
    const value: BencodeValue = { zeta: 1, alpha: ['x', -7, { n: 0 }], 'sdp é': 'v=0\r\n' };
    const encoded = bencode(value);
    assert.equal(encoded.toString(), 'd5:alphal1:xi-7ed1:ni0eee6:sdp é5:v=0\r\n4:zetai1ee');
    assert.deepEqual(bdecode(encoded), value);
    assert.deepEqual(bdecode(Buffer.from('le')), []);
    assert.deepEqual(bdecode(Buffer.from('0:')), '');
  });

  it('refuses what it cannot represent', () => {
    assert.throws(() => bencode(1.5), TypeError);
    assert.throws(() => bencode(2 ** 60), TypeError);
  });

  const bad: [string, BencodeError['code']][] = [
    ['', 'ERR_BENCODE_TRUNCATED'],
    ['i42', 'ERR_BENCODE_TRUNCATED'],
    ['5:abc', 'ERR_BENCODE_TRUNCATED'],
    ['l1:a', 'ERR_BENCODE_TRUNCATED'],
    ['d1:a', 'ERR_BENCODE_TRUNCATED'],
    ['d1:ai1e', 'ERR_BENCODE_TRUNCATED'],
    ['5abc', 'ERR_BENCODE_TRUNCATED'],
    ['i-0e', 'ERR_BENCODE_INVALID'],
    ['i042e', 'ERR_BENCODE_INVALID'],
    ['ie', 'ERR_BENCODE_INVALID'],
    ['i99999999999999999999e', 'ERR_BENCODE_INVALID'],
    ['05:abcde', 'ERR_BENCODE_INVALID'],
    ['di1ei2ee', 'ERR_BENCODE_INVALID'],
    ['x', 'ERR_BENCODE_INVALID'],
    ['i1ei2e', 'ERR_BENCODE_INVALID'],
    ['l'.repeat(100) + 'e'.repeat(100), 'ERR_BENCODE_TOO_DEEP'],
  ];
  for (const [input, code] of bad) {
    it(`rejects ${JSON.stringify(input.slice(0, 24))} with ${code}`, () => {
      assert.throws(
        () => bdecode(Buffer.from(input)),
        (error: unknown) => error instanceof BencodeError && error.code === code,
      );
    });
  }

  it('never throws anything but BencodeError on random bytes', () => {
    let seed = 12345;
    const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const alphabet = Buffer.from('ild0123456789e:-xa');
    for (let i = 0; i < 2000; i++) {
      const input = Buffer.from(
        Array.from({ length: next() % 24 }, () => alphabet[next() % alphabet.length] ?? 0),
      );
      try {
        bdecode(input);
      } catch (error) {
        assert.ok(error instanceof BencodeError, `${input.toString()}: ${String(error)}`);
      }
    }
  });
});

describe('rtpengine', { timeout: 90_000 }, () => {
  let engine: Rtpengine;
  // A port block of its own, below the ephemeral range and the proxy's default 30000-39999.
  const portMin = 25_000 + 200 * Math.floor(Math.random() * 25);

  before(async () => {
    engine = await startRtpengine({ portMin, portMax: portMin + 199, timeoutMs: 120_000 });
  });
  after(async () => {
    await engine.stop();
    await stopAllPeers();
  });

  it('answers ping and refuses a query for an unknown call', async () => {
    await engine.client.ping();
    await assert.rejects(engine.client.query('no-such-call'), NgError);
    assert.ok(engine.pid > 0);
  });

  it('relays the clip A -> B: every frame arrives', async () => {
    const clip = await testClip();
    const [fromPort, toPort] = [await freeUdpPortPair(), await freeUdpPortPair()];
    const relay = await setupOneWayRelay(engine.client, { fromPort, toPort });
    assert.ok(relay.ingressPort >= portMin && relay.ingressPort <= portMin + 199);
    const receiver = await startRtpReceiver({
      sdp: await clipSdp(clip),
      port: toPort,
      timeoutMs: 20_000,
    });
    await sendRtp({ clip, port: relay.ingressPort, localPort: fromPort });
    const result = await receiver.result();
    assert.deepEqual(result.frameHashes, clip.frameHashes, result.stderr);
    const query = await engine.client.query(relay.callId);
    assert.equal(query['result'], 'ok');
    await engine.client.delete({ 'call-id': relay.callId });
  });

  it('bridges RTP -> SRTP: ffmpeg decrypts with the key rtpengine offered', async () => {
    const clip = await testClip();
    const [fromPort, toPort] = [await freeUdpPortPair(), await freeUdpPortPair()];
    const relay = await setupOneWayRelay(engine.client, { fromPort, toPort, srtp: {} });
    const srtp = relay.srtp;
    assert.ok(srtp);
    assert.equal(srtp.suite, 'AES_CM_128_HMAC_SHA1_80');
    const offered = parseCryptoLines(relay.sdpForB).find((line) => line.tag === srtp.tag);
    assert.equal(offered?.key, srtp.key);
    const receiver = await startRtpReceiver({
      sdp: await clipSdp(clip),
      port: toPort,
      srtpKey: srtp.key,
      timeoutMs: 20_000,
    });
    await sendRtp({ clip, port: relay.ingressPort, localPort: fromPort });
    const result = await receiver.result();
    assert.equal(result.hmacMismatch, false, result.stderr);
    assert.deepEqual(result.frameHashes, clip.frameHashes, result.stderr);
    await engine.client.delete({ 'call-id': relay.callId });
  });
});
