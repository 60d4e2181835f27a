/**
 * The mediasoup worker that `npm install` fetched or built offline
 * (scripts/mediasoup-worker.mjs) runs: a Worker starts, a Router and a
 * PlainTransport are created on loopback, and a real RTP packet sent to the
 * transport is counted by a producer.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { waitFor } from '../../helpers/process.js';

describe('mediasoup worker', () => {
  let worker: types.Worker;

  before(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
  });

  after(() => {
    worker.close();
  });

  it('creates a Router and receives RTP on a PlainTransport', async () => {
    const router = await worker.createRouter({
      mediaCodecs: [
        { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
        {
          kind: 'video',
          mimeType: 'video/H264',
          clockRate: 90000,
          parameters: { 'packetization-mode': 1 },
        },
      ],
    });
    assert.ok(router.rtpCapabilities.codecs?.some((codec) => codec.mimeType === 'video/H264'));
    const transport = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: true,
      comedia: true,
    });
    const producer = await transport.produce({
      kind: 'audio',
      rtpParameters: {
        codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }],
        encodings: [{ ssrc: 0x11223344 }],
      },
    });
    const socket = createSocket('udp4');
    try {
      for (let sequence = 0; sequence < 20; sequence += 1) {
        const packet = Buffer.alloc(12 + 40);
        packet[0] = 0x80;
        packet[1] = 111;
        packet.writeUInt16BE(sequence, 2);
        packet.writeUInt32BE(sequence * 960, 4);
        packet.writeUInt32BE(0x11223344, 8);
        await new Promise<void>((resolve, reject) => {
          socket.send(packet, transport.tuple.localPort, '127.0.0.1', (error) => {
            if (error) reject(error);
            else resolve();
          });
        });
      }
      const stats = await waitFor(async () => {
        const [first] = await producer.getStats();
        return first !== undefined && first.packetCount >= 20 ? first : undefined;
      }, 5_000);
      assert.equal(stats.ssrc, 0x11223344);
    } finally {
      socket.close();
    }
    router.close();
    assert.equal(transport.closed, true);
  });
});
