/**
 * The signaling node: joins the mesh and holds its config, runs the mediasoup
 * WorkerPool and the WebSocket signaling server (signaling.listen, path /ws),
 * with WHIP/WHEP (signaling/WHIP-WHEP.md) and the demo page on the same listener.
 */
import { validHostPort, type HostPort } from '../src/shared/address.js';
import type { MeshConfig } from '../src/config/index.js';
import type { Logger } from '../src/shared/log.js';
import { MeshNode, type ConfigParticipant } from '../src/node-agent/index.js';
import { CameraHub, cameraProxyBase } from './cameras/index.js';
import { demoRoute } from './demo/index.js';
import { signalingLoad } from './load-report.js';
import { SignalingServer } from './server/index.js';
import { MediaStatsCollector, registerMediaMetrics } from './stats/index.js';
import { WorkerPool, installCensus, type RtcSettings } from './sfu/index.js';
import { whipWhepRoutes } from './whip-whep/index.js';

export interface RunningSignaling {
  readonly id: string;
  readonly admin: HostPort;
  /** The HTTP listener of WebSocket signaling (`ws://<listen>/ws`). */
  readonly listen: HostPort;
  close(): Promise<void>;
}

const restartFields = [
  'listen',
  'workers',
  'rtcPorts',
  'rtcListenIp',
  'announcedAddress',
  'cameras',
  'publicUrl',
] as const;

export async function startSignaling(config: MeshConfig, log: Logger): Promise<RunningSignaling> {
  const startup = config.signaling;
  let server: SignalingServer | undefined;
  const stats = new MediaStatsCollector({ log });
  const node = new MeshNode({
    role: 'ROLE_SIGNALING',
    roleName: 'signaling',
    config,
    section: startup,
    capabilities: ['signaling'],
    log,
    stats: () => stats.latest,
    load: signalingLoad(() => stats.latest),
    participants: [sfuSettingsParticipant(startup, () => server, log)],
  });
  installCensus();
  registerMediaMetrics(node.metrics, () => stats.latest);
  const pool = await WorkerPool.create({
    size: startup.workers,
    rtcMinPort: startup.rtcPorts.start,
    rtcMaxPort: startup.rtcPorts.end,
    log,
  });
  // Cameras of the RTSP proxy for WHEP viewers, pulled while watched.
  const cameras = new CameraHub({
    pool,
    rtspBase: cameraProxyBase(config),
    lingerMs: startup.cameras.lingerMs,
    log,
    metrics: node.metrics,
  });
  try {
    server = await SignalingServer.start({
      listen: validHostPort(startup.listen),
      pool,
      rtc: rtcSettings(startup),
      peerLimits: startup.peerLimits,
      routes: (rooms) => [
        demoRoute(),
        ...whipWhepRoutes({
          rooms,
          pool,
          rtc: rtcSettings(startup),
          log,
          metrics: node.metrics,
          cameras,
          publicUrl: startup.publicUrl,
        }),
      ],
      maxPeersPerRoom: startup.maxPeersPerRoom,
      log,
      metrics: node.metrics,
    });
    await node.start();
    stats.start();
  } catch (error) {
    await server?.close();
    await cameras.close();
    await pool.close();
    await node.close();
    throw error;
  }
  const running = server;
  log.info(
    { id: node.id, admin: node.adminAddress, listen: running.address, workers: startup.workers },
    'signaling started',
  );
  return {
    id: node.id,
    admin: node.adminAddress,
    listen: running.address,
    close: async () => {
      stats.stop();
      await running.close();
      await cameras.close();
      await pool.close();
      await node.close();
    },
  };
}

/**
 * The SFU's settings as a participant of the node's config transaction. The
 * listener, workers, RTC addresses and ports, the camera source and the public
 * URL are bound at start-up: a change takes a restart (logged at commit). Room
 * size and peer limits apply live, to rooms and transports created from now on.
 * Nothing is held between prepare and commit, so abort has nothing to undo.
 */
export function sfuSettingsParticipant(
  startup: MeshConfig['signaling'],
  server: () => Pick<SignalingServer, 'maxPeersPerRoom' | 'peerLimits'> | undefined,
  log: Logger,
): ConfigParticipant {
  return {
    name: 'sfu',
    prepare: (candidate) => {
      const next = candidate.signaling;
      const restartOnly = restartFields
        .filter((field) => JSON.stringify(next[field]) !== JSON.stringify(startup[field]))
        .map((field) => `signaling.${field}`);
      const live = { maxPeersPerRoom: next.maxPeersPerRoom, peerLimits: next.peerLimits };
      return Promise.resolve({
        commit: () => {
          if (restartOnly.length > 0) {
            log.warn(
              { fields: restartOnly },
              'signaling settings changed; they take effect after a restart',
            );
          }
          const running = server();
          // Configs arrive once node.start() ran, after the server started; none if start-up failed.
          if (running === undefined) return;
          running.maxPeersPerRoom = live.maxPeersPerRoom;
          running.peerLimits = live.peerLimits;
        },
        abort: () => Promise.resolve(),
      });
    },
  };
}

function rtcSettings(settings: MeshConfig['signaling']): RtcSettings {
  return {
    listenIp: settings.rtcListenIp,
    announcedAddress: settings.announcedAddress,
    maxIncomingBitrate: settings.peerLimits.incomingBitrate,
  };
}
