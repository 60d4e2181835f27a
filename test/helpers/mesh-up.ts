/**
 * `streammesh up --config FILE` for media tests: the example's fixed media
 * ports, but every admin and control listener on port 0.
 */
import { newAdminToken } from './admin-token.js';
import { getJson, waitReady } from './http.js';
import { startStreammesh, type Running } from './process.js';

export interface MeshUp {
  readonly proxyUrl: string;
  readonly up: Running;
  /** The mesh's admin token (STREAMMESH_ADMIN_TOKEN of every role). */
  readonly adminToken: string;
  streams<T = unknown>(): Promise<T>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

/** `env` overrides the port-0 defaults (e.g. a fixed STREAMMESH_PROXY_RTSP_LISTEN). */
export async function meshUp(
  configFile: string,
  env: Readonly<Record<string, string>> = {},
): Promise<MeshUp> {
  const adminToken = newAdminToken();
  // --verbose: the roles' logs on stderr too, for a failing test's message.
  const up = startStreammesh(['up', '--config', configFile, '--verbose'], {
    STREAMMESH_ADMIN_TOKEN: adminToken,
    STREAMMESH_CONTROL_PLANE_ADMIN: '127.0.0.1:0',
    STREAMMESH_CONTROL_PLANE_GRPC: '127.0.0.1:0',
    STREAMMESH_PROXY_ADMIN: '127.0.0.1:0',
    STREAMMESH_PROXY_RTSP_LISTEN: '127.0.0.1:0',
    STREAMMESH_SIGNALING_ADMIN: '127.0.0.1:0',
    STREAMMESH_SIGNALING_LISTEN: '127.0.0.1:0',
    ...env,
  });
  let proxyUrl: string;
  try {
    // Generous: on a loaded 2-core machine the roles start in seconds, not milliseconds.
    const match = await up.waitForOutput(/^proxy +ready +(http:\/\/\S+)$/m, 30_000);
    proxyUrl = match[1] ?? '';
    // Ready means the config, and with it every route, is in force.
    await waitReady(proxyUrl, () => up.stderr(), 30_000);
  } catch (error) {
    // A mesh that never got ready is stopped here: the caller has nothing to stop.
    await up.stop('SIGTERM', 5_000);
    throw error;
  }
  return {
    proxyUrl,
    up,
    adminToken,
    streams: async <T>() => (await getJson<T>(`${proxyUrl}/streams`)).body,
    metrics: async () => (await fetch(`${proxyUrl}/metrics`)).text(),
    stop: async () => {
      await up.stop('SIGTERM', 5_000);
    },
  };
}
