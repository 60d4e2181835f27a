/**
 * What the cascade (issue 18) rests on, pinned against the mediasoup worker
 * this tree runs: two Routers on two Workers joined by an SRTP PipeTransport
 * pair on 127.0.0.11 (node A) and 127.0.0.12 (node B), a plain RTP
 * publisher on A and a plain consumer on B.
 *
 * - enableSrtp makes an AEAD_AES_256_GCM key of 44 bytes (60 base64
 *   characters): the PIPE resource's schema takes exactly that.
 * - RTP crosses; garbage and plaintext RTP sent to the pipe port are dropped
 *   and do not disturb the stream (every real packet still arrives).
 * - A pipe connected with a wrong key carries nothing.
 * - The pipe producer's stats have loss, jitter and round-trip time: the
 *   per-hop quality view reads them.
 * - Pausing or closing the origin producer does NOT reach the pipe producer:
 *   the origin node has to signal both (the cascade link does).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { checkRtp, isRtcpPacket, rtpHeaderLength } from '../../../src/protocol/rtp/index.js';
import { waitFor } from '../../helpers/process.js';
import { UdpPeer, rtp } from '../../helpers/udp.js';

const codecs: types.RouterRtpCodecCapability[] = [
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];
const SSRC = 0x1111;
/** Payload after the VP8 descriptor (S=1) and a key-frame payload header (P=0). */
const GENUINE = 0x47;
const HOSTILE = 0xba;
const vp8KeyFrame = (fill: number): Buffer =>
  Buffer.concat([Buffer.from([0x10, 0x00]), Buffer.alloc(180, fill)]);

interface Pipe {
  readonly a: types.PipeTransport;
  readonly b: types.PipeTransport;
}

/** The RTP packets `peer` received whose payload is filled with `fill`. */
function received(peer: UdpPeer, fill: number): Buffer[] {
  return peer.received
    .map(({ packet }) => packet)
    .filter((packet) => !isRtcpPacket(packet) && checkRtp(packet) === null)
    .filter((packet) => packet[rtpHeaderLength(packet) + 2] === fill);
}

describe('mediasoup PipeTransport with SRTP between two workers', () => {
  let workerA: types.Worker;
  let workerB: types.Worker;
  let routerA: types.Router;
  let routerB: types.Router;

  before(async () => {
    workerA = await mediasoup.createWorker({
      logLevel: 'warn',
      rtcMinPort: 43000,
      rtcMaxPort: 43199,
    });
    workerB = await mediasoup.createWorker({
      logLevel: 'warn',
      rtcMinPort: 43200,
      rtcMaxPort: 43399,
    });
    routerA = await workerA.createRouter({ mediaCodecs: codecs });
    routerB = await workerB.createRouter({ mediaCodecs: codecs });
  });

  after(() => {
    workerA.close();
    workerB.close();
  });

  /** A connected pair from routerA to `atB`; with `wrongKeyAtB`, B decrypts with a random key. */
  async function pipePair(atB: types.Router = routerB, wrongKeyAtB = false): Promise<Pipe> {
    const a = await routerA.createPipeTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.11' },
      enableSrtp: true,
      enableRtx: true,
    });
    const b = await atB.createPipeTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.12' },
      enableSrtp: true,
      enableRtx: true,
    });
    const keyOf = (transport: types.PipeTransport): types.SrtpParameters => {
      const srtp = transport.srtpParameters;
      assert.ok(srtp !== undefined, 'enableSrtp gives the transport a key');
      return srtp;
    };
    await a.connect({
      ip: b.tuple.localAddress,
      port: b.tuple.localPort,
      srtpParameters: keyOf(b),
    });
    const keyForB = wrongKeyAtB
      ? { cryptoSuite: keyOf(a).cryptoSuite, keyBase64: randomBytes(44).toString('base64') }
      : keyOf(a);
    await b.connect({ ip: a.tuple.localAddress, port: a.tuple.localPort, srtpParameters: keyForB });
    return { a, b };
  }

  /** A producer on A fed by a plain RTP sender; `send` sends one packet per call. */
  async function publisher() {
    const transport = await routerA.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: true,
      comedia: true,
    });
    const producer = await transport.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 }],
        encodings: [{ ssrc: SSRC }],
      },
    });
    const socket = await UdpPeer.bind();
    let sequence = 0;
    let timer: NodeJS.Timeout | undefined;
    return {
      transport,
      producer,
      get sent() {
        return sequence;
      },
      start() {
        timer = setInterval(() => {
          for (let burst = 0; burst < 4; burst += 1) {
            const packet = rtp({ sequence, ssrc: SSRC, payload: vp8KeyFrame(GENUINE) });
            sequence += 1;
            socket.socket.send(packet, transport.tuple.localPort, '127.0.0.1');
          }
        }, 20);
      },
      stop() {
        clearInterval(timer);
      },
      close() {
        clearInterval(timer);
        socket.close();
        transport.close();
      },
    };
  }

  /** Pipes `producer` from A to `atB`; a plain consumer there sends to a UDP socket. */
  async function pipeAndConsume(pipe: Pipe, producer: types.Producer, atB: types.Router = routerB) {
    const pipeConsumer = await pipe.a.consume({ producerId: producer.id });
    const pipeProducer = await pipe.b.produce({
      id: producer.id,
      kind: pipeConsumer.kind,
      rtpParameters: pipeConsumer.rtpParameters,
      paused: pipeConsumer.producerPaused,
    });
    const receiver = await UdpPeer.bind();
    const out = await atB.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: true,
      comedia: false,
    });
    await out.connect({ ip: '127.0.0.1', port: receiver.port });
    const consumer = await out.consume({
      producerId: producer.id,
      rtpCapabilities: { codecs: atB.rtpCapabilities.codecs ?? [] },
    });
    return {
      pipeConsumer,
      pipeProducer,
      consumer,
      receiver,
      close() {
        out.close();
        receiver.close();
      },
    };
  }

  it('makes AEAD_AES_256_GCM keys of 44 bytes, 60 base64 characters', async () => {
    const pipe = await pipePair();
    try {
      for (const transport of [pipe.a, pipe.b]) {
        const srtp = transport.srtpParameters;
        assert.equal(srtp?.cryptoSuite, 'AEAD_AES_256_GCM');
        assert.equal(srtp.keyBase64.length, 60);
        assert.equal(Buffer.from(srtp.keyBase64, 'base64').length, 44);
      }
      assert.notEqual(pipe.a.srtpParameters?.keyBase64, pipe.b.srtpParameters?.keyBase64);
      assert.equal(pipe.a.tuple.localAddress, '127.0.0.11');
      assert.equal(pipe.b.tuple.localAddress, '127.0.0.12');
    } finally {
      pipe.a.close();
      pipe.b.close();
    }
  });

  it('carries RTP across; garbage and plaintext RTP at the pipe port are dropped without disturbing it', async () => {
    const pipe = await pipePair();
    const source = await publisher();
    const hostile = await UdpPeer.bind();
    const sink = await pipeAndConsume(pipe, source.producer);
    let hostileSequence = 0;
    const attack = setInterval(() => {
      const target = pipe.b.tuple.localPort;
      hostile.socket.send(randomBytes(64), target, '127.0.0.12');
      hostile.socket.send(Buffer.from('garbage-garbage-garbage'), target, '127.0.0.12');
      // Plaintext RTP of the piped stream's own SSRC: if taken, it would reach the consumer.
      for (const ssrc of sink.pipeConsumer.rtpParameters.encodings?.map((e) => e.ssrc) ?? []) {
        const packet = rtp({
          sequence: hostileSequence,
          ssrc: ssrc ?? SSRC,
          payloadType: sink.pipeConsumer.rtpParameters.codecs[0]?.payloadType ?? 96,
          payload: vp8KeyFrame(HOSTILE),
        });
        hostile.socket.send(packet, target, '127.0.0.12');
      }
      hostileSequence += 1;
    }, 10);
    try {
      source.start();
      await waitFor(
        () => (received(sink.receiver, GENUINE).length >= 200 ? true : undefined),
        10_000,
        () => `RTP across the pipe, got ${received(sink.receiver, GENUINE).length}`,
      );
      source.stop();
      clearInterval(attack);
      const sent = source.sent;
      // Every packet the publisher sent arrives, the attack notwithstanding.
      await waitFor(
        () => (received(sink.receiver, GENUINE).length >= sent ? true : undefined),
        3_000,
        () => `all ${sent} packets at B, got ${received(sink.receiver, GENUINE).length}`,
      );
      assert.ok(hostileSequence > 0, 'the attack ran');
      assert.equal(received(sink.receiver, HOSTILE).length, 0, 'no plaintext packet crossed');
      const [stats] = await sink.pipeProducer.getStats();
      assert.equal(stats?.packetsLost, 0);
    } finally {
      clearInterval(attack);
      hostile.close();
      sink.close();
      source.close();
      pipe.a.close();
      pipe.b.close();
    }
  });

  it('carries nothing over a pipe whose receiving end has the wrong key', async () => {
    // The same producer crosses twice: to routerB with the right key (the
    // control) and, with a wrong one, to a Router on a third worker (a worker
    // holds a producer id once).
    const workerC = await mediasoup.createWorker({
      logLevel: 'warn',
      rtcMinPort: 43400,
      rtcMaxPort: 43599,
    });
    const routerB2 = await workerC.createRouter({ mediaCodecs: codecs });
    const good = await pipePair();
    const bad = await pipePair(routerB2, true);
    const source = await publisher();
    const control = await pipeAndConsume(good, source.producer);
    const wrong = await pipeAndConsume(bad, source.producer, routerB2);
    try {
      source.start();
      await waitFor(
        () => (received(control.receiver, GENUINE).length >= 100 ? true : undefined),
        10_000,
        () => 'RTP over the pipe with the right key',
      );
      const [sentIntoBad] = await wrong.pipeConsumer.getStats();
      assert.ok((sentIntoBad?.packetCount ?? 0) > 0, 'A sent the stream into the wrong-key pipe');
      const [badPort] = await bad.b.getStats();
      assert.ok((badPort?.bytesReceived ?? 0) > 0, 'the packets did reach the port');
      assert.equal(badPort?.rtpBytesReceived, 0, 'none of them decrypted');
      const wrongStreams = await wrong.pipeProducer.getStats();
      assert.equal(
        wrongStreams.reduce((sum, stream) => sum + stream.packetCount, 0),
        0,
      );
      assert.equal(received(wrong.receiver, GENUINE).length, 0);
    } finally {
      control.close();
      wrong.close();
      source.close();
      for (const transport of [good.a, good.b, bad.a, bad.b]) transport.close();
      workerC.close();
    }
  });

  it('gives the pipe producer loss, jitter and round-trip time', async () => {
    const pipe = await pipePair();
    const source = await publisher();
    const sink = await pipeAndConsume(pipe, source.producer);
    try {
      source.start();
      // RTT needs a sender report from A and a receiver report back: seconds of RTCP.
      const stats = await waitFor(
        async () => {
          const [stream] = await sink.pipeProducer.getStats();
          return stream?.roundTripTime !== undefined && stream.roundTripTime > 0
            ? stream
            : undefined;
        },
        15_000,
        () => 'roundTripTime in the pipe producer stats',
      );
      assert.equal(typeof stats.packetsLost, 'number');
      assert.equal(typeof stats.fractionLost, 'number');
      assert.equal(typeof stats.jitter, 'number');
      assert.ok(stats.packetCount > 0);
    } finally {
      sink.close();
      source.close();
      pipe.a.close();
      pipe.b.close();
    }
  });

  it("does not carry the origin producer's pause or close across by itself", async () => {
    const pipe = await pipePair();
    const source = await publisher();
    const sink = await pipeAndConsume(pipe, source.producer);
    try {
      source.start();
      await waitFor(
        () => (received(sink.receiver, GENUINE).length > 0 ? true : undefined),
        5_000,
        () => 'RTP across the pipe',
      );
      const pipePaused = new Promise<void>((resolve) => {
        sink.pipeConsumer.observer.once('pause', resolve);
      });
      await source.producer.pause();
      await pipePaused; // A's pipe consumer has heard of the pause ...
      await sink.pipeProducer.getStats(); // ... and B's worker answered a request since.
      assert.equal(sink.pipeConsumer.producerPaused, true);
      assert.equal(sink.pipeProducer.paused, false, 'the pipe producer on B is not paused');
      assert.equal(sink.consumer.producerPaused, false, "B's consumer was not told");

      const pipeClosed = new Promise<void>((resolve) => {
        sink.pipeConsumer.observer.once('close', resolve);
      });
      source.producer.close();
      await pipeClosed;
      await sink.pipeProducer.getStats();
      assert.equal(sink.pipeProducer.closed, false, 'the pipe producer on B is still open');
      assert.equal(sink.consumer.closed, false, "B's consumer is still open");
    } finally {
      sink.close();
      source.close();
      pipe.a.close();
      pipe.b.close();
    }
  });
});
