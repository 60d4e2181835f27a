/**
 * `streammesh up --config FILE` as a benchmark target: the built CLI from
 * this checkout, every listen address from the file (port 0 where the
 * benchmark does not care), never from a developer's environment.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnPeer, type PeerProcess } from '../../test/helpers/peers/process.js';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Listen addresses a benchmark does not use: port 0, whatever the shell exports. */
const PORT_ZERO_ENV: Readonly<Record<string, string>> = {
  STREAMMESH_CONTROL_PLANE_ADMIN: '127.0.0.1:0',
  STREAMMESH_CONTROL_PLANE_GRPC: '127.0.0.1:0',
  STREAMMESH_PROXY_ADMIN: '127.0.0.1:0',
  STREAMMESH_PROXY_RTSP_LISTEN: '127.0.0.1:0',
  STREAMMESH_SIGNALING_LISTEN: '127.0.0.1:0',
  // Fixed (8444) by default: two `up` side by side (bench variants) would collide.
  STREAMMESH_SIGNALING_CASCADE_LISTEN: '127.0.0.1:0',
  STREAMMESH_SIGNALING_ADMIN: '127.0.0.1:0',
};

export function spawnStreammeshUp(
  configFile: string,
  options: { readonly timeoutMs: number; readonly env?: Readonly<Record<string, string>> },
): PeerProcess {
  const bin = join(repoRoot, 'bin', 'streammesh.js');
  if (!existsSync(bin)) throw new Error(`${bin} not found`);
  return spawnPeer(process.execPath, [bin, 'up', '--config', configFile], {
    timeoutMs: options.timeoutMs,
    stopSignal: 'SIGTERM',
    killAfterMs: 6_000,
    cwd: repoRoot,
    env: { ...PORT_ZERO_ENV, ...options.env },
  });
}

/** A JSON answer from an admin endpoint, or undefined when it is not (yet) there. */
export async function adminJson(url: string): Promise<unknown> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined;
  }
}
