/**
 * The RTSP proxy of the rtp-proxy: the TCP listener, the configured paths
 * and the sessions. Each pushed config is applied live, as one participant
 * of the node's config transaction (src/node-agent/config-transaction.ts):
 * prepare() binds a new listen address (a bind failure refuses the config)
 * and checks what can be checked (camera URLs, viewer credentials) without
 * changing anything in force; commit() closes the old listener, rebuilds the
 * paths whose config changed (others keep running untouched) and puts the
 * new auth in force; abort() releases the listener prepare bound.
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
import { errorMessage } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/log.js';
import { PortAllocator } from '../../../src/media/udp/index.js';
import { CameraSource, parseCameraUrl } from '../../../src/media/rtsp-client/index.js';
import type { ConfigParticipant, PreparedChange } from '../../../src/node-agent/index.js';
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
  /** live is false while only prepared: a connection to a listener not yet in force is refused. */
  readonly gate: { live: boolean };
}

/** What a candidate config needs, made ready by prepare() and put in force by commit(). */
interface RtspPlan {
  readonly rtsp: RtspConfig;
  /** The listener in force after commit (undefined when RTSP is off). */
  readonly listener: Listener | undefined;
  readonly mediaHost: string;
  readonly ports: { readonly allocator: PortAllocator; readonly signature: string };
  readonly auth: { readonly auth: ViewerAuth; readonly signature: string };
  readonly paths: ReadonlyMap<string, RtspPathConfig | 'demo'>;
}

export class RtspService implements ConfigParticipant {
  readonly name = 'rtsp';
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
  /** Rebuilt at each commit: the per-packet path (publisher frames) must not allocate it. */
  #ctx: RtspContext | undefined;
  /** Old listeners and paths still closing after a commit; close() waits for them. */
  readonly #closing = new Set<Promise<void>>();
  /** A prepared change not yet committed or aborted: the next prepare must wait for it. */
  #pending = false;

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

  /** Prepares and commits at once, for callers outside a node's transaction (tests, tools). */
  async apply(config: MeshConfig): Promise<void> {
    (await this.prepare(config)).commit();
  }

  async prepare(candidate: MeshConfig): Promise<PreparedChange> {
    if (this.#pending) throw new Error('rtsp: a prepared config is neither committed nor aborted');
    const plan = this.#plan(candidate);
    const current = this.#listener;
    // Same configured address (port 0 included): the bound listener serves on.
    const keepsListener =
      current !== undefined && plan.rtsp.enabled && plan.rtsp.listen === current.configured;
    const listener = !plan.rtsp.enabled
      ? undefined
      : keepsListener
        ? current
        : await this.#bind(plan.rtsp.listen);
    const bound = listener === current ? undefined : listener;
    this.#pending = true;
    return {
      commit: () => {
        this.#pending = false;
        this.#commit({ ...plan, listener });
      },
      abort: async () => {
        this.#pending = false;
        if (bound !== undefined) await closeServer(bound.server);
      },
    };
  }

  /** Everything of the candidate that binds nothing; throws on what cannot be put in force. */
  #plan(candidate: MeshConfig): Omit<RtspPlan, 'listener'> {
    const rtsp = candidate.proxy.rtsp;
    const mediaHost = candidate.proxy.mediaAddress;
    const portsSignature = JSON.stringify([candidate.proxy.rtpPorts, mediaHost]);
    const ports =
      this.#ports !== undefined && portsSignature === this.#portsSignature
        ? { allocator: this.#ports, signature: portsSignature }
        : { allocator: new PortAllocator(candidate.proxy.rtpPorts), signature: portsSignature };
    const authSignature = JSON.stringify(rtsp.auth ?? null);
    const auth =
      authSignature === this.#authSignature
        ? { auth: this.#auth, signature: authSignature }
        : {
            auth: new ViewerAuth(rtsp.auth, { secret: this.#nonceSecret }),
            signature: authSignature,
          };
    const paths = new Map<string, RtspPathConfig | 'demo'>();
    if (rtsp.enabled) {
      for (const [name, config] of Object.entries(rtsp.paths)) {
        if (config.source !== 'publisher') {
          // A camera source parses its URL when the path starts, in commit, which must not fail.
          try {
            parseCameraUrl(config.source);
          } catch (error) {
            throw new Error(`proxy.rtsp.paths.${name}.source: ${errorMessage(error)}`);
          }
        }
        paths.set(name, config);
      }
      if (rtsp.demo) paths.set(DEMO_PATH, 'demo');
    }
    return { rtsp, mediaHost, ports, auth, paths };
  }

  #commit(plan: RtspPlan): void {
    const old = this.#listener;
    if (plan.listener !== old) {
      if (old !== undefined) this.#retire(old);
      this.#listener = plan.listener;
      if (plan.listener !== undefined) {
        plan.listener.gate.live = true;
        this.#log.info({ listen: plan.listener.address }, 'rtsp listening');
      }
    }
    this.#config = plan.rtsp;
    if (plan.listener === undefined) {
      this.#setPaths(new Map());
      return;
    }
    this.#mediaHost = plan.mediaHost;
    this.#ports = plan.ports.allocator;
    this.#portsSignature = plan.ports.signature;
    this.#auth = plan.auth.auth;
    this.#authSignature = plan.auth.signature;
    if (plan.listener.server.maxConnections !== plan.rtsp.maxConnections) {
      plan.listener.server.maxConnections = plan.rtsp.maxConnections;
    }
    this.#setPaths(plan.paths);
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
    const listener = this.#listener;
    if (listener !== undefined) this.#retire(listener);
    this.#listener = undefined;
    this.#sessions.closeAll('proxy stopping');
    this.#setPaths(new Map());
    await Promise.all([...this.#closing]);
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

  async #bind(address: string): Promise<Listener> {
    const parsed = parseHostPort(address);
    if (typeof parsed === 'string') throw new Error(`proxy.rtsp.listen: ${parsed}`);
    const gate = { live: false };
    const server = createServer({ noDelay: true }, (socket) => {
      if (gate.live) {
        this.#accept(socket);
      } else {
        socket.destroy();
        this.#refused += 1;
      }
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
    return { server, configured: address, address: `${host}:${port}`, gate };
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

  /** Stops the listener and its connections; the server finishes closing in the background. */
  #retire(listener: Listener): void {
    listener.gate.live = false;
    for (const connection of [...this.#connections]) connection.close();
    this.#track(closeServer(listener.server));
  }

  #track(closing: Promise<void>): void {
    const tracked = closing
      .catch((error: unknown) => {
        this.#log.error({ err: error }, 'rtsp: closing an old listener or path failed');
      })
      .finally(() => this.#closing.delete(tracked));
    this.#closing.add(tracked);
  }

  /** Synchronous, for commit: old paths close in the background. */
  #setPaths(wanted: ReadonlyMap<string, RtspPathConfig | 'demo'>): void {
    for (const [name, entry] of this.#paths) {
      const config = wanted.get(name);
      if (config !== undefined && JSON.stringify(config) === entry.signature) continue;
      this.#paths.delete(name);
      for (const session of [...this.#sessions.values()]) {
        if (session.path === entry.path) this.#sessions.remove(session, 'path changed');
      }
      this.#track(entry.path.close());
    }
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

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
