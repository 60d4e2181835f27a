/**
 * What the load goes through. Every target takes the same N flows (fixed
 * source ports, one receiver port per stream) and gives back the ingress
 * port per stream and the pid whose CPU is the relay's.
 *
 *   direct           generator -> receiver
 *   minimal          generator -> minimal-relay.ts (node:dgram, no stream logic) -> receiver
 *   mmsg             generator -> mmsg-relay.c (recvmmsg/sendmmsg batches: the one-core ceiling) -> receiver
 *   rtpengine        generator -> rtpengine (userspace) -> receiver; one call per stream
 *   streammesh       generator -> `streammesh up` rtp-proxy -> receiver; one route per stream
 *   *-srtp           the same relay bridging RTP in to SRTP out (AES_CM_128_HMAC_SHA1_80)
 *
 * streammesh runs as one `up` per variant of its node-local data-plane
 * settings (proxy.udpIo, proxy.srtpEngine, proxy.workers: read at start,
 * set here by their STREAMMESH_PROXY_* variables): see STREAMMESH_VARIANTS.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerPid, spawnPeer, type PeerProcess } from '../../test/helpers/peers/process.js';
import {
  setupOneWayRelay,
  startRtpengine,
  type OneWayRelay,
  type Rtpengine,
} from '../../test/helpers/peers/rtpengine.js';
import { randomSrtpKey, SRTP_SUITE } from '../../test/helpers/peers/srtp-key.js';
import { buildC } from './c-build.js';
import { forkChild, type Child } from './children.js';
import { parentPid } from './cpu.js';
import { repoRoot, spawnStreammeshUp } from '../common/streammesh-up.js';

/** The repository root (this file runs as dist/loadtests/rtp/targets.js). */
export { repoRoot };

export interface Flow {
  readonly src: number;
  readonly receiver: number;
  readonly ssrc: number;
}

/**
 * The streammesh targets: each is one `up` with these data-plane settings,
 * serving one leg. Everything not named here is the same in all of them.
 */
export const STREAMMESH_VARIANTS = {
  streammesh: { leg: 'plain', udpIo: 'native', srtpEngine: 'libsrtp', workers: 1 },
  'streammesh-dgram': { leg: 'plain', udpIo: 'dgram', srtpEngine: 'libsrtp', workers: 1 },
  'streammesh-w2': { leg: 'plain', udpIo: 'native', srtpEngine: 'libsrtp', workers: 2 },
  'streammesh-srtp': { leg: 'srtp', udpIo: 'native', srtpEngine: 'libsrtp', workers: 1 },
  'streammesh-srtp-node': { leg: 'srtp', udpIo: 'native', srtpEngine: 'node', workers: 1 },
} as const satisfies Record<string, StreammeshVariant>;
export type StreammeshTargetName = keyof typeof STREAMMESH_VARIANTS;

export interface StreammeshVariant {
  readonly leg: 'plain' | 'srtp';
  readonly udpIo: 'auto' | 'native' | 'dgram';
  readonly srtpEngine: 'auto' | 'libsrtp' | 'node';
  readonly workers: number;
}

export interface Target {
  readonly name: string;
  readonly relay: 'direct' | 'minimal' | 'mmsg' | 'rtpengine' | 'streammesh';
  readonly leg: 'plain' | 'srtp';
  /** Bytes each packet gains on the way (the SRTP tag). */
  readonly growth: number;
  /** Sets the flows up; resolves with the ingress port per flow. */
  open(): Promise<number[]>;
  close(): Promise<void>;
  /** The process doing the relaying (CPU accounting); undefined for direct. */
  relayPid(): number | undefined;
}

export function directTarget(flows: readonly Flow[]): Target {
  return {
    name: 'direct',
    relay: 'direct',
    leg: 'plain',
    growth: 0,
    open: () => Promise.resolve(flows.map((flow) => flow.receiver)),
    close: () => Promise.resolve(),
    relayPid: () => undefined,
  };
}

/** The ~30-line node:dgram relay, one process for all flows. */
export class MinimalRelay {
  readonly #child: Child;
  readonly ingress: number[];

  private constructor(child: Child, ingress: number[]) {
    this.#child = child;
    this.ingress = ingress;
  }

  static async start(flows: readonly Flow[], ingress: readonly number[]): Promise<MinimalRelay> {
    const pairs = flows.map((flow, i) => [ingress[i], flow.receiver]);
    return new MinimalRelay(await forkChild('./minimal-relay.js', pairs), [...ingress]);
  }

  target(): Target {
    return {
      name: 'minimal',
      relay: 'minimal',
      leg: 'plain',
      growth: 0,
      open: () => Promise.resolve(this.ingress),
      close: () => Promise.resolve(),
      relayPid: () => this.#child.pid,
    };
  }

  stop(): Promise<void> {
    return this.#child.stop();
  }
}

/**
 * The C relay (mmsg-relay.c), built with the system's gcc next to this
 * file's compiled copy when missing or older than its source.
 */
export class MmsgRelay {
  readonly #peer: PeerProcess;
  readonly ingress: number[];

  private constructor(peer: PeerProcess, ingress: number[]) {
    this.#peer = peer;
    this.ingress = ingress;
  }

  static async start(
    flows: readonly Flow[],
    ingress: readonly number[],
    timeoutMs: number,
  ): Promise<MmsgRelay> {
    const binary = buildC('mmsg-relay');
    const pairs = flows.map((flow, i) => `${String(ingress[i])}:${String(flow.receiver)}`);
    const peer = spawnPeer(binary, [pairs.join(',')], { timeoutMs, stopSignal: 'SIGTERM' });
    await peer.waitForStderr(/^ready$/m, 10_000);
    return new MmsgRelay(peer, [...ingress]);
  }

  target(): Target {
    return {
      name: 'mmsg',
      relay: 'mmsg',
      leg: 'plain',
      growth: 0,
      open: () => Promise.resolve(this.ingress),
      close: () => Promise.resolve(),
      relayPid: () => peerPid(this.#peer),
    };
  }

  async stop(): Promise<void> {
    await this.#peer.stop('SIGTERM');
  }
}

/** rtpengine with one call per flow, set up on open and deleted on close. */
export class RtpengineRelay {
  readonly engine: Rtpengine;

  private constructor(engine: Rtpengine) {
    this.engine = engine;
  }

  static async start(portMin: number, timeoutMs: number): Promise<RtpengineRelay> {
    const engine = await startRtpengine({ portMin, portMax: portMin + 399, timeoutMs });
    return new RtpengineRelay(engine);
  }

  target(flows: readonly Flow[], leg: 'plain' | 'srtp'): Target {
    let calls: OneWayRelay[] = [];
    return {
      name: leg === 'plain' ? 'rtpengine' : 'rtpengine-srtp',
      relay: 'rtpengine',
      leg,
      growth: leg === 'plain' ? 0 : 10,
      open: async () => {
        calls = [];
        for (const flow of flows) {
          calls.push(
            await setupOneWayRelay(this.engine.client, {
              fromPort: flow.src,
              toPort: flow.receiver,
              ...(leg === 'srtp' ? { srtp: { suite: SRTP_SUITE } } : {}),
            }),
          );
        }
        return calls.map((call) => call.ingressPort);
      },
      close: async () => {
        for (const call of calls) await this.engine.client.delete({ 'call-id': call.callId });
        calls = [];
      },
      relayPid: () => this.engine.pid,
    };
  }

  async stop(): Promise<void> {
    await this.engine.stop();
  }
}

/**
 * `node bin/streammesh.js up --config FILE` with one route per flow, plain or
 * with SRTP egress, and the variant's data-plane settings in its environment.
 */
export class StreammeshRelay {
  readonly #up: PeerProcess;
  readonly #adminUrl: string;
  readonly name: StreammeshTargetName;
  readonly variant: StreammeshVariant;
  readonly ingress: number[];
  #proxyPid: number | undefined;
  /** The proxy's /healthz body and data-plane metrics once ready (what it says it runs with). */
  health: unknown;

  private constructor(
    up: PeerProcess,
    adminUrl: string,
    name: StreammeshTargetName,
    ingress: number[],
  ) {
    this.#up = up;
    this.#adminUrl = adminUrl;
    this.name = name;
    this.variant = STREAMMESH_VARIANTS[name];
    this.ingress = ingress;
  }

  static async start(options: {
    name: StreammeshTargetName;
    flows: readonly Flow[];
    ingress: readonly number[];
    adminPort: number;
    rtpPorts: { start: number; end: number };
    timeoutMs: number;
  }): Promise<StreammeshRelay> {
    const variant: StreammeshVariant = STREAMMESH_VARIANTS[options.name];
    const key = randomSrtpKey();
    const routes = options.flows.flatMap((flow, i) => [
      `    - name: bench-${variant.leg}-${i}`,
      `      listen: 127.0.0.1:${options.ingress[i] ?? 0}`,
      '      kind: video',
      '      clockRate: 90000',
      '      destinations:',
      `        - address: 127.0.0.1:${flow.receiver}`,
      ...(variant.leg === 'srtp'
        ? [`          srtp: { profile: ${SRTP_SUITE}, key: "${key}" }`]
        : []),
    ]);
    const config = [
      'logLevel: warn',
      'controlPlane: { admin: 127.0.0.1:0, grpc: 127.0.0.1:0 }',
      'signaling: { admin: 127.0.0.1:0 }',
      'proxy:',
      `  admin: 127.0.0.1:${options.adminPort}`,
      `  rtpPorts: { start: ${options.rtpPorts.start}, end: ${options.rtpPorts.end} }`,
      '  routes:',
      ...routes,
      '',
    ].join('\n');
    const file = join(await mkdtemp(join(tmpdir(), 'streammesh-bench-')), 'bench.yaml');
    await writeFile(file, config);

    const up = spawnStreammeshUp(file, {
      timeoutMs: options.timeoutMs,
      env: {
        STREAMMESH_PROXY_ADMIN: `127.0.0.1:${options.adminPort}`,
        STREAMMESH_PROXY_UDP_IO: variant.udpIo,
        STREAMMESH_PROXY_SRTP_ENGINE: variant.srtpEngine,
        STREAMMESH_PROXY_WORKERS: String(variant.workers),
      },
    });
    const relay = new StreammeshRelay(up, `http://127.0.0.1:${options.adminPort}`, options.name, [
      ...options.ingress,
    ]);
    try {
      await relay.#waitReady(options.flows.length, 60_000);
    } catch (error) {
      await up.stop();
      throw error;
    }
    return relay;
  }

  async #waitReady(routeCount: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.#up.running()) {
        throw new Error(`streammesh up exited:\n${this.#up.stdout()}\n${this.#up.stderr()}`);
      }
      const ready = await getJson(`${this.#adminUrl}/readyz`);
      const streams =
        ready?.status === 200 ? await getJson(`${this.#adminUrl}/streams`) : undefined;
      const routes = (streams?.body as { routes?: { name: string }[] } | undefined)?.routes ?? [];
      const health = await getJson(`${this.#adminUrl}/healthz`);
      const pid = (health?.body as { pid?: number } | undefined)?.pid;
      if (routes.filter((r) => r.name.startsWith('bench-')).length === routeCount && pid) {
        // The proxy is a child of `up` (which runs under its `timeout` wrapper).
        const upPid = peerPid(this.#up);
        if (upPid !== undefined && parentPid(pid) !== upPid) {
          throw new Error(`proxy /healthz pid ${pid} is not a child of streammesh up (${upPid})`);
        }
        this.#proxyPid = pid;
        this.health = { healthz: health?.body, metrics: await dataPlaneMetrics(this.#adminUrl) };
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `streammesh proxy not ready with ${routeCount} routes in ${timeoutMs} ms:\n${this.#up.stderr()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  target(): Target {
    const leg = this.variant.leg;
    return {
      name: this.name,
      relay: 'streammesh',
      leg,
      growth: leg === 'plain' ? 0 : 10,
      open: () => Promise.resolve(this.ingress),
      close: () => Promise.resolve(),
      relayPid: () => this.#proxyPid,
    };
  }

  /** The data-plane metrics now (per-worker packet counts show how the routes were sharded). */
  dataPlane(): Promise<string[]> {
    return dataPlaneMetrics(this.#adminUrl);
  }

  async streams(): Promise<unknown> {
    return (await getJson(`${this.#adminUrl}/streams`))?.body;
  }

  async stop(): Promise<void> {
    await this.#up.stop();
  }
}

/**
 * The proxy's own word on what it runs: the /metrics lines that name the UDP
 * I/O path, the SRTP engine, the packets libsrtp handed to node:crypto, or
 * the workers (whatever this build exports).
 */
async function dataPlaneMetrics(adminUrl: string): Promise<string[]> {
  try {
    const response = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(2_000) });
    const text = await response.text();
    return text
      .split('\n')
      .filter(
        (line) => !line.startsWith('#') && /udp_io|srtp_engine|srtp_node_crypto|worker/.test(line),
      )
      .slice(0, 40);
  } catch {
    return [];
  }
}

async function getJson(url: string): Promise<{ status: number; body: unknown } | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return { status: response.status, body: await response.json() };
  } catch {
    return undefined;
  }
}
