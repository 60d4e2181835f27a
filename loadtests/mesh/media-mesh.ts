/**
 * The processes of one setup of the media part of `npm run bench:mesh`: a
 * control plane and K `streammesh proxy` processes on their own loopback
 * addresses (127.0.0.11, .12, ...), one camera path `cam` pulled from the
 * bench's camera, as test/e2e/mesh/camera-mesh.test.ts runs them. The
 * control plane places the camera on one proxy (the owner, which pulls it);
 * the others (edges) get it from the owner over an SRTP hop.
 *
 * Each process is the built CLI of this checkout under coreutils `timeout`
 * (spawnPeer), so it ends by itself even if the bench is killed; its pid is
 * the Node process itself (checked against its /healthz), whose
 * /proc/<pid>/stat the bench reads. The control plane's admin and gRPC
 * ports are picked free before it starts (the proxies' config names them);
 * every other listener is on port 0 and read back from the admin API.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newAdminToken } from '../../test/helpers/admin-token.js';
import { freePort } from '../../test/helpers/ports.js';
import { waitFor } from '../../test/helpers/process.js';
import { peerPid, spawnPeer, type PeerProcess } from '../../test/helpers/peers/process.js';
import { adminJson, repoRoot } from '../common/streammesh-up.js';

/** The camera path every proxy serves, and its session as the control plane places it. */
export const CAMERA_PATH = 'cam';
const CAMERA_SESSION = `camera/${CAMERA_PATH}`;

export interface MediaMeshOptions {
  readonly cameraUrl: string;
  /** Number of proxies: 1 (setup A) or 3 (setup B). */
  readonly proxies: number;
  /** RTSP connections the bench opens to one proxy, all from 127.0.0.1 (the per-source budget is raised to it). */
  readonly viewersPerProxy: number;
  /** Hard bound on each process's life. */
  readonly timeoutMs: number;
}

export interface MeshProxy {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly adminUrl: string;
  /** rtsp://host:port/cam on this proxy. */
  readonly url: string;
}

/** The parts of a proxy's GET /hops the bench records. */
export interface HopsView {
  readonly sending: readonly { readonly peer: string; readonly rtpPackets: number }[];
  readonly receiving: readonly { readonly session: string; readonly active: string | null }[];
}

interface PlacementsView {
  readonly restoring?: boolean;
  readonly placements: readonly { readonly key: string; readonly node: string }[];
}

interface StreamsView {
  readonly rtsp?: {
    readonly listen: string | null;
    readonly paths: readonly { readonly name: string; readonly upstream: { state: string } }[];
  };
}

const START_TIMEOUT_MS = 30_000;

/** Config directories of setups still running (removed on stop, or by removeMeshTempDirs). */
const tempDirs = new Set<string>();

/** Removes what running setups left in the temp directory (for an interrupted run). */
export function removeMeshTempDirs(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export class MediaMesh {
  readonly controlPlanePid: number;
  readonly proxies: readonly MeshProxy[];
  /** The proxy the control plane placed the camera on. */
  readonly owner: string;
  readonly #processes: readonly PeerProcess[];
  readonly #dir: string;

  private constructor(
    controlPlanePid: number,
    proxies: readonly MeshProxy[],
    owner: string,
    processes: readonly PeerProcess[],
    dir: string,
  ) {
    this.controlPlanePid = controlPlanePid;
    this.proxies = proxies;
    this.owner = owner;
    this.#processes = processes;
    this.#dir = dir;
  }

  /** Starts the control plane, then the proxies; resolves once every proxy serves the camera path. */
  static async start(options: MediaMeshOptions): Promise<MediaMesh> {
    const dir = await mkdtemp(join(tmpdir(), 'streammesh-bench-mesh-media-'));
    tempDirs.add(dir);
    const processes: PeerProcess[] = [];
    try {
      const admin = await freePort();
      const grpc = await freePort((port) => port !== admin);
      const file = join(dir, 'mesh.yaml');
      await writeFile(file, configText(options, admin, grpc));
      // Every address from here, whatever STREAMMESH_* the shell exports.
      const env: Record<string, string> = {
        STREAMMESH_ADMIN_TOKEN: newAdminToken(),
        STREAMMESH_LOG_LEVEL: 'warn',
        STREAMMESH_CONTROL_PLANE: `127.0.0.1:${grpc}`,
        STREAMMESH_CONTROL_PLANE_ADMIN: `127.0.0.1:${admin}`,
        STREAMMESH_CONTROL_PLANE_GRPC: `127.0.0.1:${grpc}`,
        STREAMMESH_PROXY_RTSP_LISTEN: '127.0.0.1:0',
        STREAMMESH_SIGNALING_ADMIN: '127.0.0.1:0',
        STREAMMESH_SIGNALING_LISTEN: '127.0.0.1:0',
      };
      const planeUrl = `http://127.0.0.1:${admin}`;
      const plane = spawnRole('control-plane', file, env, options.timeoutMs);
      processes.push(plane);
      const controlPlanePid = await readyPid(plane, planeUrl);

      const proxies = await Promise.all(
        Array.from({ length: options.proxies }, async (_, index): Promise<MeshProxy> => {
          const id = `proxy-${String.fromCharCode(97 + index)}`;
          const host = `127.0.0.${11 + index}`;
          const adminPort = await freePort();
          const peer = spawnRole(
            'proxy',
            file,
            {
              ...env,
              STREAMMESH_PROXY_ID: id,
              STREAMMESH_PROXY_BIND_HOST: host,
              STREAMMESH_PROXY_MEDIA_ADDRESS: host,
              STREAMMESH_PROXY_ADMIN: `${host}:${adminPort}`,
            },
            options.timeoutMs,
          );
          processes.push(peer);
          const adminUrl = `http://${host}:${adminPort}`;
          const pid = await readyPid(peer, adminUrl);
          const listen = await waitFor(
            async () => {
              const streams = (await adminJson(`${adminUrl}/streams`)) as StreamsView | undefined;
              const path = streams?.rtsp?.paths.find(({ name }) => name === CAMERA_PATH);
              return path?.upstream.state === 'up'
                ? (streams?.rtsp?.listen ?? undefined)
                : undefined;
            },
            START_TIMEOUT_MS,
            () => `${id}'s path ${CAMERA_PATH} to be up (camera or hop):\n${peer.stderr()}`,
          );
          return { id, host, pid, adminUrl, url: `rtsp://${listen}/${CAMERA_PATH}` };
        }),
      );
      const owner = await waitFor(
        async () => {
          const view = (await adminJson(`${planeUrl}/placements`)) as PlacementsView | undefined;
          if (view === undefined || view.restoring === true) return undefined;
          return view.placements.find(({ key }) => key === CAMERA_SESSION)?.node;
        },
        START_TIMEOUT_MS,
        () => `the control plane to place ${CAMERA_SESSION}`,
      );
      return new MediaMesh(controlPlanePid, proxies, owner, processes, dir);
    } catch (error) {
      await Promise.all(processes.map((peer) => peer.stop()));
      await rm(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
      throw error;
    }
  }

  async hops(proxy: MeshProxy): Promise<HopsView | undefined> {
    return (await adminJson(`${proxy.adminUrl}/hops`)) as HopsView | undefined;
  }

  /** Every process of the setup still running. */
  running(): boolean {
    return this.#processes.every((peer) => peer.running());
  }

  /** Stops the proxies, then the control plane (SIGTERM, SIGKILL after 6 s), and removes the config. */
  async stop(): Promise<void> {
    const [plane, ...proxies] = this.#processes;
    await Promise.all(proxies.map((peer) => peer.stop()));
    await plane?.stop();
    await rm(this.#dir, { recursive: true, force: true });
    tempDirs.delete(this.#dir);
  }
}

function configText(options: MediaMeshOptions, admin: number, grpc: number): string {
  return [
    'logLevel: warn',
    'controlPlane:',
    `  admin: 127.0.0.1:${admin}`,
    `  grpc: 127.0.0.1:${grpc}`,
    'proxy:',
    '  admin: 127.0.0.1:0',
    '  rtsp:',
    '    listen: 127.0.0.1:0',
    '    demo: false',
    // Every viewer connects from 127.0.0.1 (default budget: 64 per source).
    `    maxConnectionsPerSource: ${options.viewersPerProxy + 16}`,
    `    maxSessionsPerSource: ${options.viewersPerProxy + 16}`,
    `    requestsPerSecondPerSource: ${Math.max(100, options.viewersPerProxy * 4)}`,
    `    requestBurstPerSource: ${Math.max(400, options.viewersPerProxy * 8)}`,
    '    paths:',
    `      ${CAMERA_PATH}: { source: "${options.cameraUrl}", transport: tcp, onDemand: false }`,
    'signaling:',
    '  admin: 127.0.0.1:0',
    '  listen: 127.0.0.1:0',
    '',
  ].join('\n');
}

function spawnRole(
  role: 'control-plane' | 'proxy',
  file: string,
  env: Readonly<Record<string, string>>,
  timeoutMs: number,
): PeerProcess {
  return spawnPeer(
    process.execPath,
    [join(repoRoot, 'bin', 'streammesh.js'), role, '--config', file],
    { timeoutMs, stopSignal: 'SIGTERM', killAfterMs: 6_000, cwd: repoRoot, env },
  );
}

/** Waits for /readyz, then checks that /healthz's pid is the Node process under `timeout`. */
async function readyPid(peer: PeerProcess, adminUrl: string): Promise<number> {
  await waitFor(
    async () => {
      if (!peer.running()) throw new Error(`${adminUrl} exited:\n${peer.stderr()}`);
      return (await adminJson(`${adminUrl}/readyz`)) === undefined ? undefined : true;
    },
    START_TIMEOUT_MS,
    () => `${adminUrl}/readyz:\n${peer.stderr()}`,
  );
  const health = (await adminJson(`${adminUrl}/healthz`)) as { pid?: number } | undefined;
  const pid = peerPid(peer);
  if (pid === undefined || health?.pid !== pid) {
    throw new Error(`${adminUrl}/healthz pid ${health?.pid} is not the process started (${pid})`);
  }
  return pid;
}
