/**
 * The processes viewers pull from: the camera (GStreamer's RTSP server,
 * test/helpers/peers/rtsp-camera.py) and `streammesh up` with one RTSP path
 * pulling that camera, always on. Both run under coreutils `timeout`
 * (spawnPeer), so they end by themselves even if the driver is killed.
 *
 *   direct     viewers -> camera                            (N camera sessions)
 *   proxy      viewers -> rtp-proxy, workers 1 -> camera    (N proxy sessions, 1 camera session)
 *   proxy-w2   viewers -> rtp-proxy, workers 2 -> camera    (the same, UDP viewers on the workers)
 *
 * A proxy's media worker count (proxy.workers) is node-local and read at
 * start: it is set by STREAMMESH_PROXY_WORKERS in `up`'s environment, and
 * checked against the workers its /metrics report.
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metric } from '../../test/helpers/exposition.js';
import { peerPid, spawnPeer, type PeerProcess } from '../../test/helpers/peers/process.js';
import { parentPid } from '../rtp/cpu.js';
import { adminJson, repoRoot, spawnStreammeshUp } from '../common/streammesh-up.js';

/** The repository root (this file runs as dist/loadtests/rtsp/targets.js). */
export { repoRoot };

export interface CameraOptions {
  readonly port: number;
  /** WxH; undefined: the script's default (320x240). */
  readonly size: string | undefined;
  /** x264 kbit/s; undefined: the script's default. */
  readonly bitrateKbps: number | undefined;
  /** videotestsrc pattern; undefined: the script's default (ball). */
  readonly pattern: string | undefined;
  readonly timeoutMs: number;
}

export class Camera {
  readonly url: string;
  readonly #peer: PeerProcess;
  readonly pid: number;

  private constructor(peer: PeerProcess, url: string, pid: number) {
    this.#peer = peer;
    this.url = url;
    this.pid = pid;
  }

  static async start(options: CameraOptions): Promise<Camera> {
    if (!existsSync('/usr/bin/python3')) {
      throw new Error('/usr/bin/python3 is missing: run scripts/install-test-peers.sh');
    }
    const script = join(repoRoot, 'test', 'helpers', 'peers', 'rtsp-camera.py');
    const args = [script, String(options.port), 'cam'];
    if (options.size !== undefined) args.push('--size', options.size);
    if (options.bitrateKbps !== undefined) args.push('--bitrate', String(options.bitrateKbps));
    if (options.pattern !== undefined) args.push('--pattern', options.pattern);
    const peer = spawnPeer('/usr/bin/python3', args, {
      timeoutMs: options.timeoutMs,
      stopSignal: 'SIGINT',
    });
    const deadline = Date.now() + 15_000;
    while (!peer.stdout().includes('ready')) {
      if (!peer.running() || Date.now() > deadline) {
        await peer.stop();
        throw new Error(`the RTSP camera did not start:\n${peer.stderr()}`);
      }
      await sleep(50);
    }
    const pid = peerPid(peer);
    if (pid === undefined) throw new Error('the RTSP camera has no pid');
    return new Camera(peer, `rtsp://127.0.0.1:${options.port}/cam`, pid);
  }

  /** RTSP sessions the camera has created since it started ("session N" lines). */
  sessions(): number {
    return this.#peer.stdout().match(/^session \d+$/gm)?.length ?? 0;
  }

  async stop(): Promise<void> {
    await this.#peer.stop();
  }
}

export interface ProxyOptions {
  readonly cameraUrl: string;
  /** proxy.workers: media worker threads (1: every RTSP viewer on the main thread). */
  readonly workers: number;
  readonly rtpPorts: { readonly start: number; readonly end: number };
  readonly maxConnections: number;
  readonly timeoutMs: number;
}

/** The parts of the proxy's GET /streams this benchmark reads. */
export interface RtspStreams {
  readonly listen: string | null;
  readonly connections: number;
  readonly paths: readonly {
    readonly name: string;
    readonly upstream: { readonly state: string; readonly transport: string | null };
    readonly viewers: number;
    readonly packetsIn: number;
    readonly bytesIn: number;
    readonly drops: Record<string, number>;
    readonly tracks: readonly { readonly quality: Record<string, unknown> | null }[];
  }[];
  readonly sessions: readonly {
    readonly transport: string | null;
    readonly playing: boolean;
    readonly packetsSent: number;
    readonly packetsDropped: number;
  }[];
  readonly defects: Record<string, number>;
  readonly refusedConnections: number;
  readonly timedOutSessions: number;
}

/** Config directories of proxies still running (removed on stop, or by removeTempDirs). */
const tempDirs = new Set<string>();

/** Removes what running proxies left in the temp directory (for an interrupted run). */
export function removeTempDirs(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export class Proxy {
  readonly url: string;
  readonly adminUrl: string;
  readonly pid: number;
  /** proxy.workers as set; checked against the workers /metrics report at start. */
  readonly workers: number;
  readonly rtpPorts: { readonly start: number; readonly end: number };
  readonly #up: PeerProcess;
  readonly #dir: string;

  private constructor(
    up: PeerProcess,
    dir: string,
    options: ProxyOptions,
    adminUrl: string,
    url: string,
    pid: number,
  ) {
    this.#up = up;
    this.#dir = dir;
    this.workers = options.workers;
    this.rtpPorts = options.rtpPorts;
    this.adminUrl = adminUrl;
    this.url = url;
    this.pid = pid;
  }

  static async start(options: ProxyOptions): Promise<Proxy> {
    const config = [
      'logLevel: warn',
      'controlPlane: { admin: 127.0.0.1:0, grpc: 127.0.0.1:0 }',
      'signaling: { admin: 127.0.0.1:0 }',
      'proxy:',
      '  admin: 127.0.0.1:0',
      `  rtpPorts: { start: ${options.rtpPorts.start}, end: ${options.rtpPorts.end} }`,
      '  rtsp:',
      '    listen: 127.0.0.1:0',
      '    demo: false',
      `    maxConnections: ${options.maxConnections}`,
      // Every viewer is on 127.0.0.1: the per-source limits must not be what the bench measures.
      `    maxConnectionsPerSource: ${options.maxConnections}`,
      `    maxSessionsPerSource: ${options.maxConnections}`,
      `    requestsPerSecondPerSource: ${Math.max(100, options.maxConnections * 4)}`,
      `    requestBurstPerSource: ${Math.max(400, options.maxConnections * 8)}`,
      '    paths:',
      `      cam: { source: "${options.cameraUrl}", onDemand: false }`,
      '',
    ].join('\n');
    const dir = await mkdtemp(join(tmpdir(), 'streammesh-bench-rtsp-'));
    tempDirs.add(dir);
    const file = join(dir, 'bench.yaml');
    await writeFile(file, config);

    // proxy.workers is node-local and read at start: set by its variable.
    const up = spawnStreammeshUp(file, {
      timeoutMs: options.timeoutMs,
      env: { STREAMMESH_PROXY_WORKERS: String(options.workers) },
    });
    try {
      const deadline = Date.now() + 30_000;
      let adminUrl: string | undefined;
      for (;;) {
        if (!up.running()) throw new Error(`streammesh up exited:\n${up.stdout()}\n${up.stderr()}`);
        if (Date.now() > deadline) {
          throw new Error(`the proxy's RTSP path did not come up in 30 s:\n${up.stderr()}`);
        }
        adminUrl ??= /^proxy +ready +(http:\/\/\S+)$/m.exec(up.stdout())?.[1];
        if (adminUrl !== undefined) {
          const streams = await rtspStreams(adminUrl);
          const health = (await adminJson(`${adminUrl}/healthz`)) as { pid?: number } | undefined;
          const pid = health?.pid;
          const path = streams?.paths.find((p) => p.name === 'cam');
          if (streams?.listen && pid !== undefined && path?.upstream.state === 'up') {
            // The proxy is a child of `up` (which runs under its `timeout` wrapper).
            const upPid = peerPid(up);
            if (upPid !== undefined && parentPid(pid) !== upPid) {
              throw new Error(
                `proxy /healthz pid ${pid} is not a child of streammesh up (${upPid})`,
              );
            }
            const proxy = new Proxy(
              up,
              dir,
              options,
              adminUrl,
              `rtsp://${streams.listen}/cam`,
              pid,
            );
            const running = await proxy.workersRunning();
            if (running !== options.workers) {
              throw new Error(
                `the proxy runs ${running ?? 'an unknown number of'} media workers ` +
                  `(streammesh_proxy_worker_up), not the ${options.workers} of STREAMMESH_PROXY_WORKERS`,
              );
            }
            return proxy;
          }
        }
        await sleep(200);
      }
    } catch (error) {
      await up.stop();
      await rm(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
      throw error;
    }
  }

  streams(): Promise<RtspStreams | undefined> {
    return rtspStreams(this.adminUrl);
  }

  /** Its admin /metrics (Prometheus text), or undefined when it does not answer. */
  async metrics(): Promise<string | undefined> {
    try {
      const response = await fetch(`${this.adminUrl}/metrics`, {
        signal: AbortSignal.timeout(5_000),
      });
      return response.ok ? await response.text() : undefined;
    } catch {
      return undefined;
    }
  }

  /** Media workers the proxy reports (one streammesh_proxy_worker_up series each). */
  async workersRunning(): Promise<number | undefined> {
    const text = await this.metrics();
    return text?.split('\n').filter((line) => line.startsWith('streammesh_proxy_worker_up{'))
      .length;
  }

  /**
   * RTSP UDP viewer tracks each media worker carries, by worker index, as
   * the workers count them (streammesh_proxy_worker_rtsp_viewer_tracks{worker}).
   * A worker that does not answer the scrape in time (busy) has no series:
   * asked again, three times at most.
   */
  async workerViewerTracks(): Promise<number[]> {
    let missing = 'no answer to GET /metrics';
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if (attempt > 0) await sleep(500);
      const text = await this.metrics();
      if (text === undefined) continue;
      const tracks = Array.from({ length: this.workers }, (_, worker) =>
        metric(text, 'streammesh_proxy_worker_rtsp_viewer_tracks', { worker: String(worker) }),
      );
      const absent = tracks.findIndex((value) => value === undefined || !Number.isFinite(value));
      if (absent === -1) return tracks as number[];
      missing = `no streammesh_proxy_worker_rtsp_viewer_tracks{worker="${absent}"} in /metrics`;
    }
    throw new Error(`${this.url}: where its UDP viewers are is unknown (${missing})`);
  }

  running(): boolean {
    return this.#up.running();
  }

  stderr(): string {
    return this.#up.stderr();
  }

  async stop(): Promise<void> {
    await this.#up.stop();
    await rm(this.#dir, { recursive: true, force: true });
    tempDirs.delete(this.#dir);
  }
}

async function rtspStreams(adminUrl: string): Promise<RtspStreams | undefined> {
  const body = (await adminJson(`${adminUrl}/streams`)) as { rtsp?: RtspStreams } | undefined;
  return body?.rtsp;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
