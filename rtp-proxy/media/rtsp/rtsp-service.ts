/**
 * The RTSP proxy of the rtp-proxy: the TCP listener, the configured paths
 * and the sessions. Each pushed config is applied live: a new listen address
 * is bound before the old one is closed (a bind failure rejects the config),
 * paths whose config changed are rebuilt, others keep running untouched.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseHostPort } from '../../../src/shared/address.js';
import {
  DEMO_PATH,
  type MeshConfig,
  type RtspConfig,
  type RtspPathConfig,
} from '../../../src/config/index.js';
import type { Logger } from '../../../src/shared/log.js';
import { PortAllocator } from '../../../src/media/udp/port-allocator.js';
import { CameraSource } from '../../../src/media/rtsp-client/camera-source.js';
import { RtspConnection, type ConnectionDefect } from './connection.js';
import type { RequestDefect, RtspContext } from './context.js';
import { DemoSource } from './demo-source.js';
import { routeInterleaved, routeRequest } from './request-router.js';
import { reply } from './responses.js';
import { SessionTable } from './session-table.js';
import { StreamPath, type PathSnapshot } from './stream-path.js';
import { Tally } from './tally.js';
import { ViewerAuth } from './viewer-auth.js';

/** How long DESCRIBE waits for an on-demand camera to answer. */
const DESCRIBE_TIMEOUT_MS = 10_000;
/** A message must be complete this long after its first byte. */
const HEADER_TIMEOUT_MS = 10_000;

export interface ViewerSnapshot {
  readonly session: string;
  readonly path: string;
  readonly mode: 'play' | 'record';
  readonly client: string;
  readonly transport: 'udp' | 'tcp' | 'mixed' | null;
  readonly playing: boolean;
  readonly packetsSent: number;
  readonly bytesSent: number;
  readonly packetsDropped: number;
  readonly bytesReceived: number;
  readonly ageMs: number;
}

export interface RtspSnapshot {
  readonly listen: string | null;
  readonly connections: number;
  readonly paths: readonly PathSnapshot[];
  readonly sessions: readonly ViewerSnapshot[];
  readonly defects: Partial<Record<ConnectionDefect | RequestDefect, number>>;
  readonly refusedConnections: number;
  readonly timedOutSessions: number;
}

interface Listener {
  readonly server: Server;
  /** proxy.rtsp.listen as configured. */
  readonly configured: string;
  /** The bound host:port. */
  readonly address: string;
}

export class RtspService {
  readonly requests = new Tally<string>();
  readonly #log: Logger;
  readonly #paths = new Map<string, { path: StreamPath; signature: string }>();
  readonly #connections = new Set<RtspConnection>();
  readonly #defects = new Tally<ConnectionDefect | RequestDefect>();
  readonly #nonceSecret = randomBytes(32);
  readonly #sessions: SessionTable;
  #listener: Listener | undefined;
  #config: RtspConfig | undefined;
  #auth = new ViewerAuth(undefined);
  #authSignature = '';
  #ports: PortAllocator | undefined;
  #portsSignature = '';
  #mediaHost = '127.0.0.1';
  #nextConnectionId = 1;
  #refused = 0;
  /** Rebuilt at each apply: the per-packet path (publisher frames) must not allocate it. */
  #ctx: RtspContext | undefined;

  constructor(log: Logger) {
    this.#log = log.child({ component: 'rtsp' });
    this.#sessions = new SessionTable(
      () => (this.#config?.sessionTimeoutSec ?? 60) * 1000,
      () => performance.now(),
    );
  }

  /** The bound listen address (host:port), or null when RTSP is off. */
  get address(): string | null {
    return this.#listener?.address ?? null;
  }

  get paths(): ReadonlyMap<string, { path: StreamPath }> {
    return this.#paths;
  }

  async apply(config: MeshConfig): Promise<void> {
    const rtsp = config.proxy.rtsp;
    if (!rtsp.enabled) {
      await this.#closeListener();
      await this.#setPaths(new Map());
      this.#config = rtsp;
      return;
    }
    const listener = await this.#listen(rtsp);
    this.#mediaHost = config.proxy.mediaAddress;
    const portsSignature = JSON.stringify([config.proxy.rtpPorts, config.proxy.mediaAddress]);
    if (this.#ports === undefined || portsSignature !== this.#portsSignature) {
      this.#ports = new PortAllocator(config.proxy.rtpPorts);
      this.#portsSignature = portsSignature;
    }
    const authSignature = JSON.stringify(rtsp.auth ?? null);
    if (authSignature !== this.#authSignature) {
      this.#auth = new ViewerAuth(rtsp.auth, { secret: this.#nonceSecret });
      this.#authSignature = authSignature;
    }
    this.#config = rtsp;
    if (listener.server.maxConnections !== rtsp.maxConnections) {
      listener.server.maxConnections = rtsp.maxConnections;
    }
    const wanted = new Map<string, RtspPathConfig | 'demo'>(Object.entries(rtsp.paths));
    if (rtsp.demo) wanted.set(DEMO_PATH, 'demo');
    await this.#setPaths(wanted);
    this.#ctx = this.#buildContext();
  }

  snapshot(): RtspSnapshot {
    const now = performance.now();
    return {
      listen: this.address,
      connections: this.#connections.size,
      paths: [...this.#paths.values()].map(({ path }) => path.snapshot()),
      sessions: [...this.#sessions.values()].map((s) => ({
        session: s.id,
        path: s.path.name,
        mode: s.mode,
        client: s.owner.remoteAddress,
        transport: s.transport,
        playing: s.playing,
        packetsSent: s.packetsSent,
        bytesSent: s.bytesSent,
        packetsDropped: s.packetsDropped,
        bytesReceived: s.bytesReceived,
        ageMs: Math.round(now - s.createdMs),
      })),
      defects: { ...this.#defects.counts },
      refusedConnections: this.#refused,
      timedOutSessions: this.#sessions.timedOut,
    };
  }

  async close(): Promise<void> {
    await this.#closeListener();
    this.#sessions.closeAll('proxy stopping');
    await this.#setPaths(new Map());
  }

  #context(): RtspContext {
    if (this.#ctx === undefined) throw new Error('RTSP request before the first config');
    return this.#ctx;
  }

  #buildContext(): RtspContext {
    const ports = this.#ports;
    if (ports === undefined) throw new Error('RTSP request before the first config');
    return {
      paths: new Map([...this.#paths].map(([name, entry]) => [name, entry.path])),
      sessions: this.#sessions,
      auth: this.#auth,
      ports,
      mediaHost: this.#mediaHost,
      sessionTimeoutSec: this.#config?.sessionTimeoutSec ?? 60,
      defects: this.#defects,
      log: this.#log,
      now: () => performance.now(),
    };
  }

  async #listen(rtsp: RtspConfig): Promise<Listener> {
    const current = this.#listener;
    // Same configured address (port 0 included): the bound listener serves on.
    if (current !== undefined && rtsp.listen === current.configured) return current;
    const next = await this.#bind(rtsp.listen);
    await this.#closeListener();
    this.#listener = next;
    this.#log.info({ listen: next.address }, 'rtsp listening');
    return next;
  }

  async #bind(address: string): Promise<Listener> {
    const parsed = parseHostPort(address);
    if (typeof parsed === 'string') throw new Error(`proxy.rtsp.listen: ${parsed}`);
    const server = createServer({ noDelay: true }, (socket) => {
      this.#accept(socket);
    });
    server.on('drop', () => {
      this.#refused += 1;
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        reject(new Error(`proxy.rtsp.listen ${address}: ${error.code ?? error.message}`));
      });
      server.listen({ host: parsed.host, port: parsed.port, exclusive: true }, () => {
        resolve();
      });
    });
    server.on('error', (error) => {
      this.#log.error({ err: error }, 'rtsp listener error');
    });
    const bound = server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : parsed.port;
    const host = parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host;
    return { server, configured: address, address: `${host}:${port}` };
  }

  #accept(socket: Socket): void {
    const connection = new RtspConnection(
      this.#nextConnectionId++,
      socket,
      {
        request: async (conn, request) => {
          let response;
          try {
            response = await routeRequest(this.#context(), conn, request);
          } catch (error) {
            this.#log.error({ err: error, method: request.method }, 'rtsp request failed');
            response = reply(request, 500);
          }
          this.requests.add(`${request.method} ${response.status}`);
          return response;
        },
        interleaved: (conn, channel, payload) =>
          routeInterleaved(this.#context(), conn, channel, payload),
        defect: (reason, detail) => {
          this.#defects.add(reason);
          this.#log.debug({ reason, detail }, 'rtsp bad input');
        },
        closed: (conn) => {
          this.#connections.delete(conn);
          this.#sessions.connectionClosed(conn.id);
        },
        hasSessions: (conn) => this.#sessions.ownedBy(conn.id).size > 0,
      },
      {
        headerMs: HEADER_TIMEOUT_MS,
        idleMs: (this.#config?.sessionTimeoutSec ?? 60) * 1000,
      },
    );
    this.#connections.add(connection);
  }

  async #closeListener(): Promise<void> {
    const listener = this.#listener;
    if (listener === undefined) return;
    this.#listener = undefined;
    for (const connection of [...this.#connections]) connection.close();
    await new Promise<void>((resolve) => listener.server.close(() => resolve()));
  }

  async #setPaths(wanted: ReadonlyMap<string, RtspPathConfig | 'demo'>): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [name, entry] of this.#paths) {
      const config = wanted.get(name);
      if (config !== undefined && JSON.stringify(config) === entry.signature) continue;
      this.#paths.delete(name);
      for (const session of [...this.#sessions.values()]) {
        if (session.path === entry.path) this.#sessions.remove(session, 'path changed');
      }
      closing.push(entry.path.close());
    }
    await Promise.all(closing);
    for (const [name, config] of wanted) {
      if (this.#paths.has(name)) continue;
      this.#paths.set(name, {
        path: this.#buildPath(name, config),
        signature: JSON.stringify(config),
      });
    }
  }

  #buildPath(name: string, config: RtspPathConfig | 'demo'): StreamPath {
    const common = {
      name,
      describeTimeoutMs: DESCRIBE_TIMEOUT_MS,
      log: this.#log,
      now: () => performance.now(),
    };
    if (config === 'demo') {
      return new StreamPath({
        ...common,
        kind: 'demo',
        alwaysOn: false,
        lingerMs: 10_000,
        createSource: () => new DemoSource(),
      });
    }
    if (config.source === 'publisher') {
      return new StreamPath({ ...common, kind: 'publisher', alwaysOn: false, lingerMs: 0 });
    }
    const url = config.source;
    return new StreamPath({
      ...common,
      kind: 'camera',
      alwaysOn: !config.onDemand,
      lingerMs: config.lingerMs,
      createSource: () => {
        const ports = this.#ports;
        if (ports === undefined) throw new Error('camera source before the first config');
        return new CameraSource({
          url,
          transport: config.transport,
          mediaHost: this.#mediaHost,
          ports,
          log: this.#log.child({ path: name }),
        });
      },
    });
  }
}
