/**
 * The rtp-proxy process: the data plane. For now it joins the mesh and holds
 * its config; the relay, RTSP and L7 listeners hang off `onApplied`.
 */
import type { HostPort } from '../src/shared/address.js';
import type { MeshConfig } from '../src/shared/config/index.js';
import type { Logger } from '../src/shared/log.js';
import { MeshNode } from '../src/shared/mesh-node/index.js';
import { checkMediaAddress } from './config/check-media-address.js';

export interface RunningProxy {
  readonly id: string;
  readonly admin: HostPort;
  close(): Promise<void>;
}

export async function startProxy(config: MeshConfig, log: Logger): Promise<RunningProxy> {
  const node = new MeshNode({
    role: 'ROLE_PROXY',
    roleName: 'proxy',
    config,
    section: config.proxy,
    capabilities: ['rtp'],
    log,
    check: (candidate) => checkMediaAddress(candidate.proxy.mediaAddress),
  });
  await node.start();
  log.info({ id: node.id, admin: node.adminAddress }, 'proxy started');
  return { id: node.id, admin: node.adminAddress, close: () => node.close() };
}
