/**
 * Runs one role (control-plane, proxy, signaling) as this process: loads the
 * config, starts the role, tells a supervising parent when it is ready, and
 * shuts down cleanly on SIGINT, SIGTERM, or when the parent goes away (so no
 * role outlives a killed `streammesh up`).
 */
import { kubeClient, startControlPlane, startElectedReplica } from '../control-plane/index.js';
import { startProxy } from '../../rtp-proxy/index.js';
import { startSignaling } from '../../signaling/index.js';
import { httpUrl, formatHostPort, validHostPort, type HostPort } from '../shared/address.js';
import { DEMO_PATH, defaultConfig, loadConfigFile, type MeshConfig } from '../config/index.js';
import { createLogger, type Logger } from '../shared/log.js';
import { processGroupFailure } from '../shared/process-group.js';
import type { AdminCredentials } from '../shared/admin/index.js';
import { adminCredentialsFor, exitOnAdminAccessError } from './admin-access.js';
import { exitOnConfigError } from './config-error.js';
import { describeStartFailure } from './start-failure.js';

export const roleNames = ['control-plane', 'proxy', 'signaling'] as const;
export type RoleName = (typeof roleNames)[number];

/** Sent over the IPC channel to `streammesh up`. */
export interface ReadyMessage {
  readonly type: 'ready';
  readonly role: RoleName;
  readonly adminUrl: string;
  /** The addresses it bound, so a restart can bind the same ones. */
  readonly listen: Readonly<Record<string, string>>;
  /** What a user opens, by label ("demo page": "http://..."), printed by `up`. */
  readonly urls: Readonly<Record<string, string>>;
}

interface Running {
  readonly listen: Readonly<Record<string, HostPort>>;
  readonly urls?: Readonly<Record<string, string>>;
  /**
   * Resolves once the role serves what it announces (a node: its first
   * config in force, every listener of it bound); rejects with why not.
   */
  readonly serving?: () => Promise<void>;
  /**
   * What SIGTERM does before close(): a proxy hands its sessions over, a
   * signaling node asks its participants to move; resolves when it may stop.
   */
  readonly drain?: () => Promise<void>;
  close(): Promise<void>;
}

const SHUTDOWN_TIMEOUT_MS = 4_000;
/** A node with no first config this long after start cannot start (the control plane is silent). */
const FIRST_CONFIG_TIMEOUT_MS = 30_000;

export async function loadConfig(file: string | undefined): Promise<MeshConfig> {
  return file === undefined ? defaultConfig() : loadConfigFile(file);
}

/** Returns the process exit code when the role could not start. */
export async function runRole(role: RoleName, configFile: string | undefined): Promise<number> {
  let config: MeshConfig;
  try {
    config = await loadConfig(configFile);
  } catch (error) {
    return exitOnConfigError(error);
  }
  let credentials: AdminCredentials;
  try {
    credentials = adminCredentialsFor(role === 'control-plane' ? 'controlPlane' : role, config);
  } catch (error) {
    return exitOnAdminAccessError(error);
  }
  const log = createLogger(role, config.logLevel);
  const groupFailure = processGroupFailure();
  if (groupFailure !== undefined) {
    log.warn(
      { err: groupFailure },
      'no process group of its own: a Ctrl-C meant for up stops this role too',
    );
  }
  const shutdown = handleShutdown(log);
  let running: Running | undefined;
  try {
    running = await start(role, config, configFile, credentials, log);
    shutdown.attach(running);
    await within(running.serving?.(), FIRST_CONFIG_TIMEOUT_MS, () => {
      const { address, grpc } = config.controlPlane;
      return new Error(`no config from the control plane at ${address ?? grpc} within 30 s`);
    });
  } catch (error) {
    // One line that says what to fix (`up` shows it as is); the details stay in the log.
    log.fatal({ err: error }, describeStartFailure(error));
    await running?.close().catch(() => undefined);
    return 1;
  }
  const admin = running.listen['admin'];
  // `up` may be gone already (then the disconnect handler is stopping this role).
  if (admin !== undefined && process.send !== undefined && process.connected) {
    const message: ReadyMessage = {
      type: 'ready',
      role,
      adminUrl: httpUrl(admin),
      listen: Object.fromEntries(
        Object.entries(running.listen).map(([name, address]) => [name, formatHostPort(address)]),
      ),
      urls: running.urls ?? {},
    };
    process.send(message);
  }
  return 0;
}

async function start(
  role: RoleName,
  config: MeshConfig,
  configFile: string | undefined,
  credentials: AdminCredentials,
  log: Logger,
): Promise<Running> {
  switch (role) {
    case 'control-plane': {
      const options =
        configFile === undefined
          ? { config, log, credentials }
          : { config, log, credentials, configFile };
      const { registry, kubernetes } = config.controlPlane;
      if (registry === 'kubernetes' && kubernetes.leaderElection.enabled) {
        // One of several replicas: it serves (binds gRPC and the full admin) only while it leads.
        const replica = await startElectedReplica({
          settings: kubernetes,
          kube: kubeClient(kubernetes),
          admin: validHostPort(config.controlPlane.admin),
          credentials,
          env: process.env,
          log,
          lead: () => startControlPlane(options),
          exit: (code) => process.exit(code),
        });
        return { listen: { admin: replica.admin }, close: () => replica.close() };
      }
      const plane = await startControlPlane(options);
      return {
        listen: { admin: plane.admin, grpc: plane.grpc },
        // `up` prints this once: where the token is, never the token.
        urls: { 'admin token': plane.adminToken },
        close: () => plane.close(),
      };
    }
    case 'proxy': {
      const proxy = await startProxy(config, log);
      const urls: Record<string, string> = {};
      return {
        listen: { admin: proxy.admin },
        urls,
        // The URLs name the addresses bound (a port 0 in the config is a real port here).
        serving: async () => {
          await proxy.serving();
          const rtsp = proxy.rtspAddress();
          if (rtsp !== null && config.proxy.rtsp.demo) {
            urls['demo camera'] = `rtsp://${rtsp}/${DEMO_PATH}`;
          }
          for (const listener of await proxy.httpListeners()) {
            urls[`http ${listener.name}`] = httpUrl(listener);
          }
        },
        ...(config.proxy.drainTimeoutSec > 0
          ? { drain: () => proxy.drain(config.proxy.drainTimeoutSec * 1000) }
          : {}),
        close: () => proxy.close(),
      };
    }
    case 'signaling': {
      const signaling = await startSignaling(config, log);
      const base = httpUrl(signaling.listen);
      const { rtsp } = config.proxy;
      const urls: Record<string, string> = { 'demo page': `${base}/` };
      if (rtsp.enabled && rtsp.demo) urls['WHEP demo'] = `${base}/whep/${DEMO_PATH}`;
      return {
        listen: { admin: signaling.admin, listen: signaling.listen, cascade: signaling.cascade },
        urls,
        serving: () => signaling.serving(),
        ...(config.signaling.drainTimeoutSec > 0
          ? { drain: () => signaling.drain(config.signaling.drainTimeoutSec * 1000) }
          : {}),
        close: () => signaling.close(),
      };
    }
  }
}

/** Waits for `work` (if any), failing with `timeout()` after `ms`. */
async function within(
  work: Promise<void> | undefined,
  ms: number,
  timeout: () => Error,
): Promise<void> {
  if (work === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      work,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(timeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stops the role cleanly on SIGINT, SIGTERM, or when the supervising `up`
 * goes away (even SIGKILLed: the IPC channel closes), from the moment the
 * role starts: a node still waiting for its first config stops too. What
 * has started by then is closed; a close that hangs is cut short.
 */
function handleShutdown(log: Logger): { attach(running: Running): void } {
  let running: Running | undefined;
  let why: string | undefined;
  const closeAndExit = (role: Running): void => {
    role.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'error while shutting down');
        process.exit(0);
      },
    );
  };
  let draining = false;
  const stop = (reason: string): void => {
    if (why !== undefined) return;
    why = reason;
    log.info({ why }, 'shutting down');
    const force = setTimeout(() => process.exit(0), SHUTDOWN_TIMEOUT_MS);
    force.unref();
    if (running !== undefined) closeAndExit(running);
  };
  // SIGTERM drains a role that can (a proxy, a signaling node), then stops it; SIGINT, a
  // second SIGTERM, or `up` going away stop it at once.
  const drainThenStop = (): void => {
    const drain = running?.drain;
    if (why !== undefined || draining || drain === undefined) {
      stop('SIGTERM');
      return;
    }
    draining = true;
    log.info('SIGTERM: draining before stopping');
    drain().then(
      () => stop('SIGTERM, drained'),
      (error: unknown) => {
        log.error({ err: error }, 'drain failed');
        stop('SIGTERM');
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', drainThenStop);
  process.on('disconnect', () => stop('supervisor exited'));
  // `up` may have gone while this role loaded its config, before there was a
  // listener to hear it: an orphan would otherwise run on with no supervisor.
  if (process.send !== undefined && !process.connected) stop('supervisor exited');
  return {
    attach(role) {
      running = role;
      if (why !== undefined) closeAndExit(role);
    },
  };
}
