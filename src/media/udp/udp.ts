import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

/** Media sockets get large kernel buffers: bursts of video must not overflow them. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

/** Binds a UDP socket; rejects with the bind error (EADDRINUSE, EADDRNOTAVAIL...). */
export async function bindUdp(host: string, port: number): Promise<Socket> {
  const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  try {
    socket.setRecvBufferSize(SOCKET_BUFFER_BYTES);
    socket.setSendBufferSize(SOCKET_BUFFER_BYTES);
  } catch {
    // Capped by net.core.rmem_max; the default still works.
  }
  return socket;
}

export function closeQuietly(socket: Socket | undefined): void {
  if (socket === undefined) return;
  try {
    socket.close();
  } catch {
    // Already closed.
  }
}

export function boundPort(socket: Socket): number {
  return socket.address().port;
}

/**
 * Connects a UDP socket to its one peer. Sends then skip the per-datagram
 * address lookup, and the kernel delivers only that peer's datagrams.
 */
export async function connectUdp(socket: Socket, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}
