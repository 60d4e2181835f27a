/**
 * tshark reads the loss and jitter we put into a flow on purpose: the
 * independent measure the proxy's own stream statistics are checked against.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { sendImpaired } from '../../helpers/peers/impaired-sender.js';
import { freeUdpPortPair, stopAllPeers } from '../../helpers/peers/process.js';
import { parseRtpStreams, rtpStreams, startCapture } from '../../helpers/peers/tshark.js';

after(stopAllPeers);

// Real `tshark -q -z rtp,streams` output (tshark 4.0), plus a line with
// duplicates (negative loss) and tshark's problem mark.
const fixture = `========================= RTP Streams ========================
   Start time      End time     Src IP addr  Port    Dest IP addr  Port       SSRC          Payload  Pkts         Lost   Min Delta(ms)  Mean Delta(ms)   Max Delta(ms)  Min Jitter(ms) Mean Jitter(ms)  Max Jitter(ms) Problems?
     0.000000      3.808849       127.0.0.1 60737       127.0.0.1  5030 0x11223344             h264   106     0 (0.0%)           0.008           2.526          40.821           0.001           0.163           1.494 
     0.100000      2.000000       127.0.0.1 40000       127.0.0.1  5032 0x0000beef       RTPType-97    50    -2 (-4.2%)          0.010          20.000          45.500          -1.000           0.000           0.000 X
==============================================================
`;

describe('tshark and the impaired sender', { timeout: 60_000 }, () => {
  it('parses every column of -z rtp,streams', () => {
    const [first, second, ...rest] = parseRtpStreams(fixture);
    assert.equal(rest.length, 0);
    assert.deepEqual(first, {
      src: { address: '127.0.0.1', port: 60737 },
      dst: { address: '127.0.0.1', port: 5030 },
      ssrc: 0x11223344,
      payload: 'h264',
      payloadType: undefined,
      packets: 106,
      lost: 0,
      lossPercent: 0,
      minDeltaMs: 0.008,
      meanDeltaMs: 2.526,
      maxDeltaMs: 40.821,
      minJitterMs: 0.001,
      meanJitterMs: 0.163,
      maxJitterMs: 1.494,
      problems: false,
    });
    assert.ok(second);
    assert.equal(second.payloadType, 97);
    assert.equal(second.lost, -2);
    assert.equal(second.lossPercent, -4.2);
    assert.equal(second.problems, true);
    assert.deepEqual(parseRtpStreams('no streams\n'), []);
  });

  it('counts exactly the packets the sender dropped, and sees its jitter', async () => {
    const clean = await freeUdpPortPair();
    const impaired = await freeUdpPortPair();
    // Receivers, so the packets have somewhere to go (tshark does not need them).
    const sinks = await Promise.all(
      [clean, impaired].map(async (port) => {
        const socket = createSocket('udp4');
        socket.bind(port, '127.0.0.1');
        await once(socket, 'listening');
        return socket;
      }),
    );
    const capture = await startCapture({ ports: [clean, impaired], timeoutMs: 30_000 });
    const common = { count: 300, ptimeMs: 10, payloadType: 0, clockRate: 8000, payloadBytes: 80 };
    const [cleanSent, impairedSent] = await Promise.all([
      sendImpaired({ ...common, port: clean, ssrc: 0x1001 }),
      sendImpaired({
        ...common,
        port: impaired,
        ssrc: 0x2002,
        lossPercent: 5,
        jitterMs: 15,
        seed: 7,
      }),
    ]);
    const { packets } = await capture.stop();
    for (const socket of sinks) socket.close();
    assert.equal(packets, cleanSent.sent + impairedSent.sent);
    assert.equal(impairedSent.droppedSequences.length, 15);
    assert.equal(impairedSent.sent, 285);

    const streams = await rtpStreams(capture.file, { rtpPorts: [clean, impaired] });
    const byPort = new Map(streams.map((stream) => [stream.dst.port, stream]));
    const cleanStats = byPort.get(clean);
    const impairedStats = byPort.get(impaired);
    assert.ok(cleanStats !== undefined && impairedStats !== undefined, JSON.stringify(streams));
    assert.equal(cleanStats.ssrc, 0x1001);
    assert.equal(cleanStats.payloadType, 0);
    assert.equal(cleanStats.packets, 300);
    assert.equal(cleanStats.lost, 0);
    assert.equal(impairedStats.ssrc, 0x2002);
    assert.equal(impairedStats.packets, 285);
    assert.equal(impairedStats.lost, 15);
    assert.equal(impairedStats.lossPercent, 5);
    // Uniform delays in [0, 15] ms: RFC 3550 jitter settles near 15/3 = 5 ms.
    assert.ok(
      impairedStats.meanJitterMs > 2.5 && impairedStats.meanJitterMs < 8,
      `impaired jitter ${impairedStats.meanJitterMs} ms, expected about 5`,
    );
    assert.ok(
      cleanStats.meanJitterMs < impairedStats.meanJitterMs / 2,
      `clean jitter ${cleanStats.meanJitterMs} ms`,
    );
  });

  it('drops the same sequence numbers for the same seed', async () => {
    const port = await freeUdpPortPair();
    const options = {
      port,
      count: 50,
      ptimeMs: 1,
      lossPercent: 10,
      seed: 42,
      firstSequence: 65530,
    };
    const [a, b] = [await sendImpaired(options), await sendImpaired(options)];
    assert.deepEqual(a.droppedSequences, b.droppedSequences);
    assert.equal(a.droppedSequences.length, 5);
    assert.equal(a.lastSequence, (65530 + 49) & 0xffff);
    assert.ok(!a.droppedSequences.includes(65530) && !a.droppedSequences.includes(a.lastSequence));
  });
});
