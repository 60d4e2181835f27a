/**
 * WebRTC transports as every entry point of the node creates them (WebSocket
 * peers, WHIP publishers, WHEP viewers): ICE-lite on the configured IP over
 * UDP (preferred) and TCP, in the hosting worker's port slice.
 */
import type { types } from 'mediasoup';

export interface RtcSettings {
  /** Local IP to listen on. */
  readonly listenIp: string;
  /** Put in ICE candidates instead of listenIp (NAT, Kubernetes). */
  readonly announcedAddress?: string | undefined;
  /** Bits/s accepted from the remote side; undefined leaves it unlimited. */
  readonly maxIncomingBitrate?: number | undefined;
}

/** What a remote peer needs to connect to a transport. */
export interface TransportParameters {
  readonly id: string;
  readonly iceParameters: types.IceParameters;
  readonly iceCandidates: types.IceCandidate[];
  readonly dtlsParameters: types.DtlsParameters;
}

export async function createWebRtcTransport<AppData extends types.AppData>(
  router: types.Router,
  settings: RtcSettings,
  appData: AppData,
): Promise<types.WebRtcTransport<AppData>> {
  const listen = (protocol: 'udp' | 'tcp'): types.TransportListenInfo => ({
    protocol,
    ip: settings.listenIp,
    ...(settings.announcedAddress === undefined
      ? {}
      : { announcedAddress: settings.announcedAddress }),
  });
  const transport = await router.createWebRtcTransport<AppData>({
    listenInfos: [listen('udp'), listen('tcp')],
    enableUdp: true,
    enableTcp: true,
    preferUdp: true,
    initialAvailableOutgoingBitrate: 1_000_000,
    appData,
  });
  if (settings.maxIncomingBitrate !== undefined) {
    await transport.setMaxIncomingBitrate(settings.maxIncomingBitrate);
  }
  return transport;
}

export function transportParameters(transport: types.WebRtcTransport): TransportParameters {
  return {
    id: transport.id,
    iceParameters: transport.iceParameters,
    iceCandidates: transport.iceCandidates,
    dtlsParameters: transport.dtlsParameters,
  };
}
