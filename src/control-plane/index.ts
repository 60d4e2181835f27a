/**
 * The control plane process: the config store (file + admin writes), the
 * node registry, placement (which proxy carries which media session), camera
 * hops (which proxy sends which camera stream to which other, and their
 * keys), SFU rooms across signaling nodes (each room's home node, the
 * signaling nodes' directory, and the cascade pipes between nodes sharing a
 * room, with the keys their nodes made: src/control-plane/rooms), the
 * MeshControl gRPC service and the admin listener.
 *
 * With controlPlane.mtls (the default) it is also the mesh's identity
 * authority: it opens the mesh CA, issues itself a certificate (renewed at
 * half-life) for its gRPC listener, serves MeshIdentity.IssueCertificate
 * there (first certificates against the bootstrap token, renewals over
 * mutual TLS), and requires nodes' certificates on MeshControl, where a
 * node's role must fit its certificate's SPIFFE ID (node-roles.ts). It pushes
 * the CA's trust bundle to every node and serves the CA's rotation on its
 * admin (ca-routes.ts).
 */
import { X509Certificate } from 'node:crypto';
import type { FSWatcher } from 'node:fs';
import { experimental } from '@grpc/grpc-js';
import { Gauge } from 'prom-client';
import { validHostPort as address, type HostPort } from '../shared/address.js';
import {
  AdminCredentials,
  AdminServer,
  BootstrapCredentials,
  type TokenCredentials,
} from '../shared/admin/index.js';
import { systemClock, type Clock } from '../shared/clock.js';
import type { MeshConfig } from '../config/index.js';
import type { Logger } from '../shared/log.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import { addControlPlaneRoutes } from './admin-routes.js';
import { addCaRoutes } from './ca-routes.js';
import { addRevocationRoutes } from './revocation-routes.js';
import { CaRotation } from './ca-rotation.js';
import { addOperatorCertificateRoute, operatorIds } from './operator-certificates.js';
import { signalingIdentities } from './node-roles.js';
import { tokenIssuerId } from '../shared/edge-token/index.js';
import { ConfigStore, ConfigPushServer, type ChannelSecurity } from './config-push/index.js';
import { HopPlanner } from './hops/index.js';
import { PlacementService } from './placement/index.js';
import { registerLoadMetrics, Registry } from './registry/index.js';
import { PipePlanner, RoomMembership, RoomPlacement, SignalingNodes } from './rooms/index.js';
import { addTokenRoutes } from './tokens/index.js';
import {
  kubeClient,
  kubernetesSourceStarters,
  LEADER_GAUGE_HELP,
  startKubernetesSources,
  type RunningSource,
} from './kubernetes/index.js';
import { Revocations, type MeshCa } from './ca/index.js';
import {
  bootstrapTokenAuthenticator,
  IdentityService,
  MemoryCertificateProvider,
  openKubernetesIdentity,
  openMeshCa,
  OwnCertificate,
  type FirstCertificateAuthenticator,
  type OpenedCa,
} from './identity/index.js';

export { kubeClient, startElectedReplica } from './kubernetes/index.js';

export interface ControlPlaneOptions {
  readonly config: MeshConfig;
  /** When set, the file is watched and every valid edit is pushed. */
  readonly configFile?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly clock?: Clock;
  /**
   * The admin token; default: STREAMMESH_ADMIN_TOKEN, else the token file
   * (controlPlane.adminTokenFile), created with a new token if missing.
   */
  readonly credentials?: AdminCredentials;
  /**
   * The bootstrap token (controlPlane.mtls only); default:
   * STREAMMESH_BOOTSTRAP_TOKEN, else the token file
   * (controlPlane.bootstrapTokenFile), created with a new token if missing.
   */
  readonly bootstrapToken?: TokenCredentials;
  /**
   * How long after start nothing is placed while nodes reconnect and report
   * the placements they hold; default DEFAULT_PLACEMENT_GRACE_MS (6 s).
   */
  readonly placementGraceMs?: number;
  /**
   * How long a drained owner's hop outlives the new hop's ACK by both its
   * nodes; default DEFAULT_HANDOVER_MS (2 s).
   */
  readonly hopHandoverMs?: number;
  /** How long a room no signaling node reports keeps its home; default DEFAULT_ROOM_LINGER_MS (10 s). */
  readonly roomLingerMs?: number;
}

export interface RunningControlPlane {
  readonly admin: HostPort;
  readonly grpc: HostPort;
  /** The mutual-TLS admin listener (controlPlane.adminMtls), when configured. */
  readonly adminMtls: HostPort | undefined;
  /** Where the admin token is kept (a file path or the variable's name), never the token. */
  readonly adminToken: string;
  /** The mesh's identity parts; undefined with controlPlane.mtls false. */
  readonly identity: RunningIdentity | undefined;
  close(): Promise<void>;
}

export interface RunningIdentity {
  /** Where the CA's root is: its directory, or the operator's certificate file. */
  readonly ca: string;
  /** Where the bootstrap token is kept (a file path or the variable's name), never the token. */
  readonly bootstrapToken: string;
  /** The control plane's own SPIFFE ID, the one its gRPC certificate names. */
  readonly spiffeId: string;
  /** Every root trusted now (PEM), what clients verify the control plane with. */
  trustBundle(): string;
}

export async function startControlPlane(
  options: ControlPlaneOptions,
): Promise<RunningControlPlane> {
  const { config, log } = options;
  const credentials =
    options.credentials ??
    AdminCredentials.ensure({
      file: config.controlPlane.adminTokenFile,
      env: options.env ?? process.env,
    });
  const metrics = createMetricsRegistry('control-plane');
  if (
    config.controlPlane.registry === 'kubernetes' &&
    config.controlPlane.kubernetes.leaderElection.enabled
  ) {
    // Under leader election this runs only once the replica holds the Lease
    // (kubernetes/elected-replica.ts); its standby admin said 0 until then.
    new Gauge({
      name: 'streammesh_control_plane_leader',
      help: LEADER_GAUGE_HELP,
      registers: [metrics],
    }).set(1);
  }
  const store = new ConfigStore(
    config,
    options.configFile ? `file ${options.configFile}` : 'defaults',
  );
  const registry = new Registry({
    clock: options.clock ?? systemClock,
    heartbeatIntervalMs: config.controlPlane.heartbeatIntervalMs,
    staleAfterMissedHeartbeats: config.controlPlane.staleAfterMissedHeartbeats,
    maxNodes: 10_000,
    forgetAfterMs: 10 * 60_000,
  });
  registerLoadMetrics(metrics, registry);
  const placements = new PlacementService({
    store,
    registry,
    clock: options.clock ?? systemClock,
    log,
    ...(options.placementGraceMs === undefined ? {} : { graceMs: options.placementGraceMs }),
  });
  const hops = new HopPlanner({
    store,
    registry,
    placements,
    clock: options.clock ?? systemClock,
    log,
    metrics,
    requireIdentity: config.controlPlane.mtls,
    ...(options.hopHandoverMs === undefined ? {} : { handoverMs: options.hopHandoverMs }),
  });
  const membership = new RoomMembership(registry);
  const roomPlacement = new RoomPlacement({
    store,
    registry,
    membership,
    clock: options.clock ?? systemClock,
    log,
    ...(options.placementGraceMs === undefined ? {} : { graceMs: options.placementGraceMs }),
    ...(options.roomLingerMs === undefined ? {} : { lingerMs: options.roomLingerMs }),
  });
  const signalingNodes = new SignalingNodes({ registry, log });
  const pipes = new PipePlanner({
    registry,
    membership,
    grace: roomPlacement,
    clock: options.clock ?? systemClock,
    log,
    requireIdentity: config.controlPlane.mtls,
  });
  const rooms = { membership, placement: roomPlacement, pipes };
  const identity = config.controlPlane.mtls ? await startIdentity(options, metrics) : undefined;
  const rotation =
    identity === undefined
      ? undefined
      : new CaRotation({
          ca: identity.ca,
          registry,
          own: identity.own,
          issuedTo: (id) => identity.service.issuedTo(id),
          revocations: identity.revocations,
          metrics,
          log,
          ...(options.clock === undefined ? {} : { clock: options.clock }),
        });
  const pushServer = new ConfigPushServer({
    listen: address(config.controlPlane.grpc),
    ...(identity === undefined ? {} : { mtls: identity.security }),
    ...(rotation === undefined ? {} : { trustBundle: rotation }),
    store,
    registry,
    placements,
    hops,
    rooms: { placements: roomPlacement, signalingNodes, pipes, membership },
    heartbeatIntervalMs: config.controlPlane.heartbeatIntervalMs,
    budget: {
      maxConnections: config.controlPlane.grpcMaxConnections,
      maxPerSource: config.controlPlane.grpcMaxConnectionsPerSource,
      headTimeoutMs: config.controlPlane.grpcHeadTimeoutMs,
    },
    metrics,
    log,
  });
  const admin = new AdminServer({
    listen: address(config.controlPlane.admin),
    metrics,
    log,
    // The registry is in memory and loaded at construction: ready once listening.
    readiness: () => ({ ready: true }),
    credentials,
    setting: 'controlPlane.admin',
  });
  // Before any port is bound: a refused admin address leaves nothing half started.
  try {
    admin.checkBind();
  } catch (error) {
    identity?.own.close();
    throw error;
  }
  addControlPlaneRoutes(admin, { store, registry, placements, hops, rooms });
  if (rotation !== undefined) addCaRoutes(admin, rotation);
  if (identity !== undefined) {
    addRevocationRoutes(admin, identity.revocations, () => {
      const own = identity.own.current();
      return own === undefined ? undefined : new X509Certificate(own.certificatePem).serialNumber;
    });
  }
  if (identity !== undefined) {
    // Edge tokens are signed by a leaf of the mesh CA: with mTLS off there is no CA, and no tokens.
    // A CA that cannot issue the signing leaf fails the start, with nothing left running.
    const tokenIssuer = await addTokenRoutes(admin, {
      ca: identity.ca,
      clock: options.clock ?? systemClock,
      log,
      // A rotation's new root signs tokens once every connected node trusts it.
      ...(rotation === undefined ? {} : { signingRoot: () => rotation.settledIssuer() }),
      revocations: identity.revocations,
    }).catch((error: unknown) => {
      identity.own.close();
      throw error;
    });
    // Edges learn the signing leaves with the bundle: compact tokens verify at once.
    rotation?.setTokenIssuers(tokenIssuer.signingLeaves());
    tokenIssuer.onNewSigner((leaves) => rotation?.setTokenIssuers(leaves));
    addOperatorCertificateRoute(admin, {
      ca: identity.ca,
      revocations: identity.revocations,
      operators: operatorIds(config.controlPlane),
      leafLifetimeMs: config.controlPlane.ca.leafLifetimeSec * 1000,
      log,
    });
  }

  // The file's config is the base; on Kubernetes the API server's objects are laid over it.
  // Started (first lists laid) before the ports are bound: a node connecting at once, as
  // nodes do after a failover, must not be sent a config without them.
  let kubernetes: RunningSource | undefined;
  if (config.controlPlane.registry === 'kubernetes') {
    kubernetes = await startKubernetesSources(
      {
        kube: kubeClient(config.controlPlane.kubernetes, options.env ?? process.env),
        config,
        store,
        registry,
        metrics,
        log,
      },
      kubernetesSourceStarters,
    ).catch((error: unknown) => {
      identity?.own.close();
      throw error;
    });
  }
  const grpcAddress = await pushServer.listen().catch(async (error: unknown) => {
    identity?.own.close();
    await kubernetes?.close();
    throw error;
  });
  const adminAddress = await admin.listen().catch(async (error: unknown) => {
    identity?.own.close();
    await kubernetes?.close();
    await pushServer.close();
    throw error;
  });
  const adminMtlsAddress = await listenAdminMtls(admin, config, identity);
  let watcher: FSWatcher | undefined;
  if (options.configFile !== undefined) {
    watcher = store.watchFile(options.configFile, options.env ?? process.env, log);
  }
  store.on('change', (snapshot) => {
    // A level set in this process's environment wins over the file.
    if ((options.env ?? process.env)['STREAMMESH_LOG_LEVEL'] === undefined) {
      log.level = snapshot.config.logLevel;
    }
  });
  placements.start();
  hops.start();
  roomPlacement.start();
  signalingNodes.start();
  pipes.start();
  const sweep = setInterval(() => registry.forgetSilentNodes(), 60_000);
  sweep.unref();
  log.info(
    {
      admin: adminAddress,
      grpc: grpcAddress,
      version: store.current.version,
      adminToken: credentials.describe(),
      ...(adminMtlsAddress === undefined ? {} : { adminMtls: adminMtlsAddress }),
      mtls: config.controlPlane.mtls,
      ...(identity === undefined
        ? {}
        : {
            ca: identity.running.ca,
            bootstrapToken: identity.running.bootstrapToken,
            spiffeId: identity.running.spiffeId,
          }),
    },
    'control plane ready',
  );

  return {
    admin: adminAddress,
    grpc: grpcAddress,
    adminMtls: adminMtlsAddress,
    adminToken: credentials.describe(),
    identity: identity?.running,
    async close() {
      clearInterval(sweep);
      rotation?.close();
      identity?.own.close();
      placements.close();
      hops.close();
      roomPlacement.close();
      signalingNodes.close();
      pipes.close();
      watcher?.close();
      await kubernetes?.close();
      await Promise.all([pushServer.close(), admin.close()]);
    },
  };
}

/**
 * The mutual-TLS admin listener (controlPlane.adminMtls), with the control
 * plane's own certificate (renewals followed); undefined when not configured.
 */
async function listenAdminMtls(
  admin: AdminServer,
  config: MeshConfig,
  identity: StartedIdentity | undefined,
): Promise<HostPort | undefined> {
  const listen = config.controlPlane.adminMtls;
  if (listen === undefined) return undefined;
  const certificates = identity?.own.current();
  if (identity === undefined || certificates === undefined) {
    throw new Error('controlPlane.adminMtls needs the mesh CA: set controlPlane.mtls to true');
  }
  identity.own.onRenewed((renewed) => admin.setCertificates(renewed));
  return admin.listenMtls({
    listen: address(listen),
    certificates,
    trustDomain: identity.ca.trustDomain,
    operators: operatorIds(config.controlPlane),
    revoked: identity.revocations,
  });
}

interface StartedIdentity {
  readonly ca: MeshCa;
  readonly security: ChannelSecurity;
  readonly own: OwnCertificate;
  readonly service: IdentityService;
  readonly revocations: Revocations;
  readonly running: RunningIdentity;
}

/**
 * The mesh CA, how first requests are authenticated (the bootstrap token;
 * on the kubernetes registry, the CA root in its Secret, the trust bundle
 * ConfigMap and ServiceAccount tokens checked with TokenReview), the
 * control plane's own certificate and the IssueCertificate service, for the
 * mTLS gRPC listener.
 */
async function startIdentity(
  options: ControlPlaneOptions,
  metrics: ReturnType<typeof createMetricsRegistry>,
): Promise<StartedIdentity> {
  const { config, log } = options;
  const env = options.env ?? process.env;
  let opened: OpenedCa;
  let authenticator: FirstCertificateAuthenticator;
  if (config.controlPlane.registry === 'kubernetes') {
    ({ opened, authenticator } = await openKubernetesIdentity({
      config,
      kube: kubeClient(config.controlPlane.kubernetes, env),
      env,
      metrics,
      log,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    }));
  } else {
    authenticator = bootstrapTokenAuthenticator(
      options.bootstrapToken ??
        BootstrapCredentials.ensure({ file: config.controlPlane.bootstrapTokenFile, env }),
    );
    opened = await openMeshCa(config, env, options.clock);
  }
  const ca: MeshCa = opened.ca;
  const leafLifetimeMs = config.controlPlane.ca.leafLifetimeSec * 1000;
  const provider = new MemoryCertificateProvider();
  const own = new OwnCertificate({
    ca,
    provider,
    lifetimeMs: leafLifetimeMs,
    log,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const revocations = new Revocations({
    dir: opened.stateDir,
    maxLeafLifetimeMs: leafLifetimeMs,
    // On Kubernetes each replica would keep its own list: revoking is refused there.
    ...(opened.revocationsNotShared === undefined
      ? {}
      : { notShared: opened.revocationsNotShared }),
    metrics,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  await own.start();
  const service = new IdentityService({
    ca,
    authenticator,
    leafLifetimeMs,
    metrics,
    log,
    reservedIds: new Set([tokenIssuerId(ca.trustDomain), ...operatorIds(config.controlPlane)]),
    revocations,
  });
  return {
    ca,
    own,
    service,
    revocations,
    security: {
      // Not required at the handshake: a node's first IssueCertificate has
      // no certificate yet; MeshControl requires one itself.
      credentials: experimental.createCertificateProviderServerCredentials(
        provider,
        provider,
        false,
      ),
      trustDomain: ca.trustDomain,
      identity: service.handlers(),
      revocations,
      signalingIdentities: signalingIdentities(config, ca.trustDomain),
    },
    running: {
      ca: opened.where,
      bootstrapToken: authenticator.describe(),
      spiffeId: own.spiffeId,
      trustBundle: () => ca.trustBundle(),
    },
  };
}
