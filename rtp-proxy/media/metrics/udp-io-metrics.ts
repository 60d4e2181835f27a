/**
 * The proxy's UDP I/O (issue 20, point 1): set once at start from
 * proxy.udpIo for this thread (the RTSP proxy's and camera pull's sockets;
 * media worker threads make the same choice for theirs), and exported as
 * streammesh_proxy_udp_io{kind="native"|"dgram"} 1, so that a deployment
 * (and a test) sees which path its packets take: auto falls back to
 * node:dgram where the addon is not built, several times slower.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../../src/shared/log.js';
import { useUdpIo, udpIoKind, type UdpIoSetting } from '../../../src/media/udp/index.js';

/** Applies proxy.udpIo (throws UdpIoUnavailableError for native without the addon) and registers the gauge. */
export function useProxyUdpIo(metrics: Registry, setting: UdpIoSetting, log: Logger): void {
  useUdpIo(setting, log);
  new Gauge({
    name: 'streammesh_proxy_udp_io',
    help: 'How media sockets move datagrams: 1 for the kind in use (native: recvmmsg/sendmmsg addon; dgram: node:dgram).',
    labelNames: ['kind'],
    registers: [metrics],
    collect() {
      this.reset();
      this.set({ kind: udpIoKind() }, 1);
    },
  });
}
