/**
 * The baseline relay: node:dgram receive -> send, no stream logic at all.
 * Same socket settings as the rtp-proxy (4 MiB buffers, connected egress),
 * so the difference measured is what streammesh does per packet.
 * argv[2]: JSON [[listenPort, destinationPort], ...] on 127.0.0.1.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';

const pairs = JSON.parse(process.argv[2] ?? '[]') as [number, number][];
const BUFFER = 4 * 1024 * 1024;
const sockets = await Promise.all(
  pairs.map(async ([listen, destination]) => {
    const ingress = createSocket('udp4');
    const egress = createSocket('udp4');
    ingress.bind({ port: listen, address: '127.0.0.1', exclusive: true });
    egress.bind({ port: 0, address: '127.0.0.1' });
    await Promise.all([once(ingress, 'listening'), once(egress, 'listening')]);
    for (const socket of [ingress, egress]) {
      socket.setRecvBufferSize(BUFFER);
      socket.setSendBufferSize(BUFFER);
      socket.on('error', () => undefined);
    }
    egress.connect(destination, '127.0.0.1');
    await once(egress, 'connect');
    ingress.on('message', (packet) => egress.send(packet));
    return [ingress, egress];
  }),
);
const shutdown = (): never => {
  for (const socket of sockets.flat()) socket.close();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('disconnect', shutdown);
setTimeout(shutdown, 30 * 60_000).unref();
process.send?.({ type: 'ready', pid: process.pid });
