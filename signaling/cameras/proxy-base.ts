/**
 * Where the signaling node reaches the RTSP proxy when
 * signaling.cameras.rtsp is not set: the proxy's own listener
 * (proxy.rtsp.listen), with a wildcard address replaced by loopback, since
 * `streammesh up` runs both roles on one host.
 */
import { formatHostPort, validHostPort } from '../../src/shared/address.js';
import type { MeshConfig } from '../../src/config/index.js';

const LOOPBACK: Readonly<Record<string, string>> = { '0.0.0.0': '127.0.0.1', '::': '::1' };

export function cameraProxyBase(config: MeshConfig): string {
  const configured = config.signaling.cameras.rtsp;
  if (configured !== undefined) return configured;
  const listen = validHostPort(config.proxy.rtsp.listen);
  // With several proxies on one machine (`up` and proxy.instances), the first one's address.
  // (Placement will name each camera's proxy; until then any proxy serves every camera.)
  const instance = config.proxy.instances[0];
  if (instance !== undefined) {
    return `rtsp://${formatHostPort({ host: instance.host, port: listen.port })}`;
  }
  return `rtsp://${formatHostPort({ host: LOOPBACK[listen.host] ?? listen.host, port: listen.port })}`;
}
