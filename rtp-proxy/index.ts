/**
 * The rtp-proxy process: the data plane. It joins the mesh, and each config
 * it receives sets its stream routes (media/relay, sharded over
 * proxy.workers media worker threads by media/workers), its RTSP proxy
 * (media/rtsp) and its HTTP/1.1, HTTP/2 and gRPC proxy (l7), as one
 * transaction: all three take the config, or none does. The L7 proxy runs
 * on a thread of its own, so HTTP traffic never queues in front of media.
 * Its camera mesh (media/mesh) follows the placements and hops the control
 * plane pushes: this proxy pulls the cameras it owns and takes the others
 * from their owners over SRTP hops. SIGTERM drains it (drain()) before it
 * stops.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { HostPort } from '../src/shared/address.js';
import { proxyWorkersOf, type MeshConfig } from '../src/config/index.js';
import { revocationsOf } from '../src/shared/identity/index.js';
import type { Logger } from '../src/shared/log.js';
import { MeshNode, type ConfigParticipant } from '../src/node-agent/index.js';
import { CameraSource } from '../src/media/rtsp-client/index.js';
import { addHopRoutes, addPlacementRoutes, addStreamRoutes } from './admin/index.js';
import { withBindHost } from './bind-host.js';
import { IsolatedHttpService } from './l7/index.js';
import { proxyLoad } from './load-report.js';
import {
  proxyStatsReport,
  registerRtspMetrics,
  registerStreamMetrics,
  startSrtpEngine,
  useProxyUdpIo,
} from './media/metrics/index.js';
import { CameraMesh } from './media/mesh/index.js';
import { MediaWorkers, registerWorkerMetrics } from './media/workers/index.js';
import { RtspService } from './media/rtsp/index.js';

export interface RunningProxy {
  readonly id: string;
  readonly admin: HostPort;
  /** Resolves once the first config is in force (its listeners bound); rejects with its refusal. */
  serving(): Promise<void>;
  /** The RTSP listener's bound address (host:port), or null when RTSP is off. */
  rtspAddress(): string | null;
  /** The relay's media workers: per-worker state, route snapshots, and test hooks. */
  readonly relay: MediaWorkers;
  /** The bound address of every L7 listener in force. */
  httpListeners(): Promise<readonly { name: string; host: string; port: number }[]>;
  /**
   * Drains for at most `timeoutMs` (SIGTERM): no new session, its cameras
   * placed elsewhere; resolves once it holds no viewer and feeds no hop, or
   * at the deadline.
   */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** How often a drain checks whether the proxy holds anything still. */
const DRAIN_POLL_MS = 200;

export async function startProxy(startup: MeshConfig, log: Logger): Promise<RunningProxy> {
  // The bind host is this node's own: every config, its own and each pushed one, is put on it.
  const { bindHost } = startup.proxy;
  const localize = (candidate: MeshConfig): MeshConfig => withBindHost(candidate, bindHost);
  const config = localize(startup);
  // Node-local, read at start (proxy.workers or STREAMMESH_PROXY_WORKERS): a pushed config cannot change it.
  const workers = proxyWorkersOf(startup.proxy);
  const routes = new MediaWorkers({
    workers,
    log,
    udpIo: startup.proxy.udpIo,
    srtpEngine: startup.proxy.srtpEngine,
  });
  // The camera mesh follows the node's placements and hops, so it is made
  // after the node, which needs the RTSP service (and so this hook) first.
  const late: { mesh?: CameraMesh; node?: MeshNode } = {};
  const rtsp = new RtspService(log, {
    // Edge tokens (proxy.rtsp.auth.jwt) are checked against the node's trust bundle.
    trustBundle: () => late.node?.identity?.current()?.trustBundlePem,
    tokenIssuers: () => late.node?.meshState.trustBundle.tokenIssuers(),
    revoked: revocationsOf(() => late.node?.identity?.current()),
    // UDP viewer tracks spread over the media workers (with one, all stay here).
    viewerThreads: routes,
    cameraSource: (camera, path) => {
      // Built now, so a bad camera URL refuses the config at prepare.
      let first: CameraSource | undefined = new CameraSource(camera);
      const pull = (): CameraSource => {
        const built = first ?? new CameraSource(camera);
        first = undefined;
        return built;
      };
      const { mesh } = late;
      return mesh === undefined ? pull() : mesh.cameraSource(path, pull, camera.mediaHost);
    },
  });
  const node: MeshNode = new MeshNode({
    role: 'ROLE_PROXY',
    roleName: 'proxy',
    config,
    section: config.proxy,
    capabilities: ['rtp', 'srtp', 'rtsp', 'http', 'http2', 'grpc'],
    log,
    load: proxyLoad(routes, rtsp),
    // Stream quality per relayed stream, RTSP track and hop, for the control plane's /stats.
    stats: () => proxyStatsReport(routes, rtsp, late.mesh),
    listenAddresses: () => (late.mesh?.address === undefined ? {} : { hop: late.mesh.address }),
    hopRequests: () => late.mesh?.requests() ?? [],
    // One transaction: a service that cannot take a config leaves all in the old one.
    participants: [
      localized(routes, localize),
      localized(rtsp, localize),
      // The L7 service needs the node's metrics registry, so it is made just below.
      {
        name: 'l7',
        resourceTypes: IsolatedHttpService.resourceTypes,
        prepare: (candidate) => http.prepare(localize(candidate)),
      },
    ],
  });
  late.node = node;
  startSrtpEngine(node.metrics, startup.proxy.srtpEngine, log);
  const mesh = new CameraMesh({
    nodeId: node.id,
    meshState: node.meshState,
    placesSessions: () => node.placesSessions,
    requestsChanged: () => node.hopRequestsChanged(),
    pathNamed: (name) => rtsp.pathNamed(name),
    log,
  });
  late.mesh = mesh;
  node.onDrain((deadlineMs) => rtsp.drain(deadlineMs));
  // Hops leave from the proxy's media address (its bind host when it has one).
  await mesh.listen(config.proxy.mediaAddress);
  const http: IsolatedHttpService = new IsolatedHttpService({
    role: 'proxy',
    log,
    metrics: node.metrics,
    // As many L7 threads as media workers, each listening on every HTTP port (SO_REUSEPORT).
    workers,
  });
  // Mesh mutual TLS (proxy.http tls / clusters' tls) presents the node's workload certificate.
  const { identity } = node;
  const unfollowIdentity = identity === undefined ? undefined : http.useIdentity(identity);
  node.admin.addMetricsSource(() => http.threadMetrics());
  addStreamRoutes(node.admin, routes, rtsp);
  addPlacementRoutes(node.admin, node.id, node.placements);
  addHopRoutes(node.admin, node.meshState.hops, mesh);
  registerStreamMetrics(node.metrics, routes);
  useProxyUdpIo(node.metrics, config.proxy.udpIo, log);
  registerWorkerMetrics(node.metrics, routes);
  registerRtspMetrics(node.metrics, rtsp);
  await node.start();
  log.info({ id: node.id, admin: node.adminAddress }, 'proxy started');
  return {
    id: node.id,
    admin: node.adminAddress,
    serving: () => node.firstConfig(),
    rtspAddress: () => rtsp.address,
    relay: routes,
    httpListeners: () => http.listeners(),
    drain: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      node.drain(deadline);
      // An owned camera nobody watches holds nothing (with no other proxy it
      // could not move anyway); hops it feeds hold it while the control plane
      // is there to hand them over.
      const holdsSomething = (): boolean =>
        rtsp.sessionCount > 0 ||
        (node.controlPlaneConnected && node.meshState.hops.sending().length > 0);
      // At least one round trip to the control plane before "holds nothing" can be believed.
      await sleep(Math.min(timeoutMs, 2 * DRAIN_POLL_MS));
      while (Date.now() < deadline && holdsSomething()) await sleep(DRAIN_POLL_MS);
    },
    close: async () => {
      // The node first: it takes no more updates and lets the one in flight
      // finish, so no transaction prepares or commits on a closed service.
      await node.close();
      await routes.close();
      await rtsp.close();
      mesh.close();
      unfollowIdentity?.();
      await http.close();
    },
  };
}

/** `participant` taking each candidate config through `localize` first. */
function localized(
  participant: ConfigParticipant,
  localize: (candidate: MeshConfig) => MeshConfig,
): ConfigParticipant {
  return {
    name: participant.name,
    ...(participant.resourceTypes === undefined
      ? {}
      : { resourceTypes: participant.resourceTypes }),
    prepare: (candidate) => participant.prepare(localize(candidate)),
  };
}
