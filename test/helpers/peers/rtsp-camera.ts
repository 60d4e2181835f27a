/**
 * A real RTSP camera for tests: GStreamer's RTSP server (rtsp-camera.py)
 * serving a live H.264 pattern, over UDP and TCP-interleaved (or over TCP
 * only), optionally behind Basic or Digest auth. It reports each RTSP
 * session it creates, so tests can count how many a proxy opened.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../process.js';
import { spawnPeer, type PeerExit, type PeerProcess } from './process.js';

// The .py file is not compiled: resolve it in the source tree from dist/ too.
const script = fileURLToPath(
  new URL('../../../../test/helpers/peers/rtsp-camera.py', import.meta.url),
);

export interface RtspCameraOptions {
  readonly port: number;
  readonly path: string;
  readonly auth?: { readonly user: string; readonly password: string; readonly digest: boolean };
  /** Serve TCP-interleaved only: a SETUP asking for UDP is answered 461 Unsupported Transport. */
  readonly tcpOnly?: boolean;
  /** Hard bound on the camera's life. */
  readonly timeoutMs?: number;
}

export interface RtspCamera {
  readonly url: string;
  readonly process: PeerProcess;
  /**
   * RTSP sessions the server has created so far. GStreamer creates the
   * session before it checks the transport, so a SETUP refused with 461
   * counts one too.
   */
  sessions(): number;
  stop(): Promise<PeerExit>;
}

export async function startRtspCamera(options: RtspCameraOptions): Promise<RtspCamera> {
  // Debian's python3 has gi; one earlier on PATH (pyenv) may not.
  if (!existsSync('/usr/bin/python3'))
    throw new Error('/usr/bin/python3 is missing: run scripts/install-test-peers.sh');
  const args = [script, String(options.port), options.path];
  if (options.auth !== undefined) {
    args.push('--user', options.auth.user, '--password', options.auth.password);
    if (options.auth.digest) args.push('--digest');
  }
  if (options.tcpOnly === true) args.push('--tcp-only');
  const peer = spawnPeer('/usr/bin/python3', args, {
    timeoutMs: options.timeoutMs ?? 120_000,
    stopSignal: 'SIGINT',
  });
  await waitFor(
    () => (peer.stdout().includes('ready') ? true : undefined),
    10_000,
    () => `the RTSP camera to listen:\n${peer.stderr()}`,
  );
  return {
    url: `rtsp://127.0.0.1:${options.port}/${options.path}`,
    process: peer,
    sessions: () => peer.stdout().match(/^session \d+$/gm)?.length ?? 0,
    stop: () => peer.stop('SIGINT'),
  };
}
