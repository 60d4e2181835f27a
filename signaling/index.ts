/**
 * The signaling node: joins the mesh and holds its config, runs the mediasoup
 * WorkerPool and the WebSocket signaling server (signaling.listen, path /ws),
 * with WHIP/WHEP (signaling/WHIP-WHEP.md) and the demo page on the same listener.
 */
import { formatHostPort, httpUrl, validHostPort, type HostPort } from '../src/shared/address.js';
import { withSignalingBindHost, type MeshConfig } from '../src/config/index.js';
import type { Logger } from '../src/shared/log.js';
import { MeshNode, type ConfigParticipant } from '../src/node-agent/index.js';
import { EdgeTokenGate } from '../src/shared/edge-token/index.js';
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
  /** Resolves once the first config is in force; rejects with its refusal. */
  serving(): Promise<void>;
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
  'connections',
  'budgets',
  'connectTimeoutMs',
] as const;

type SfuSettings = MeshConfig['signaling'];

/** What the SFU settings participant sets live: the server's room size and peer limits. */
export interface LiveSfuSettings {
  maxPeersPerRoom: number;
  peerLimits: SfuSettings['peerLimits'];
}

export async function startSignaling(config: MeshConfig, log: Logger): Promise<RunningSignaling> {
  const startup = config.signaling;
  let server: SignalingServer | undefined;
  /** The peer limits in force; WHIP/WHEP transports read their bitrate limit here when made. */
  let peerLimits = startup.peerLimits;
  const live = (running: SignalingServer): LiveSfuSettings => ({
    set maxPeersPerRoom(value: number) {
      running.maxPeersPerRoom = value;
    },
    get maxPeersPerRoom() {
      return running.maxPeersPerRoom;
    },
    set peerLimits(value: SfuSettings['peerLimits']) {
      peerLimits = value;
      running.peerLimits = value;
    },
    get peerLimits() {
      return peerLimits;
    },
  });
  const rtc = liveRtcSettings(startup, () => peerLimits);
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
    // Where other signaling nodes send participants (redirects) and open the
    // cascade link: the control plane passes them on as SIGNALING_NODE.
    listenAddresses: () =>
      server === undefined
        ? {}
        : {
            signaling: formatHostPort(server.address),
            signaling_url: startup.publicUrl ?? httpUrl(server.address),
            cascade: startup.cascade.listen,
          },
    participants: [
      sfuSettingsParticipant(startup, () => (server === undefined ? undefined : live(server)), log),
    ],
  });
  // With signaling.requireToken, WHIP/WHEP and /ws check edge tokens against the node's trust bundle.
  const edgeTokens = startup.requireToken
    ? new EdgeTokenGate({
        trustBundle: () => node.identity?.current()?.trustBundlePem,
        tokenIssuers: () => node.meshState.trustBundle.tokenIssuers(),
        trustDomain: config.controlPlane.trustDomain,
      })
    : undefined;
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
      rtc,
      peerLimits: startup.peerLimits,
      connectionBudget: startup.connections,
      requestRate: {
        perSecond: startup.connections.requestsPerSecondPerSource,
        burst: startup.connections.requestBurstPerSource,
      },
      budget: startup.budgets,
      routes: (rooms, budget) => [
        demoRoute(),
        ...whipWhepRoutes({
          rooms,
          budget,
          connectTimeoutMs: startup.connectTimeoutMs,
          pool,
          rtc,
          log,
          metrics: node.metrics,
          cameras,
          publicUrl: startup.publicUrl,
          edgeTokens,
        }),
      ],
      maxPeersPerRoom: startup.maxPeersPerRoom,
      log,
      metrics: node.metrics,
      edgeTokens,
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
    serving: () => node.firstConfig(),
    close: async () => {
      stats.stop();
      // The node first: it takes no more updates and lets the one in flight
      // finish; then the SFU settings refuse any config (no server to set).
      await node.close();
      server = undefined;
      await running.close();
      await cameras.close();
      await pool.close();
    },
  };
}

/**
 * The SFU's settings as a participant of the node's config transaction. The
 * listener, workers, RTC addresses and ports, the camera source and the public
 * URL are bound at start-up: a change takes a restart, logged at the commit
 * that changes them from the config in force (once, not at every later
 * commit). Room size and peer limits apply live, to rooms and transports
 * created from now on. Nothing is held between prepare and commit, so abort
 * has nothing to undo. With no server running (start-up failed, or the node
 * is stopping) every config is refused: there is nothing to put it in.
 */
export function sfuSettingsParticipant(
  startup: SfuSettings,
  server: () => LiveSfuSettings | undefined,
  log: Logger,
): ConfigParticipant {
  /** The settings of the last committed config (start-up's until the first). */
  let inForce = startup;
  return {
    name: 'sfu',
    resourceTypes: ['SIGNALING_SETTINGS'],
    prepare: (candidate) => {
      if (server() === undefined) {
        return Promise.reject(new Error('sfu: no signaling server running, it takes no config'));
      }
      // The pushed listen addresses are the control plane's: this node's own bind host stays.
      const next = withSignalingBindHost(candidate, startup.bindHost).signaling;
      const restartOnly = restartFields
        .filter((field) => JSON.stringify(next[field]) !== JSON.stringify(inForce[field]))
        .map((field) => `signaling.${field}`);
      return Promise.resolve({
        commit: () => {
          inForce = next;
          if (restartOnly.length > 0) {
            log.warn(
              { fields: restartOnly },
              'signaling settings changed; they take effect after a restart',
            );
          }
          const running = server();
          // Closed between prepare and commit: nothing left to set.
          if (running === undefined) return;
          running.maxPeersPerRoom = next.maxPeersPerRoom;
          running.peerLimits = next.peerLimits;
        },
        abort: () => Promise.resolve(),
      });
    },
  };
}

/**
 * The RTC settings of WHIP/WHEP transports: addresses from start-up (they
 * take a restart), the incoming bitrate limit read from the peer limits in
 * force each time a transport is made (peerLimits apply live).
 */
export function liveRtcSettings(
  startup: SfuSettings,
  peerLimits: () => SfuSettings['peerLimits'],
): RtcSettings {
  return {
    listenIp: startup.rtcListenIp,
    announcedAddress: startup.announcedAddress,
    get maxIncomingBitrate() {
      return peerLimits().incomingBitrate;
    },
  };
}
