/**
 * The RTP benchmark's C generator and sink (loadtests/rtp/rtp-load.c), on
 * real loopback sockets: what bench:rtp counts must be what was sent, the
 * packets must be the RTP of packet.ts (so relays accept them and the Node
 * receiver reads them), and the sink's per-flow reorder and gap counts must
 * follow the sequence numbers. A flow's numbering goes on from generator
 * to generator (bench:rtp's flows are one sender each, session.ts), with the
 * C and the Node generator alike. Hostile input to the sink (short and foreign
 * datagrams, unknown commands) is counted, never a crash.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { buildC } from '../../../loadtests/rtp/c-build.js';
import type { Child } from '../../../loadtests/rtp/children.js';
import { LOAD_KINDS, startGenerator, startReceiver } from '../../../loadtests/rtp/load.js';
import type { GeneratorRun, ReceiverCollect } from '../../../loadtests/rtp/messages.js';
import {
  PAYLOAD_TYPE,
  monotonicMs,
  packetTemplate,
  sendTime,
  stamp,
} from '../../../loadtests/rtp/packet.js';
import { freeUdpPort, sleep } from '../../helpers/peers/process.js';

async function collect(sink: Child): Promise<ReceiverCollect> {
  return sink.request<ReceiverCollect>({ type: 'collect' }, 'collect', 5_000);
}

/** Collects until the count holds still (the sink drains its socket buffers). */
async function settled(sink: Child): Promise<ReceiverCollect> {
  let last = await collect(sink);
  for (let i = 0; i < 30; i++) {
    await sleep(100);
    const next = await collect(sink);
    const sum = (c: ReceiverCollect): number => c.received.reduce((a, b) => a + b, 0);
    if (sum(next) === sum(last)) return next;
    last = next;
  }
  return last;
}

async function boundSocket(port?: number): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind({ port: port ?? 0, address: '127.0.0.1' });
  await once(socket, 'listening');
  return socket;
}

describe('rtp-load.c (bench:rtp load)', { timeout: 60_000 }, () => {
  it('the generator paces N flows and the sink counts every packet, in order, with its latency', async () => {
    const ports = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
    const sources = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
    const sink = await startReceiver('c', ports);
    const generator = await startGenerator('c', {
      size: 200,
      streams: ports.map((dst, i) => ({ src: sources[i] ?? 0, dst, ssrc: 0xabc00000 + i })),
    });
    try {
      await sink.request({ type: 'reset' }, 'reset', 5_000);
      const run = await generator.request<GeneratorRun>(
        { type: 'run', ratePps: 30_000, durationMs: 500 },
        'run',
        10_000,
      );
      // Paced: about rate x duration, not as fast as it can.
      assert.ok(run.sent > 12_000 && run.sent <= 15_100, `sent ${run.sent}`);
      assert.equal(run.sendErrors, 0);
      const counts = await settled(sink);
      const received = counts.received.reduce((a, b) => a + b, 0);
      assert.equal(received, run.sent);
      // Round-robin over the flows: within one packet of each other.
      assert.ok(Math.max(...counts.received) - Math.min(...counts.received) <= 1);
      assert.deepEqual(counts.reordered, [0, 0, 0]);
      assert.deepEqual(counts.seqLost, [0, 0, 0]);
      assert.equal(counts.foreign, 0);
      assert.equal(counts.bytes, received * 200);
      assert.equal(counts.latency.samples, received);
      assert.ok(counts.latency.p50Us > 0 && counts.latency.p50Us <= counts.latency.p99Us);
    } finally {
      await generator.stop();
      await sink.stop();
    }
  });

  it("the generator's packets are packet.ts's RTP, one SSRC and consecutive sequence numbers per flow", async () => {
    const receiver = await boundSocket();
    const port = receiver.address().port;
    const packets: Buffer[] = [];
    receiver.on('message', (packet) => packets.push(packet));
    const generator = await startGenerator('c', {
      size: 1200,
      streams: [{ src: await freeUdpPort(), dst: port, ssrc: 0xfeedbeef }],
    });
    try {
      const before = monotonicMs();
      const run = await generator.request<GeneratorRun>(
        { type: 'run', ratePps: 2_000, durationMs: 100 },
        'run',
        10_000,
      );
      await sleep(200);
      const after = monotonicMs();
      assert.equal(packets.length, run.sent);
      const template = packetTemplate(1200, 0xfeedbeef);
      for (const [i, packet] of packets.entries()) {
        assert.equal(packet.length, 1200);
        assert.equal(packet[0], 0x90, 'V=2, X=1');
        assert.equal(packet[1], PAYLOAD_TYPE);
        assert.equal(packet.readUInt32BE(8), 0xfeedbeef);
        // Everything but sequence, timestamp and send time is the template's.
        assert.ok(packet.subarray(12, 17).equals(template.subarray(12, 17)));
        assert.ok(packet.subarray(25).equals(template.subarray(25)));
        const sent = sendTime(packet);
        assert.ok(sent >= before && sent <= after, `send time ${sent} in [${before}, ${after}]`);
        const first = packets[0]?.readUInt16BE(2) ?? 0;
        assert.equal(packet.readUInt16BE(2), (first + i) & 0xffff);
      }
    } finally {
      await generator.stop();
      receiver.close();
    }
  });

  for (const kind of LOAD_KINDS) {
    it(`${kind} generator: a flow starts at the sequence number given and reports its next one, which a later generator goes on from`, async () => {
      const receiver = await boundSocket();
      const port = receiver.address().port;
      const sequences: number[] = [];
      receiver.on('message', (packet: Buffer) => sequences.push(packet.readUInt16BE(2)));
      const src = await freeUdpPort();
      const runOnce = async (sequence?: number): Promise<GeneratorRun> => {
        const stream = { src, dst: port, ssrc: 0x5eed0001 };
        const generator = await startGenerator(kind, {
          size: 200,
          streams: [sequence === undefined ? stream : { ...stream, sequence }],
        });
        try {
          return await generator.request<GeneratorRun>(
            { type: 'run', ratePps: 5_000, durationMs: 100 },
            'run',
            10_000,
          );
        } finally {
          await generator.stop();
        }
      };
      try {
        // Across the wrap: the first generator's last packets are 65535, 0, 1...
        const first = await runOnce(65_400);
        assert.ok(first.sent > 200, `sent ${first.sent}`);
        assert.deepEqual(first.next, [(65_400 + first.sent) & 0xffff]);
        const second = await runOnce(first.next[0]);
        await sleep(200);
        assert.equal(sequences.length, first.sent + second.sent);
        for (const [i, sequence] of sequences.entries())
          assert.equal(sequence, (65_400 + i) & 0xffff);
        assert.deepEqual(second.next, [(65_400 + sequences.length) & 0xffff]);
      } finally {
        receiver.close();
      }
    });
  }

  it('the sink counts reordering and gaps per flow, and short or foreign datagrams apart', async () => {
    const ports = [await freeUdpPort(), await freeUdpPort()];
    const sink = await startReceiver('c', ports);
    const sender = await boundSocket();
    const send = async (port: number, packet: Buffer): Promise<void> => {
      sender.send(packet, port, '127.0.0.1');
      await sleep(5);
    };
    const rtp = (sequence: number): Buffer => {
      const packet = packetTemplate(100, 0x1234);
      stamp(packet, sequence);
      return packet;
    };
    try {
      await sink.request({ type: 'reset' }, 'reset', 5_000);
      // Flow 0: 65534, 65535, 1, 0 (a wrap, then one late packet); flow 1: 10, 12 (11 lost).
      for (const sequence of [65534, 65535, 1, 0]) await send(ports[0] ?? 0, rtp(sequence));
      for (const sequence of [10, 12]) await send(ports[1] ?? 0, rtp(sequence));
      await send(ports[1] ?? 0, rtp(12)); // a duplicate
      await send(ports[0] ?? 0, Buffer.alloc(0));
      await send(ports[0] ?? 0, Buffer.from('not rtp at all, but long enough to be read'));
      await send(ports[1] ?? 0, rtp(13).subarray(0, 20));
      sink.process.stdin?.write('bogus command\n');
      const counts = await settled(sink);
      assert.deepEqual(counts.received, [4, 3]);
      assert.deepEqual(counts.reordered, [1, 0]);
      assert.deepEqual(counts.duplicates, [0, 1]);
      assert.deepEqual(counts.seqLost, [0, 1]);
      assert.equal(counts.foreign, 3);
      await sink.request({ type: 'reset' }, 'reset', 5_000);
      const reset = await collect(sink);
      assert.deepEqual(reset.received, [0, 0]);
      assert.equal(reset.latency.samples, 0);
    } finally {
      sender.close();
      await sink.stop();
    }
  });

  it('refuses bad arguments with exit status 2, before opening a socket', () => {
    const binary = buildC('rtp-load');
    for (const args of [
      [],
      ['gen', '10', '1:2:3'],
      ['gen', '200', 'x'],
      ['gen', '200', '70000:2:3'],
      ['gen', '200', '1:2:3:65536'],
      ['sink', '0'],
      ['sink', 'abc'],
      ['relay'],
    ]) {
      const result = spawnSync(binary, args, { encoding: 'utf8', timeout: 5_000 });
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    }
  });
});
