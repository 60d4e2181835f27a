/**
 * The main thread's outbox to one media worker (viewer-outbox.ts): one
 * message per turn, each packet copied once however many of the worker's
 * viewers get it, each viewer's deliveries in order; and PortAllocator's
 * allocateWith, which lets the worker bind the pair main picks.
 */
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { after, describe, it } from 'node:test';
import { ViewerOutbox } from '../../../rtp-proxy/media/rtsp/viewer-outbox.js';
import {
  SEND_RTCP,
  SEND_RTP,
  type ToViewerWorker,
} from '../../../rtp-proxy/media/rtsp/viewer-messages.js';
import { PortAllocator, PortsExhaustedError } from '../../../src/media/udp/index.js';

type Sends = Extract<ToViewerWorker, { kind: 'sends' }>;

function rtpPacket(sequence: number, bytes = 20): Buffer {
  const packet = Buffer.alloc(bytes, sequence & 0xff);
  packet[0] = 0x80;
  packet.writeUInt16BE(sequence, 2);
  return packet;
}

/** What the worker would make of a message: per viewer, its packets' bytes in order. */
function delivered(message: Sends): Map<number, { kind: number; bytes: Buffer }[]> {
  const byViewer = new Map<number, { kind: number; bytes: Buffer }[]>();
  for (let entry = 0; entry < message.plan.length / 3; entry += 1) {
    const viewer = message.plan[entry * 3] ?? -1;
    const kind = message.plan[entry * 3 + 1] ?? -1;
    const index = message.plan[entry * 3 + 2] ?? -1;
    const bytes = Buffer.from(
      message.slab,
      message.offsets[index] ?? 0,
      message.lengths[index] ?? 0,
    );
    const list = byViewer.get(viewer) ?? [];
    list.push({ kind, bytes: Buffer.from(bytes) });
    byViewer.set(viewer, list);
  }
  return byViewer;
}

describe('ViewerOutbox', () => {
  const ports: MessagePort[] = [];
  after(() => {
    for (const port of ports) port.close();
  });
  const channel = (): { outbox: ViewerOutbox; next: () => Promise<Sends> } => {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1, port2);
    const outbox = new ViewerOutbox();
    outbox.port = port1;
    const queue: Sends[] = [];
    let waiting: ((message: Sends) => void) | undefined;
    port2.on('message', (message: Sends) => {
      if (waiting === undefined) queue.push(message);
      else {
        waiting(message);
        waiting = undefined;
      }
    });
    const next = (): Promise<Sends> => {
      const ready = queue.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve) => (waiting = resolve));
    };
    return { outbox, next };
  };

  it('posts one message per turn; a packet for three viewers is copied once', async () => {
    const { outbox, next } = channel();
    const a = rtpPacket(1);
    const b = rtpPacket(2, 30);
    for (const viewer of [1, 2, 3]) assert.ok(outbox.push(viewer, SEND_RTP, a));
    for (const viewer of [1, 2, 3]) outbox.push(viewer, SEND_RTP, b);
    outbox.push(2, SEND_RTCP, Buffer.from([0x80, 200, 0, 0]));
    const message = await next();
    assert.equal(message.offsets.length, 3, 'three distinct packets');
    assert.equal(message.slab.byteLength, 20 + 30 + 4);
    assert.equal(message.plan.length / 3, 7);
    const got = delivered(message);
    for (const viewer of [1, 3]) {
      assert.deepEqual(
        got.get(viewer)?.map(({ bytes }) => bytes.readUInt16BE(2)),
        [1, 2],
      );
    }
    assert.deepEqual(
      got.get(2)?.map(({ kind }) => kind),
      [SEND_RTP, SEND_RTP, SEND_RTCP],
    );
  });

  it('does not take a Buffer rewritten in place for the next packet as a repeat', async () => {
    const { outbox, next } = channel();
    const reused = rtpPacket(7);
    outbox.push(1, SEND_RTP, reused);
    outbox.push(2, SEND_RTP, reused);
    reused.writeUInt16BE(8, 2);
    reused.fill(0xee, 12);
    outbox.push(1, SEND_RTP, reused);
    outbox.push(2, SEND_RTP, reused);
    const message = await next();
    assert.equal(message.offsets.length, 2);
    const got = delivered(message);
    for (const viewer of [1, 2]) {
      const bytes = got.get(viewer)?.map((d) => d.bytes) ?? [];
      assert.deepEqual(
        bytes.map((b) => b.readUInt16BE(2)),
        [7, 8],
      );
      assert.equal(bytes[0]?.[12], 7, 'the first packet kept its own bytes');
      assert.equal(bytes[1]?.[12], 0xee);
    }
  });

  it('grows for a large turn and starts each turn empty', async () => {
    const { outbox, next } = channel();
    for (let sequence = 0; sequence < 200; sequence += 1) {
      outbox.push(1, SEND_RTP, rtpPacket(sequence, 1200));
    }
    const big = await next();
    assert.equal(big.offsets.length, 200);
    assert.deepEqual(
      delivered(big)
        .get(1)
        ?.map(({ bytes }) => bytes.readUInt16BE(2)),
      Array.from({ length: 200 }, (_, i) => i),
    );
    outbox.push(4, SEND_RTP, rtpPacket(9));
    const small = await next();
    assert.equal(small.plan.length / 3, 1);
    assert.equal(small.slab.byteLength, 20);
  });

  it('refuses deliveries while its worker is down, and drops what the dead one was owed', async () => {
    const { outbox, next } = channel();
    const port = outbox.port;
    outbox.push(1, SEND_RTP, rtpPacket(1));
    outbox.port = undefined;
    assert.equal(outbox.push(1, SEND_RTP, rtpPacket(2)), false);
    outbox.port = port;
    outbox.push(1, SEND_RTP, rtpPacket(3));
    const message = await next();
    assert.deepEqual(
      delivered(message)
        .get(1)
        ?.map(({ bytes }) => bytes.readUInt16BE(2)),
      [3],
    );
  });
});

describe('PortAllocator.allocateWith', () => {
  it('skips ports the binder finds taken and holds the one it took', async () => {
    const ports = new PortAllocator({ start: 20_000, end: 20_007 });
    const tried: number[] = [];
    const first = await ports.allocateWith((port) => {
      tried.push(port);
      return Promise.resolve(port === 20_000 ? undefined : port);
    });
    assert.equal(first, 20_002);
    const second = await ports.allocateWith((port) => Promise.resolve(port));
    assert.equal(second, 20_004, 'a held pair is not offered again');
    assert.deepEqual(tried, [20_000, 20_002]);
  });

  it('holds a port while it is being bound, and frees it when the binder fails', async () => {
    const ports = new PortAllocator({ start: 20_000, end: 20_003 });
    let release!: (port: number) => void;
    const slow = ports.allocateWith(
      (port) => new Promise<number>((resolve) => (release = () => resolve(port))),
    );
    // The only other pair is offered to a concurrent allocation.
    await assert.rejects(
      ports.allocateWith((port) => Promise.reject(new Error(`no ${port}`))),
      /no 20002/,
    );
    release(0);
    assert.equal(await slow, 20_000);
    // 20002 was freed by the failure; 20000 is held.
    assert.equal(await ports.allocateWith((port) => Promise.resolve(port)), 20_002);
    await assert.rejects(
      ports.allocateWith((port) => Promise.resolve(port)),
      PortsExhaustedError,
    );
  });
});
