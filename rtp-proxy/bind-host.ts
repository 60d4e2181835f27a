/**
 * A proxy's bind host (`proxy.bindHost`): several proxies share one config,
 * each listening on its own address (127.0.0.11, 127.0.0.12... on one
 * machine, as `up` runs `proxy.instances`). Every address the proxy listens
 * on keeps its port and takes the host; the setting is node-local, so a
 * config pushed by the control plane is localized by each node on arrival.
 */
import type { MeshConfig } from '../src/config/index.js';
import { formatHostPort, validHostPort } from '../src/shared/address.js';

/** `config` with every proxy listen address on `host` (the config itself when host is undefined). */
export function withBindHost(config: MeshConfig, host: string | undefined): MeshConfig {
  if (host === undefined) return config;
  const onHost = (listen: string): string => formatHostPort({ ...validHostPort(listen), host });
  const { proxy } = config;
  return {
    ...config,
    proxy: {
      ...proxy,
      bindHost: host,
      admin: onHost(proxy.admin),
      mediaAddress: host,
      routes: proxy.routes.map((route) => ({ ...route, listen: onHost(route.listen) })),
      rtsp: { ...proxy.rtsp, listen: onHost(proxy.rtsp.listen) },
      http: {
        ...proxy.http,
        listeners: proxy.http.listeners.map((listener) => ({
          ...listener,
          listen: onHost(listener.listen),
        })),
      },
    },
  };
}
