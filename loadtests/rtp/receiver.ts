/**
 * Receiver (a child process of run.ts): one socket per stream; counts our
 * packets and records one-way latency (receive time minus the send time the
 * generator stamped into the header extension) in a histogram.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { Ready, ReceiverCollect, ReceiverConfig, ReceiverRequest } from './messages.js';
import { CHILD_MAX_LIFETIME_MS } from './messages.js';
import { monotonicMs, sendTime } from './packet.js';
import { LatencyHistogram } from './stats.js';

const config = JSON.parse(process.argv[2] ?? '{}') as ReceiverConfig;
const histogram = new LatencyHistogram();
const received = config.ports.map(() => 0);
let foreign = 0;
let bytes = 0;

const sockets: Socket[] = await Promise.all(
  config.ports.map(async (port, index) => {
    const socket = createSocket('udp4');
    socket.bind({ port, address: '127.0.0.1', exclusive: true });
    await once(socket, 'listening');
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // capped by net.core.rmem_max
    }
    socket.on('message', (packet) => {
      const now = monotonicMs();
      const sentAt = sendTime(packet);
      if (Number.isNaN(sentAt)) {
        foreign++;
        return;
      }
      received[index] = (received[index] ?? 0) + 1;
      bytes += packet.length;
      histogram.record((now - sentAt) * 1000);
    });
    return socket;
  }),
);

function reply(message: ReceiverCollect | Ready): void {
  process.send?.(message);
}

process.on('message', (message: ReceiverRequest) => {
  switch (message.type) {
    case 'reset':
      histogram.reset();
      received.fill(0);
      foreign = 0;
      bytes = 0;
      process.send?.({ type: 'reset' } satisfies { type: string });
      break;
    case 'collect':
      reply({ type: 'collect', received, foreign, bytes, latency: histogram.summary() });
      break;
    case 'exit':
      shutdown();
  }
});
process.on('disconnect', shutdown);
setTimeout(shutdown, CHILD_MAX_LIFETIME_MS).unref();

function shutdown(): void {
  for (const socket of sockets) socket.close();
  process.exit(0);
}

reply({ type: 'ready', pid: process.pid });
