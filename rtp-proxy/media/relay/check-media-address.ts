import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import {
  MESH_SETTINGS_NAME,
  type RefusedResource,
  type ResourceRefusal,
} from '../../../src/config/index.js';
import { StreammeshError } from '../../../src/shared/errors.js';

/** The candidate's media address cannot be bound on this node: NACKs MESH_SETTINGS, which holds it. */
export class MediaAddressError extends StreammeshError implements ResourceRefusal {
  readonly resources: readonly RefusedResource[] = [
    { type: 'MESH_SETTINGS', name: MESH_SETTINGS_NAME },
  ];
  constructor(address: string, code: string) {
    super(
      'ERR_MEDIA_ADDRESS',
      `proxy.mediaAddress: ${address} cannot be bound on this node (${code})`,
    );
  }
}

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
    throw new MediaAddressError(address, code);
  } finally {
    try {
      socket.close();
    } catch {
      // Never bound: nothing to close.
    }
  }
}
