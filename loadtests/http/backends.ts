/**
 * The backends every target forwards to. They must outrun the proxies, so
 * that a proxy's maximum is its own and not the backend's:
 *
 *   HTTP/1.1  nginx, one worker, `return 200` of a 20-byte body, no access log
 *   HTTP/2    the same nginx on a second port with `listen ... http2`
 *             (cleartext: prior knowledge only, no HTTP/1.1 on that port)
 *   gRPC      by default the same nginx on a third h2c port, answering every
 *             request with one fixed gRPC reply: the framed message as the
 *             body (content-type application/grpc) and grpc-status 0 in the
 *             trailers (add_trailer). nginx's static handler refuses POST
 *             (405), so `return 405` + `error_page 405 =200` serves the
 *             reply file; a real @grpc/grpc-js client checks it (smoke.ts).
 *             With --grpc-backend grpc-js: grpc-backend.ts, a @grpc/grpc-js
 *             server, one Node process: it tops out near 15-20k calls/s
 *             here, below HAProxy, so it bounds the proxies' maxima and its
 *             latency at the common rate (queueing at the backend) swamps
 *             what the proxies add.
 *
 * nginx keeps connections and streams for as long as the run
 * (keepalive_requests), so no target pays for reconnecting.
 */
import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnPeer } from '../../test/helpers/peers/process.js';
import { GRPC_MESSAGE, grpcFrame } from './grpc-message.js';
import { childPids, PeerServer, sleep, waitListening, waitPeerPid } from './processes.js';

/** What nginx answers: small, so the proxies' per-request work dominates. */
export const NGINX_BODY = 'streammesh-bench-ok\n';

export interface NginxPorts {
  readonly http1: number;
  readonly http2: number;
  readonly grpc: number;
}

export async function startNginx(
  dir: string,
  ports: NginxPorts,
  lifetimeMs: number,
): Promise<PeerServer> {
  const binary = '/usr/sbin/nginx';
  if (!existsSync(binary))
    throw new Error(`${binary} is missing: run scripts/install-bench-peers.sh`);
  const location = `location / { return 200 "${NGINX_BODY.replace('\n', '\\n')}"; }`;
  const config = [
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'nginx-error.log')} warn;`,
    'events { worker_connections 8192; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${join(dir, 'nginx-body')};`,
    '  default_type text/plain;',
    '  keepalive_requests 100000000;',
    '  keepalive_timeout 300s;',
    '  http2_max_concurrent_streams 1024;',
    `  server { listen 127.0.0.1:${ports.http1}; ${location} }`,
    `  server { listen 127.0.0.1:${ports.http2} http2; ${location} }`,
    `  server {`,
    `    listen 127.0.0.1:${ports.grpc} http2;`,
    '    location / { error_page 405 =200 /grpc-reply; return 405; }',
    '    location = /grpc-reply {',
    '      internal;',
    '      default_type application/grpc;',
    '      add_trailer grpc-status 0;',
    '      add_trailer grpc-message "";',
    `      alias ${join(dir, 'grpc-reply.bin')};`,
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
  const file = join(dir, 'nginx.conf');
  await writeFile(file, config);
  await writeFile(join(dir, 'grpc-reply.bin'), grpcFrame(GRPC_MESSAGE), { mode: 0o644 });
  // nginx's worker drops root for nobody: it must be able to reach the reply file.
  await chmod(dir, 0o711);
  const peer = spawnPeer(binary, ['-p', dir, '-c', file, '-g', 'daemon off;'], {
    timeoutMs: lifetimeMs,
    stopSignal: 'SIGQUIT',
    killAfterMs: 3_000,
  });
  try {
    await waitListening(
      [ports.http1, ports.http2],
      10_000,
      () => peer.running(),
      () => peer.stderr(),
    );
    const master = await waitPeerPid(peer);
    // The one worker serves every request; the master only watches it.
    let worker: number | undefined;
    for (let i = 0; i < 100 && worker === undefined; i++) {
      worker = childPids(master)[0];
      if (worker === undefined) await sleep(20);
    }
    if (worker === undefined) throw new Error('nginx started no worker');
    return new PeerServer('nginx', peer, worker);
  } catch (error) {
    await peer.stop();
    throw error;
  }
}

export interface GrpcBackend {
  readonly server: PeerServer;
  readonly port: number;
}

export async function startGrpcBackend(lifetimeMs: number): Promise<GrpcBackend> {
  const script = fileURLToPath(new URL('./grpc-backend.js', import.meta.url));
  const peer = spawnPeer(process.execPath, [script], {
    timeoutMs: lifetimeMs,
    stopSignal: 'SIGTERM',
    killAfterMs: 3_000,
  });
  try {
    const deadline = Date.now() + 10_000;
    let port: number | undefined;
    while (port === undefined) {
      const match = /^ready (\d+)$/m.exec(peer.stdout());
      if (match !== null) port = Number(match[1]);
      else if (!peer.running() || Date.now() > deadline) {
        throw new Error(`the gRPC backend did not start:\n${peer.stderr().slice(-2_000)}`);
      } else await sleep(20);
    }
    const pid = await waitPeerPid(peer);
    return { server: new PeerServer('grpc-backend', peer, pid), port };
  } catch (error) {
    await peer.stop();
    throw error;
  }
}
