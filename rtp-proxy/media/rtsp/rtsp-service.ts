/**
 * The RTSP proxy of the rtp-proxy: the TCP listener, the configured paths
 * and the sessions. Each pushed config is applied live, as one participant
 * of the node's config transaction (src/node-agent/config-transaction.ts):
 * prepare() binds a new listen address (a bind failure refuses the config),
 * builds the sources of new and changed camera paths (a bad camera URL
 * refuses it) and the viewer auth, without changing anything in force and
 * without starting anything; commit() closes the old listener, makes the new
 * paths from what prepare built and starts the always-on ones (others keep
 * running untouched) and puts the new auth in force; abort() releases the
 * listener prepare bound. A refusal names the resource at fault
 * (RTSP_SETTINGS for the listener, RTSP_PATH for a path).
 *
 * The listener keeps a ConnectionBudget (issue 14, "no lock-out by idle
 * sockets"): connections in total (proxy.rtsp.maxConnections) and per source
 * address (maxConnectionsPerSource), and a head timeout (headTimeoutMs) by
 * which a new connection must have sent its first complete request head, so
 * that silent sockets cannot hold every slot for sessionTimeoutSec. Refusals
 * and timeouts are counted in streammesh_listener_refused_connections_total
 * {listener="rtsp",reason} once countConnectionsIn() has given a registry.
 *
 * Limits per source and per node (issue 17, point 7): requests per source
 * address (proxy.rtsp.requestsPerSecondPerSource and requestBurstPerSource,
 * over all its connections) are checked before a request is dispatched, and
 * one over the rate is answered 503 with Retry-After (RFC 7826 §13.5.4), its
 * connection kept, counted in streammesh_rate_limited_requests_total
 * {listener="rtsp"}; sessions per source (maxSessionsPerSource) are checked
 * at SETUP (setup-track.ts), streams per node (proxy.maxStreams) where a
 * path starts its source (stream-path.ts, StreamSlots).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { parseHostPort } from '../../../src/shared/address.js';
import {
  DEMO_PATH,
  RTSP_SETTINGS_NAME,
  type MeshConfig,
  type RefusedResource,
  type ResourceRefusal,
  type ResourceType,
  type RtspConfig,
  type RtspPathConfig,
} from '../../../src/config/index.js';
import {
  ConnectionBudget,
  defaultConnectionBudget,
  type ConnectionBudgetLimits,
  type HeadDeadline,
} from '../../../src/shared/connection-budget.js';
import { StreammeshError, errorMessage } from '../../../src/shared/errors.js';
import type { RevokedSerials } from '../../../src/shared/identity/index.js';
import { SourceRateLimiter, type RateLimit } from '../../../src/shared/rate-limit/index.js';
import type { Logger } from '../../../src/shared/log.js';
import { PortAllocator } from '../../../src/media/udp/index.js';
import { CameraSource, type CameraSourceOptions } from '../../../src/media/rtsp-client/index.js';
import type { MediaSource } from '../../../src/media/source/index.js';
// Straight from the modules, not the node-agent index: the index pulls in
// grpc-js (the control channel), which a worker thread would load for nothing.
import type { ConfigParticipant, PreparedChange } from '../../../src/node-agent/transaction.js';
import { PrepareGate, type StagedChange } from '../../../src/node-agent/transaction.js';
import { RtspConnection, type ConnectionDefect } from './connection.js';
import type { RequestDefect, RtspContext } from './context.js';
import { DemoSource } from './demo-source.js';
import { routeInterleaved, routeRequest } from './request-router.js';
import { reasonHeader, reply } from './responses.js';
import { SessionTable } from './session-table.js';
import { StreamPath, type PathOptions, type PathSnapshot } from './stream-path.js';
import { StreamSlots } from './stream-slots.js';
import { Tally } from './tally.js';
import { ViewerAuth } from './viewer-auth.js';
import type { RtspSession } from './rtsp-session.js';
import { UdpTrackTransport } from './track-transport.js';
import {
  ViewerSpread,
  WorkerUdpTrackTransport,
  type SpreadStats,
  type ViewerThreads,
} from './viewer-spread.js';
import { EdgeTokenGate } from '../../../src/shared/edge-token/index.js';

/** The candidate's RTSP listen address cannot be bound: NACKs RTSP_SETTINGS, which holds it. */
export class RtspListenError extends StreammeshError implements ResourceRefusal {
  readonly resources: readonly RefusedResource[] = [
    { type: 'RTSP_SETTINGS', name: RTSP_SETTINGS_NAME },
  ];
  constructor(message: string) {
    super('ERR_RTSP_LISTEN', message);
  }
}

/** A path of the candidate cannot be built (its camera URL is bad): NACKs that RTSP_PATH. */
export class RtspPathError extends StreammeshError implements ResourceRefusal {
  readonly resources: readonly RefusedResource[];
  constructor(path: string, cause: unknown) {
    super('ERR_RTSP_PATH', `proxy.rtsp.paths.${path}.source: ${errorMessage(cause)}`, { cause });
    this.resources = [{ type: 'RTSP_PATH', name: path }];
  }
}

/** prepare() on a service that is closed (the proxy is stopping): it takes no config any more. */
export class RtspClosedError extends StreammeshError {
  constructor() {
    super('ERR_RTSP_CLOSED', 'rtsp: closed, it takes no config');
  }
}

export interface RtspServiceOptions {
  /**
   * Builds a camera path's source; a CameraSource unless given another (the
   * proxy's camera mesh, which runs the camera only where the path is
   * placed, or a test's).
   */
  readonly cameraSource?: (options: CameraSourceOptions, path: string) => MediaSource;
  /**
   * The mesh trust bundle (PEM) edge tokens are checked against (auth.jwt):
   * the node's workload identity; undefined until it holds one, and then
   * every token is refused as not ready.
   */
  readonly trustBundle?: () => string | undefined;
  /** The token-issuer leaves the control plane pushed with the bundle (compact tokens). */
  readonly tokenIssuers?: () => string | undefined;
  /** The mesh's revocation list now: tokens of a revoked signer are refused. */
  readonly revoked?: () => RevokedSerials | undefined;
  /**
   * The media workers, when there are several: UDP viewer tracks are spread
   * over them (viewer-spread.ts). Without them every track is on this thread.
   */
  readonly viewerThreads?: ViewerThreads;
}

/**
 * The longest a DESCRIBE waits for a source's attempt in progress. A failed
 * attempt (a 401 from the camera, connection refused, its 5 s connect
 * timeout) answers the viewer sooner, with the reason.
 */
const DESCRIBE_TIMEOUT_MS = 10_000;

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
  /** UDP datagrams the proxy could not send the viewer (the kernel refused them, or its worker was restarting). */
  readonly udpLost: number;
  /** The media worker of each UDP track on one (ascending by track); empty when all are on the main thread. */
  readonly workers: readonly number[];
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
  /** Requests answered 503 because their source sent over its rate. */
  readonly rateLimitedRequests: number;
  /** Streams carried (paths whose source runs), proxy.maxStreams, and those refused at it. */
  readonly streams: { readonly carried: number; readonly max: number; readonly refused: number };
  /** UDP viewer tracks per media worker and their re-opens after a worker restart; null with one worker. */
  readonly viewerSpread: SpreadStats | null;
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
  /** proxy.maxStreams. */
  readonly maxStreams: number;
  /** The listener in force after commit (undefined when RTSP is off). */
  readonly listener: Listener | undefined;
  readonly mediaHost: string;
  readonly ports: { readonly allocator: PortAllocator; readonly signature: string };
  readonly auth: { readonly auth: ViewerAuth; readonly signature: string };
  /** Every path of the candidate, by name. */
  readonly paths: ReadonlyMap<string, PlannedPath>;
}

/** A path of the candidate: kept running as it is, or built by prepare and made at commit. */
interface PlannedPath {
  /** The path's config as JSON: a path whose signature changes is rebuilt. */
  readonly signature: string;
  /** Undefined when the running path of that name is kept. */
  readonly build: PathOptions | undefined;
}

export class RtspService implements ConfigParticipant {
  readonly name = 'rtsp';
  readonly resourceTypes: readonly ResourceType[] = ['RTSP_SETTINGS', 'RTSP_PATH'];
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
  readonly #trustBundle: () => string | undefined;
  readonly #tokenIssuers: () => string | undefined;
  readonly #revoked: () => RevokedSerials | undefined;
  #authSignature = '';
  #ports: PortAllocator | undefined;
  #portsSignature = '';
  #mediaHost = '127.0.0.1';
  /** Unix ms until which the proxy drains (takes no new session); 0: it takes them. */
  #drainUntilMs = 0;
  #drainTimer: NodeJS.Timeout | undefined;
  #nextConnectionId = 1;
  /** Connections refused: over budget, or to a listener not (or no longer) in force. */
  #refused = 0;
  /** Made at the first bind, so that countConnectionsIn() can come after construction. */
  #budget: ConnectionBudget | undefined;
  #metrics: Registry | undefined;
  /** Made with the budget, so that it counts in the registry countConnectionsIn() gave. */
  #requestRate: SourceRateLimiter | undefined;
  /** proxy.maxStreams in force. */
  #maxStreams = 1000;
  readonly #streams = new StreamSlots(() => this.#maxStreams);
  /** Rebuilt at each commit: the per-packet path (publisher frames) must not allocate it. */
  #ctx: RtspContext | undefined;
  /** Old listeners and paths still closing after a commit; close() waits for them. */
  readonly #closing = new Set<Promise<void>>();
  readonly #gate: PrepareGate;
  readonly #cameraSource: (options: CameraSourceOptions, path: string) => MediaSource;
  readonly #spread: ViewerSpread | undefined;

  constructor(log: Logger, options: RtspServiceOptions = {}) {
    this.#log = log.child({ component: 'rtsp' });
    this.#gate = new PrepareGate({
      name: 'rtsp',
      closedError: () => new RtspClosedError(),
      onReleaseError: () => undefined,
    });
    this.#cameraSource = options.cameraSource ?? ((camera) => new CameraSource(camera));
    this.#trustBundle = options.trustBundle ?? (() => undefined);
    this.#tokenIssuers = options.tokenIssuers ?? (() => undefined);
    this.#revoked = options.revoked ?? (() => undefined);
    const threads = options.viewerThreads;
    this.#spread =
      threads === undefined || threads.workers < 2
        ? undefined
        : new ViewerSpread(threads, this.#log);
    this.#sessions = new SessionTable(
      () => (this.#config?.sessionTimeoutSec ?? 60) * 1000,
      () => performance.now(),
    );
  }

  /**
   * Draining until `deadlineMs` (Unix ms; 0 ends it): no new session is
   * taken (503 naming the reason, so a client tries another proxy), the
   * sessions held keep playing, and at the deadline they are closed.
   */
  drain(deadlineMs: number): void {
    this.#drainUntilMs = deadlineMs;
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    if (deadlineMs <= 0) return;
    this.#drainTimer = setTimeout(
      () => {
        this.#log.info(
          { sessions: this.#sessions.size },
          'drain deadline: closing the last sessions',
        );
        this.#sessions.closeAll('proxy drained');
      },
      Math.max(0, deadlineMs - Date.now()),
    );
  }

  /** RTSP sessions (viewers and publishers) held now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** The path of that name in force, if any. */
  pathNamed(name: string): StreamPath | undefined {
    return this.#paths.get(name)?.path;
  }

  /** The bound listen address (host:port), or null when RTSP is off. */
  get address(): string | null {
    return this.#listener?.address ?? null;
  }

  get paths(): ReadonlyMap<string, { path: StreamPath }> {
    return this.#paths;
  }

  /**
   * Counts the listener's refusals and head timeouts (and its open
   * connections) in this registry; call it before the first config, as the
   * node's registry exists only once the service does.
   */
  countConnectionsIn(registry: Registry): void {
    if (this.#budget !== undefined) throw new Error('rtsp: metrics given after the first bind');
    this.#metrics = registry;
  }

  /** One budget for the service's life; its limits are read from the config in force. */
  #connectionBudget(): ConnectionBudget {
    if (this.#budget === undefined) {
      const config = (): RtspConfig | undefined => this.#config;
      const limits: ConnectionBudgetLimits = {
        get maxConnections() {
          return config()?.maxConnections ?? defaultConnectionBudget.maxConnections;
        },
        get maxPerSource() {
          return config()?.maxConnectionsPerSource ?? defaultConnectionBudget.maxPerSource;
        },
        get headTimeoutMs() {
          return config()?.headTimeoutMs ?? defaultConnectionBudget.headTimeoutMs;
        },
      };
      this.#budget = new ConnectionBudget('rtsp', limits, this.#metrics);
    }
    return this.#budget;
  }

  /** Requests per source, over all its connections; the limit is read from the config in force. */
  #requestRateLimiter(): SourceRateLimiter {
    if (this.#requestRate === undefined) {
      const config = (): RtspConfig | undefined => this.#config;
      const limit: RateLimit = {
        get perSecond() {
          return config()?.requestsPerSecondPerSource ?? 100;
        },
        get burst() {
          return config()?.requestBurstPerSource ?? 400;
        },
      };
      this.#requestRate = new SourceRateLimiter({
        listener: 'rtsp',
        limit,
        registry: this.#metrics,
      });
    }
    return this.#requestRate;
  }

  /** Prepares and commits at once, for callers outside a node's transaction (tests, tools). */
  async apply(config: MeshConfig): Promise<void> {
    (await this.prepare(config)).commit();
  }

  prepare(candidate: MeshConfig): Promise<PreparedChange> {
    return this.#gate.prepare(() => this.#stage(candidate));
  }

  async #stage(candidate: MeshConfig): Promise<StagedChange> {
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
    return {
      commit: () => {
        this.#commit({ ...plan, listener });
      },
      // Tracked, so a close() under way waits for the new listener too.
      release: () => {
        if (bound === undefined) return Promise.resolve();
        const closing = closeServer(bound.server);
        this.#track(closing);
        return closing;
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
    const { trustDomain } = candidate.controlPlane;
    const authSignature = JSON.stringify([rtsp.auth ?? null, trustDomain]);
    const auth =
      authSignature === this.#authSignature
        ? { auth: this.#auth, signature: authSignature }
        : {
            auth: new ViewerAuth(rtsp.auth, {
              secret: this.#nonceSecret,
              edgeTokens: new EdgeTokenGate({
                trustBundle: this.#trustBundle,
                tokenIssuers: this.#tokenIssuers,
                revoked: this.#revoked,
                trustDomain,
              }),
            }),
            signature: authSignature,
          };
    const wanted = new Map<string, RtspPathConfig | 'demo'>();
    if (rtsp.enabled) {
      for (const [name, config] of Object.entries(rtsp.paths)) wanted.set(name, config);
      if (rtsp.demo) wanted.set(DEMO_PATH, 'demo');
    }
    const paths = new Map<string, PlannedPath>();
    for (const [name, config] of wanted) {
      const signature = JSON.stringify(config);
      const kept = this.#paths.get(name)?.signature === signature;
      const build = kept
        ? undefined
        : this.#pathOptions(name, config, { mediaHost, ports: ports.allocator });
      paths.set(name, { signature, build });
    }
    return { rtsp, maxStreams: candidate.proxy.maxStreams, mediaHost, ports, auth, paths };
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
    this.#maxStreams = plan.maxStreams;
    if (plan.listener === undefined) {
      this.#setPaths(new Map());
      return;
    }
    this.#mediaHost = plan.mediaHost;
    this.#ports = plan.ports.allocator;
    this.#portsSignature = plan.ports.signature;
    this.#auth = plan.auth.auth;
    this.#authSignature = plan.auth.signature;
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
        ...udpTracks(s),
        ageMs: Math.round(now - s.createdMs),
      })),
      defects: { ...this.#defects.counts },
      refusedConnections: this.#refused,
      timedOutSessions: this.#sessions.timedOut,
      rateLimitedRequests: this.#requestRate?.limited ?? 0,
      streams: {
        carried: this.#streams.carried,
        max: this.#streams.max,
        refused: this.#streams.refused,
      },
      viewerSpread: this.#spread?.stats() ?? null,
    };
  }

  async close(): Promise<void> {
    clearTimeout(this.#drainTimer);
    this.#gate.close();
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
      refusing: () =>
        this.#drainUntilMs > 0
          ? `this proxy is draining until ${new Date(this.#drainUntilMs).toISOString()}: use another`
          : undefined,
      ports,
      spread: this.#spread,
      mediaHost: this.#mediaHost,
      sessionTimeoutSec: this.#config?.sessionTimeoutSec ?? 60,
      maxSessionsPerSource: this.#config?.maxSessionsPerSource ?? 64,
      maxStreams: () => this.#streams.max,
      defects: this.#defects,
      log: this.#log,
      now: () => performance.now(),
    };
  }

  async #bind(address: string): Promise<Listener> {
    const parsed = parseHostPort(address);
    if (typeof parsed === 'string') throw new RtspListenError(`proxy.rtsp.listen: ${parsed}`);
    const gate = { live: false };
    const budget = this.#connectionBudget();
    const requestRate = this.#requestRateLimiter();
    const server = createServer({ noDelay: true }, (socket) => {
      if (!gate.live) {
        socket.destroy();
        this.#refused += 1;
      } else if (budget.admit(socket)) {
        this.#accept(socket, budget.headDeadline(socket), requestRate);
      } else {
        // admit() destroyed the socket and counted the reason.
        this.#refused += 1;
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        reject(new RtspListenError(`proxy.rtsp.listen ${address}: ${error.code ?? error.message}`));
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

  #accept(socket: Socket, head: HeadDeadline, requestRate: SourceRateLimiter): void {
    const connection = new RtspConnection(
      this.#nextConnectionId++,
      socket,
      {
        request: async (conn, request) => {
          let response;
          const rate = requestRate.take(conn.remoteAddress);
          try {
            response = rate.allowed
              ? await routeRequest(this.#context(), conn, request)
              : reply(request, 503, [
                  ['Retry-After', String(rate.retryAfterSec)],
                  reasonHeader('too many requests from this address: retry later'),
                ]);
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
        headComplete: () => {
          head.met();
        },
      },
      {
        headerMs: this.#config?.headTimeoutMs ?? defaultConnectionBudget.headTimeoutMs,
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

  /** Synchronous, for commit: old paths close in the background; new ones are made from what prepare built. */
  #setPaths(wanted: ReadonlyMap<string, PlannedPath>): void {
    for (const [name, entry] of this.#paths) {
      const planned = wanted.get(name);
      if (planned !== undefined && planned.build === undefined) continue;
      this.#paths.delete(name);
      for (const session of [...this.#sessions.values()]) {
        if (session.path === entry.path) this.#sessions.remove(session, 'path changed');
      }
      this.#track(entry.path.close());
    }
    for (const [name, planned] of wanted) {
      if (planned.build === undefined) continue;
      // Makes the path and, when always on, starts the source prepare built (nothing here can fail).
      this.#paths.set(name, { path: new StreamPath(planned.build), signature: planned.signature });
    }
  }

  /**
   * A path's options, for prepare: a camera path's source is built now (its
   * URL parsed: a bad one refuses the config, naming the path) but not
   * started; commit only makes the path, which starts it when always on.
   */
  #pathOptions(
    name: string,
    config: RtspPathConfig | 'demo',
    planned: { readonly mediaHost: string; readonly ports: PortAllocator },
  ): PathOptions {
    const common = {
      name,
      streams: this.#streams,
      describeTimeoutMs: DESCRIBE_TIMEOUT_MS,
      log: this.#log,
      now: () => performance.now(),
    };
    if (config === 'demo') {
      return {
        ...common,
        kind: 'demo',
        alwaysOn: false,
        lingerMs: 10_000,
        createSource: () => new DemoSource(),
      };
    }
    if (config.source === 'publisher') {
      return { ...common, kind: 'publisher', alwaysOn: false, lingerMs: 0 };
    }
    const camera = (mediaHost: string, ports: PortAllocator): MediaSource =>
      this.#cameraSource(
        {
          url: config.source,
          transport: config.transport,
          mediaHost,
          ports,
          log: this.#log.child({ path: name }),
        },
        name,
      );
    let first: MediaSource | undefined;
    try {
      first = camera(planned.mediaHost, planned.ports);
    } catch (error) {
      throw new RtspPathError(name, error);
    }
    return {
      ...common,
      kind: 'camera',
      alwaysOn: !config.onDemand,
      lingerMs: config.lingerMs,
      createSource: () => {
        // The source prepare built, while the media address and ports it took are still in force.
        const built = first;
        first = undefined;
        if (built !== undefined && planned.ports === this.#ports) return built;
        const ports = this.#ports;
        if (ports === undefined) throw new Error('camera source before the first config');
        return camera(this.#mediaHost, ports);
      },
    };
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A session's UDP losses and the workers of its tracks, for /streams. */
function udpTracks(session: RtspSession): { udpLost: number; workers: number[] } {
  let udpLost = 0;
  const workers: number[] = [];
  for (const track of [...session.transports.keys()].sort((a, b) => a - b)) {
    const transport = session.transports.get(track);
    if (transport instanceof WorkerUdpTrackTransport) {
      workers.push(transport.worker);
      udpLost += transport.lost;
    } else if (transport instanceof UdpTrackTransport) {
      udpLost += transport.lost;
    }
  }
  return { udpLost, workers };
}
