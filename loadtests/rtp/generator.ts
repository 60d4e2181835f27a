/**
 * Load generator (a child process of run.ts): N streams from fixed source
 * ports to a target's ingress ports, at a total rate split evenly across the
 * streams, for a bounded time per request.
 *
 * Pacing: packets are due at start + i / rate. The loop sends what is due,
 * then sleeps until the next packet with Atomics.wait (a futex: no spinning,
 * so the core stays free for the relay under test), and yields to the event
 * loop every few milliseconds. Node sends a datagram synchronously when the
 * socket's queue is empty, so a blocked event loop does not delay sends.
 * Each stream has a ring of packet buffers, so a send the kernel queued is
 * never overwritten.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { GeneratorConfig, GeneratorRequest, GeneratorRun, Ready } from './messages.js';
import { CHILD_MAX_LIFETIME_MS } from './messages.js';
import { packetTemplate, stamp } from './packet.js';

const RING = 1024;
/** Never more than this many packets in one go (after a stall). */
const MAX_BURST = 256;
const YIELD_EVERY_MS = 5;
const MAX_RATE_PPS = 1_000_000;
const MAX_DURATION_MS = 60_000;

interface Stream {
  readonly socket: Socket;
  readonly ring: Buffer[];
  sequence: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as GeneratorConfig;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let sendErrors = 0;

const streams: Stream[] = await Promise.all(
  config.streams.map(async (spec) => {
    const socket = createSocket('udp4');
    socket.on('error', () => sendErrors++);
    socket.bind({ port: spec.src, address: '127.0.0.1', exclusive: true });
    await once(socket, 'listening');
    try {
      socket.setSendBufferSize(4 * 1024 * 1024);
    } catch {
      // capped by net.core.wmem_max
    }
    socket.connect(spec.dst, '127.0.0.1');
    await once(socket, 'connect');
    const template = packetTemplate(config.size, spec.ssrc);
    const ring = Array.from({ length: RING }, () => Buffer.from(template));
    return { socket, ring, sequence: spec.sequence ?? Math.floor(Math.random() * 0x10000) };
  }),
);

async function run(ratePps: number, durationMs: number): Promise<GeneratorRun> {
  const rate = Math.min(Math.max(ratePps, 1), MAX_RATE_PPS);
  const duration = Math.min(durationMs, MAX_DURATION_MS);
  const errorsBefore = sendErrors;
  const msPerPacket = 1000 / rate;
  const start = performance.now();
  let lastYield = start;
  let sent = 0;
  for (;;) {
    const now = performance.now() - start;
    if (now >= duration) break;
    const due = Math.floor(now / msPerPacket) + 1;
    let burst = Math.min(due - sent, MAX_BURST);
    while (burst-- > 0) {
      const stream = streams[sent % streams.length];
      if (stream === undefined) break;
      const packet = stream.ring[stream.sequence % RING];
      if (packet === undefined) break;
      stamp(packet, stream.sequence);
      stream.sequence = (stream.sequence + 1) & 0xffff;
      stream.socket.send(packet);
      sent++;
    }
    const after = performance.now();
    if (after - lastYield > YIELD_EVERY_MS) {
      lastYield = after;
      await yieldToLoop();
      continue;
    }
    const untilNextMs = sent * msPerPacket - (after - start);
    if (untilNextMs > 0.02) Atomics.wait(sleeper, 0, 0, Math.min(untilNextMs, 1));
  }
  const elapsedMs = performance.now() - start;
  // Let queued sends (if any) complete and their errors arrive before counting.
  await yieldToLoop();
  const errors = sendErrors - errorsBefore;
  return {
    type: 'run',
    sent: sent - errors,
    sendErrors: errors,
    durationMs: elapsedMs,
    achievedPps: ((sent - errors) / elapsedMs) * 1000,
    next: streams.map((stream) => stream.sequence),
  };
}

function reply(message: GeneratorRun | Ready): void {
  process.send?.(message);
}

process.on('message', (message: GeneratorRequest) => {
  if (message.type === 'exit') shutdown();
  else void run(message.ratePps, message.durationMs).then(reply);
});
process.on('disconnect', shutdown);
setTimeout(shutdown, CHILD_MAX_LIFETIME_MS).unref();

function shutdown(): void {
  for (const stream of streams) stream.socket.close();
  process.exit(0);
}

reply({ type: 'ready', pid: process.pid });
