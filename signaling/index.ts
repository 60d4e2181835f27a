/**
 * The signaling node: joins the mesh and holds its config, runs the mediasoup
 * WorkerPool and the WebSocket signaling server (signaling.listen, path /ws),
 * with WHIP/WHEP (signaling/WHIP-WHEP.md) and the demo page on the same listener.
 *
 * Rooms span signaling nodes (signaling/CASCADE.md): the cascade links listen
 * on signaling.cascade.listen and RoomCascade ties the rooms to the PIPEs
 * the control plane pushes. With mTLS the link listener needs the workload
 * certificate, and the node registers the address it bound (a port 0 is a
 * real port there), so the certificate is obtained before the node's
 * control client starts: until then the admin listener is not up either.
 *
 * Drain (CASCADE.md "Drain"; `streammesh drain`, or SIGTERM through
 * drain()): the doors send new joins elsewhere, and the WebSocket peers here
 * are asked to `move` (SignalingServer.askToMove), again whenever the
 * directory changes while the drain lasts; at the drain's deadline who is
 * left is closed (SignalingServer.closeAtDeadline) and the node stays up,
 * empty, until its process is stopped. The admin's GET /pipes shows this
 * node's cascade pipes (no keys): what a survivor of a failed node still
 * holds toward it.
 */
import { formatHostPort, httpUrl, validHostPort, type HostPort } from '../src/shared/address.js';
import { revocationsOf } from '../src/shared/identity/index.js';
import { withSignalingBindHost, type MeshConfig } from '../src/config/index.js';
import type { Logger } from '../src/shared/log.js';
import { MeshNode, WorkloadIdentity, type ConfigParticipant } from '../src/node-agent/index.js';
import { EdgeTokenGate } from '../src/shared/edge-token/index.js';
import { CameraHub, cameraProxyBase } from './cameras/index.js';
import { CascadeLinks, RoomCascade, registerPipeMetrics } from './cascade/index.js';
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
  /** The cascade link listener other signaling nodes dial (signaling.cascade.listen, as bound). */
  readonly cascade: HostPort;
  /** Rooms across nodes: each room's pipes and what crosses them. */
  readonly roomCascade: RoomCascade;
  /** Resolves once the first config is in force; rejects with its refusal. */
  serving(): Promise<void>;
  /**
   * Drains for `timeoutMs` (SIGTERM): the node tells the control plane,
   * takes no new participant and asks its peers to move; resolves once no
   * participant is left here (WebSocket peers, WHIP/WHEP sessions) or the
   * time is up.
   */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** How often a drain checks whether the node still serves anyone. */
const DRAIN_POLL_MS = 200;
/** The longest delay setTimeout holds; a later deadline is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Runs `reached` once when the deadline set last (Unix ms) passes; 0 sets none. */
class Deadline {
  readonly #reached: () => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(reached: () => void) {
    this.#reached = reached;
  }

  set(deadlineMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (deadlineMs <= 0) return;
    const wait = deadlineMs - Date.now();
    this.#timer = setTimeout(
      () => {
        if (Date.now() < deadlineMs) this.set(deadlineMs);
        else this.#reached();
      },
      Math.min(Math.max(wait, 0), MAX_TIMER_MS),
    );
    this.#timer.unref();
  }
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
  'cascade',
] as const;

type SfuSettings = MeshConfig['signaling'];

/** What the SFU settings participant sets live: the server's room size and peer limits. */
export interface LiveSfuSettings {
  maxPeersPerRoom: number;
  /** A room's members on this node at most; absent where there is no such bound. */
  maxPeersPerNode?: number;
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
    set maxPeersPerNode(value: number) {
      running.maxPeersPerNode = value;
    },
    get maxPeersPerNode() {
      return running.maxPeersPerNode;
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
  /** Made after the node (the load source reads them once they exist). */
  const late: { pool?: WorkerPool } = {};
  let cascade: RoomCascade | undefined;
  let cascadeAddress: HostPort | undefined;
  const load = signalingLoad(() => stats.latest, { workers: () => late.pool });
  const node = new MeshNode({
    role: 'ROLE_SIGNALING',
    roleName: 'signaling',
    config,
    section: startup,
    capabilities: ['signaling'],
    log,
    stats: () => stats.latest,
    load,
    rooms: () => cascade?.reports() ?? [],
    pipeEndpoints: () => cascade?.pipeEndpoints() ?? [],
    // Where other signaling nodes send participants (redirects) and open the
    // cascade link: the control plane passes them on as SIGNALING_NODE.
    listenAddresses: () =>
      server === undefined
        ? {}
        : {
            signaling: formatHostPort(server.address),
            signaling_url: startup.publicUrl ?? httpUrl(server.address),
            ...(cascadeAddress === undefined ? {} : { cascade: formatHostPort(cascadeAddress) }),
            // The host pipe ends are on (PipeTransports on rtcListenIp, or announced):
            // the control plane takes a pipe end only on a host the node registered.
            rtc: startup.announcedAddress ?? startup.rtcListenIp,
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
        revoked: revocationsOf(() => node.identity?.current()),
        trustDomain: config.controlPlane.trustDomain,
      })
    : undefined;
  installCensus();
  registerMediaMetrics(node.metrics, () => stats.latest);
  const workers = await WorkerPool.create({
    size: startup.workers,
    rtcMinPort: startup.rtcPorts.start,
    rtcMaxPort: startup.rtcPorts.end,
    log,
  });
  late.pool = workers;
  let links: CascadeLinks | undefined;
  let unfollowSignalingNodes: (() => void) | undefined;
  // What is left at the drain's deadline is closed, however the drain came
  // (`streammesh drain` or SIGTERM), as a proxy closes its viewers then.
  const drainDeadline = new Deadline(() => {
    const closed = server?.closeAtDeadline('this node drained: its deadline passed') ?? 0;
    log.info({ closed }, "the drain's deadline passed: who was left is closed");
  });
  // Cameras of the RTSP proxy for WHEP viewers, pulled while watched.
  const cameras = new CameraHub({
    pool: workers,
    rtspBase: cameraProxyBase(config),
    lingerMs: startup.cameras.lingerMs,
    log,
    metrics: node.metrics,
  });
  try {
    server = await SignalingServer.start({
      listen: validHostPort(startup.listen),
      pool: workers,
      rtc,
      peerLimits: startup.peerLimits,
      connectionBudget: startup.connections,
      requestRate: {
        perSecond: startup.connections.requestsPerSecondPerSource,
        burst: startup.connections.requestBurstPerSource,
      },
      budget: startup.budgets,
      routes: (rooms, budget) => [
        demoRoute({
          peerUrls: () =>
            node.signalingNodes
              .list()
              .filter((entry) => entry.node !== node.id)
              .map((entry) => entry.url),
        }),
        ...whipWhepRoutes({
          rooms,
          budget,
          connectTimeoutMs: startup.connectTimeoutMs,
          pool: workers,
          rtc,
          log,
          metrics: node.metrics,
          cameras,
          publicUrl: startup.publicUrl,
          httpRedirect: startup.cascade.httpRedirect,
          edgeTokens,
        }),
      ],
      maxPeersPerRoom: startup.maxPeersPerRoom,
      maxPeersPerNode: startup.maxPeersPerNode,
      log,
      metrics: node.metrics,
      edgeTokens,
    });
    const identity = node.identity;
    // The link listener presents the workload certificate: it must be in hand.
    if (identity instanceof WorkloadIdentity) await identity.obtain();
    links = new CascadeLinks({
      ownNode: node.id,
      listen: validHostPort(startup.cascade.listen),
      identity,
      lookup: (peer) => {
        const entry = node.signalingNodes.get(peer);
        return entry === undefined ? undefined : { link: entry.link, identity: entry.identity };
      },
      shares: RoomCascade.sharesBy(node.pipes, node.id),
      log,
      metrics: node.metrics,
    });
    cascadeAddress = await links.listen();
    const openLinks = links;
    cascade = new RoomCascade({
      node: node.id,
      rooms: server.rooms,
      links,
      pipes: node.pipes,
      homeOf: (room) => node.meshState.placements.nodeOf(`room/${room}`),
      otherNodes: () => node.signalingNodes.list().some((entry) => entry.node !== node.id),
      rtc,
      pipeLingerMs: () => startup.cascade.pipeLingerMs,
      roomsChanged: () => {
        node.roomsChanged();
      },
      pipeEndpointsChanged: () => {
        node.pipeEndpointsChanged();
      },
      log,
    });
    const roomsAcross = cascade;
    // The doors (server/door.ts): where a join or a WHIP/WHEP POST is served.
    server.rooms.directory = {
      here: node.id,
      draining: () => node.drainDeadlineMs > 0,
      overloaded: () => load.overloaded(),
      homeOf: (room) => node.meshState.placements.nodeOf(`room/${room}`),
      nodes: () => node.signalingNodes.list(),
    };
    const serving = server;
    unfollowSignalingNodes = node.signalingNodes.onChange(() => {
      openLinks.refresh();
      roomsAcross.directoryChanged();
      // A peer with nowhere to move to before may have somewhere now.
      if (node.drainDeadlineMs > 0) serving.askToMove(node.drainDeadlineMs);
    });
    node.onDrain((deadlineMs) => {
      serving.askToMove(deadlineMs);
      drainDeadline.set(deadlineMs);
    });
    node.admin.route('GET', '/pipes', () => ({
      status: 200,
      body: { node: node.id, rooms: roomsAcross.stats() },
    }));
    registerPipeMetrics(node.metrics);
    await node.start();
    stats.start();
  } catch (error) {
    drainDeadline.set(0);
    unfollowSignalingNodes?.();
    cascade?.close();
    await links?.close();
    await server?.close();
    await cameras.close();
    await workers.close();
    await node.close();
    throw error;
  }
  const running = server;
  const runningLinks = links;
  const roomCascade = cascade;
  const boundCascade = cascadeAddress;
  const unfollowDirectory = unfollowSignalingNodes;
  log.info(
    {
      id: node.id,
      admin: node.adminAddress,
      listen: running.address,
      cascade: boundCascade,
      workers: startup.workers,
    },
    'signaling started',
  );
  return {
    id: node.id,
    admin: node.adminAddress,
    listen: running.address,
    cascade: boundCascade,
    roomCascade,
    serving: () => node.firstConfig(),
    drain: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      node.drain(deadline);
      do {
        await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
      } while (Date.now() < deadline && running.participants > 0);
      log.info({ participants: running.participants }, 'drain over');
    },
    close: async () => {
      stats.stop();
      // The node first: it takes no more updates and lets the one in flight
      // finish; then the SFU settings refuse any config (no server to set).
      await node.close();
      server = undefined;
      drainDeadline.set(0);
      unfollowDirectory();
      roomCascade.close();
      await runningLinks.close();
      await running.close();
      await cameras.close();
      await workers.close();
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
          if (running.maxPeersPerNode !== undefined) {
            running.maxPeersPerNode = next.maxPeersPerNode;
          }
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
