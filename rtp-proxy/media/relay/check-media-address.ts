import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { SnapshotRejectedError } from '../../../src/node-agent/index.js';

/**
 * The control plane cannot know which addresses a node has; the node can.
 * A config whose media address this node cannot bind is rejected here, and
 * the last good config stays in force.
 */
export async function checkMediaAddress(address: string): Promise<void> {
  const socket = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, address, () => resolve());
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new SnapshotRejectedError(
      `proxy.mediaAddress: ${address} cannot be bound on this node (${code})`,
    );
  } finally {
    try {
      socket.close();
    } catch {
      // Never bound: nothing to close.
    }
  }
}
