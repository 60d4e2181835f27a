/**
 * The control plane process: the config store (file + admin writes), the
 * node registry, placement (which proxy carries which media session), camera
 * hops (which proxy sends which camera stream to which other, and their
 * keys), the MeshControl gRPC service and the admin listener.
 */
import type { FSWatcher } from 'node:fs';
import { validHostPort as address, type HostPort } from '../shared/address.js';
import { AdminCredentials, AdminServer } from '../shared/admin/index.js';
import { systemClock, type Clock } from '../shared/clock.js';
import type { MeshConfig } from '../config/index.js';
import type { Logger } from '../shared/log.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import { addControlPlaneRoutes } from './admin-routes.js';
import { ConfigStore, ConfigPushServer } from './config-push/index.js';
import { HopPlanner } from './hops/index.js';
import { PlacementService } from './placement/index.js';
import { registerLoadMetrics, Registry } from './registry/index.js';

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
   * How long after start nothing is placed while nodes reconnect and report
   * the placements they hold; default DEFAULT_PLACEMENT_GRACE_MS (6 s).
   */
  readonly placementGraceMs?: number;
  /**
   * How long a drained owner's hop outlives the new hop's ACK by both its
   * nodes; default DEFAULT_HANDOVER_MS (2 s).
   */
  readonly hopHandoverMs?: number;
}

export interface RunningControlPlane {
  readonly admin: HostPort;
  readonly grpc: HostPort;
  /** Where the admin token is kept (a file path or the variable's name), never the token. */
  readonly adminToken: string;
  close(): Promise<void>;
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
    ...(options.hopHandoverMs === undefined ? {} : { handoverMs: options.hopHandoverMs }),
  });
  const pushServer = new ConfigPushServer({
    listen: address(config.controlPlane.grpc),
    store,
    registry,
    placements,
    hops,
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
  admin.checkBind();
  addControlPlaneRoutes(admin, { store, registry, placements, hops });

  const grpcAddress = await pushServer.listen();
  const adminAddress = await admin.listen();
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
  const sweep = setInterval(() => registry.forgetSilentNodes(), 60_000);
  sweep.unref();
  log.info(
    {
      admin: adminAddress,
      grpc: grpcAddress,
      version: store.current.version,
      adminToken: credentials.describe(),
    },
    'control plane ready',
  );

  return {
    admin: adminAddress,
    grpc: grpcAddress,
    adminToken: credentials.describe(),
    async close() {
      clearInterval(sweep);
      placements.close();
      hops.close();
      watcher?.close();
      await Promise.all([pushServer.close(), admin.close()]);
    },
  };
}
