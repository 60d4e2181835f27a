/**
 * The signaling node: joins the mesh and holds its config. The WebSocket
 * signaling server, WHIP/WHEP and the mediasoup workers attach here.
 */
import type { HostPort } from '../src/shared/address.js';
import type { MeshConfig } from '../src/shared/config/index.js';
import type { Logger } from '../src/shared/log.js';
import { MeshNode } from '../src/shared/mesh-node/index.js';

export interface RunningSignaling {
  readonly id: string;
  readonly admin: HostPort;
  close(): Promise<void>;
}

export async function startSignaling(config: MeshConfig, log: Logger): Promise<RunningSignaling> {
  const node = new MeshNode({
    role: 'ROLE_SIGNALING',
    roleName: 'signaling',
    config,
    section: config.signaling,
    capabilities: ['signaling'],
    log,
  });
  await node.start();
  log.info({ id: node.id, admin: node.adminAddress }, 'signaling started');
  return { id: node.id, admin: node.adminAddress, close: () => node.close() };
}
