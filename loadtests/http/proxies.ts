/**
 * The two proxies compared, each with one listener per protocol, forwarding
 * to the backends (backends.ts):
 *
 *   haproxy     HAProxy 2.6 (Debian), `nbthread N` (1, or 2 for haproxy-w2), `http-reuse always`;
 *               h2 frontends (`proto h2`, cleartext prior knowledge) for
 *               HTTP/2 and gRPC, and h2 to the backends of those two
 *               (`server ... proto h2`); HTTP/1.1 end to end for HTTP/1.1
 *   streammesh  `streammesh up --config <generated yaml>`: the rtp-proxy
 *               child of `up` serves proxy.http.listeners (protocol auto),
 *               one route per listener, clusters with http2: true for the
 *               HTTP/2 and gRPC backends
 *
 * With one worker, both are one thread of work: HAProxy by its nbthread 1,
 * streammesh by proxy.workers 1 (STREAMMESH_PROXY_WORKERS). The -w2 targets
 * give each two. bare-proxy.ts (startBareNode) is the third, one Node thread.
 *
 * With a HopSetup (--mtls, --two-hop) each target is instead two proxies in
 * its one process, the second reached from the first in clear or over
 * mutual TLS (mesh-hop.ts).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpSchema } from '../../src/config/http-schema.js';
import { peerPid, spawnPeer, type PeerProcess } from '../../test/helpers/peers/process.js';
import { parentPid } from '../rtp/cpu.js';
import type { Listeners, Protocol } from './endpoints.js';
import { PeerServer, accepts, sleep, waitListening, waitPeerPid } from './processes.js';
import { adminJson, repoRoot, spawnStreammeshUp } from '../common/streammesh-up.js';
import {
  haproxyCertificates,
  haproxyTwoHopSections,
  streammeshTwoHopHttp,
  type Hop,
} from './mesh-hop.js';

/** The repository root (this file runs as dist/loadtests/http/proxies.js). */
export { repoRoot };

/** Where each protocol's backend listens. */
export type Backends = Readonly<Record<Protocol, number>>;

/** With --mtls or --two-hop: how the two proxies talk, and the ports of the hop listeners. */
export interface HopSetup {
  readonly hop: Exclude<Hop, 'none'>;
  readonly ports: Listeners;
}

export async function startHaproxy(
  dir: string,
  listeners: Listeners,
  backends: Backends,
  lifetimeMs: number,
  hop?: HopSetup,
  workers = 1,
): Promise<PeerServer> {
  const binary = '/usr/sbin/haproxy';
  if (!existsSync(binary))
    throw new Error(`${binary} is missing: run scripts/install-bench-peers.sh`);
  const config = [
    'global',
    `  nbthread ${workers}`,
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    '  http-reuse always',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 60s',
  ];
  const sections = [
    'frontend http1',
    `  bind 127.0.0.1:${listeners.http1}`,
    '  default_backend nginx_http1',
    'frontend http2',
    `  bind 127.0.0.1:${listeners.http2} proto h2`,
    '  default_backend nginx_http2',
    'frontend grpc',
    `  bind 127.0.0.1:${listeners.grpc} proto h2`,
    '  default_backend grpc',
    'backend nginx_http1',
    `  server nginx 127.0.0.1:${backends.http1}`,
    'backend nginx_http2',
    `  server nginx 127.0.0.1:${backends.http2} proto h2`,
    'backend grpc',
    `  server grpc 127.0.0.1:${backends.grpc} proto h2`,
  ];
  const twoHop =
    hop === undefined
      ? undefined
      : haproxyTwoHopSections(
          listeners,
          hop.ports,
          backends,
          hop.hop === 'mtls' ? haproxyCertificates(dir) : undefined,
        );
  const file = join(dir, `haproxy-${workers}.cfg`);
  await writeFile(file, [...config, ...(twoHop ?? sections), ''].join('\n'));
  // -db: foreground, one process (no master-worker), so its pid is the proxy.
  const peer = spawnPeer(binary, ['-db', '-f', file], {
    timeoutMs: lifetimeMs,
    stopSignal: 'SIGTERM',
    killAfterMs: 3_000,
  });
  try {
    const ports = [...Object.values(listeners), ...Object.values(hop?.ports ?? {})];
    await waitListening(
      ports,
      10_000,
      () => peer.running(),
      () => peer.stderr(),
    );
    return new PeerServer('haproxy', peer, await waitPeerPid(peer));
  } catch (error) {
    await peer.stop();
    throw error;
  }
}

/** The proxy.http section: one listener, route and cluster per protocol. */
export function streammeshHttpConfig(listeners: Listeners, backends: Backends): object {
  const protocols = Object.keys(listeners) as Protocol[];
  const http: Record<string, unknown> = {
    listeners: protocols.map((protocol) => ({
      name: protocol,
      listen: `127.0.0.1:${listeners[protocol]}`,
      protocol: 'auto',
    })),
    routes: protocols.map((protocol) => ({
      name: protocol,
      listener: protocol,
      match: { path: { prefix: '/' } },
      action: { cluster: protocol },
    })),
    clusters: protocols.map((protocol) => ({
      name: protocol,
      endpoints: [`127.0.0.1:${backends[protocol]}`],
      http2: protocol !== 'http1',
    })),
  };
  // HAProxy logs nothing here; the sampled access log (1% by default) would
  // be work only streammesh does. Only where the schema has the setting.
  if (Object.hasOwn(httpSchema.shape, 'accessLog')) {
    http['accessLog'] = { percent: 0, errors: true };
  }
  return http;
}

/** `streammesh up` with the HTTP proxy; the CPU measured is its rtp-proxy child's. */
export async function startStreammesh(
  dir: string,
  listeners: Listeners,
  backends: Backends,
  lifetimeMs: number,
  hop?: HopSetup,
  workers = 1,
): Promise<PeerServer> {
  const http =
    hop === undefined
      ? streammeshHttpConfig(listeners, backends)
      : {
          ...streammeshTwoHopHttp(listeners, hop.ports, backends, hop.hop),
          accessLog: { percent: 0, errors: true },
        };
  // JSON is YAML: the generated config needs no YAML writer.
  const config = {
    logLevel: 'warn',
    controlPlane: { admin: '127.0.0.1:0', grpc: '127.0.0.1:0' },
    signaling: { admin: '127.0.0.1:0' },
    proxy: { admin: '127.0.0.1:0', http },
  };
  const file = join(dir, `streammesh-${workers}.yaml`);
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);

  // proxy.workers is node-local and read at start: set by its variable.
  const up = spawnStreammeshUp(file, {
    timeoutMs: lifetimeMs,
    env: { STREAMMESH_PROXY_WORKERS: String(workers) },
  });
  try {
    const adminUrl = await waitProxyReady(up);
    const pid = await proxyPid(up, adminUrl);
    const ports = [...Object.values(listeners), ...Object.values(hop?.ports ?? {})];
    try {
      await waitListening(
        ports,
        10_000,
        () => up.running(),
        () => up.stderr().slice(-2_000),
      );
    } catch (error) {
      const closed = [];
      for (const port of ports) if (!(await accepts(port))) closed.push(port);
      throw new Error(
        `streammesh up is ready (proxy pid ${pid}) but its HTTP listeners ` +
          `(proxy.http.listeners) do not accept connections on 127.0.0.1:${closed.join(', ')}: ` +
          'the L7 proxy is not wired into `streammesh up` at this commit, or failed to bind ' +
          `(${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
      );
    }
    return new PeerServer('streammesh', up, pid, await threadMetrics(adminUrl));
  } catch (error) {
    await up.stop();
    throw error;
  }
}

/** bare-proxy.ts in a child process of its own: node:http and node:http2 with no proxy logic. */
export async function startBareNode(
  listeners: Listeners,
  backends: Backends,
  lifetimeMs: number,
): Promise<PeerServer> {
  const script = fileURLToPath(new URL('./bare-proxy.js', import.meta.url));
  const peer = spawnPeer(process.execPath, [script, JSON.stringify({ listeners, backends })], {
    timeoutMs: lifetimeMs,
    stopSignal: 'SIGTERM',
    killAfterMs: 3_000,
  });
  try {
    await waitListening(
      Object.values(listeners),
      10_000,
      () => peer.running(),
      () => peer.stderr(),
    );
    return new PeerServer('bare-node', peer, await waitPeerPid(peer));
  } catch (error) {
    await peer.stop();
    throw error;
  }
}

/** The proxy admin URL from `up`'s "proxy ready <url>" line, once /readyz says ready. */
async function waitProxyReady(up: PeerProcess): Promise<string> {
  const deadline = Date.now() + 30_000;
  let adminUrl: string | undefined;
  for (;;) {
    if (!up.running()) {
      throw new Error(
        `streammesh up exited:\n${up.stdout().slice(-2_000)}\n${up.stderr().slice(-2_000)}`,
      );
    }
    if (Date.now() > deadline) {
      throw new Error(`streammesh up: no ready proxy in 30 s:\n${up.stderr().slice(-2_000)}`);
    }
    adminUrl ??= /^proxy +ready +(http:\/\/\S+)$/m.exec(up.stdout())?.[1];
    if (adminUrl !== undefined && (await status(`${adminUrl}/readyz`)) === 200) return adminUrl;
    await sleep(100);
  }
}

/** The rtp-proxy's pid from its /healthz; it must be a child of `up`. */
async function proxyPid(up: PeerProcess, adminUrl: string): Promise<number> {
  const health = (await adminJson(`${adminUrl}/healthz`)) as { pid?: unknown } | undefined;
  const pid = health?.pid;
  if (typeof pid !== 'number') throw new Error(`${adminUrl}/healthz gave no pid`);
  const upPid = peerPid(up) ?? (await waitPeerPid(up));
  if (parentPid(pid) !== upPid) {
    throw new Error(`proxy /healthz pid ${pid} is not a child of streammesh up (${upPid})`);
  }
  return pid;
}

/** The proxy's metrics naming its L7 threads and workers: how many it runs. */
async function threadMetrics(adminUrl: string): Promise<string[]> {
  try {
    const response = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(2_000) });
    const text = await response.text();
    return text
      .split('\n')
      .filter((line) => /^streammesh_(l7_threads|l7_thread_up|proxy_worker_up)\b/.test(line))
      .slice(0, 20);
  } catch {
    return [];
  }
}

async function status(url: string): Promise<number | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined;
  }
}
