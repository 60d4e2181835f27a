/**
 * A relay (the real MediaRouteTable) with one route per receiver, each route
 * listening on a port of its own and sending to its receiver on 127.0.0.1.
 */
import { MediaRouteTable } from '../../rtp-proxy/media/relay/index.js';
import { validateConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/shared/log.js';
import type { UdpPeer } from './udp.js';

export async function relayTo(
  receivers: Readonly<Record<string, UdpPeer>>,
  rtpPorts: { readonly start: number; readonly end: number },
): Promise<MediaRouteTable> {
  const table = new MediaRouteTable(createLogger('proxy', 'silent'));
  await table.apply(
    validateConfig(
      {
        proxy: {
          rtpPorts,
          routes: Object.entries(receivers).map(([name, receiver]) => ({
            name,
            listen: '127.0.0.1:0',
            destinations: [{ address: `127.0.0.1:${receiver.port}` }],
          })),
        },
      },
      'test',
    ),
  );
  return table;
}
