/**
 * The proxy's routes, kept in step with its config, as one participant of the
 * node's config transaction (src/node-agent/config-transaction.ts).
 *
 * prepare() builds aside everything a candidate config needs: the ingress
 * and egress sockets of new and changed routes, their SRTP contexts, the
 * media-address check. The running routes are not touched: packets keep
 * flowing on them, and a refused config leaves nothing behind (abort closes
 * what prepare opened). commit() swaps the table: removed and replaced routes
 * close, prepared ones start; a route whose config is unchanged keeps running
 * untouched (its sockets, latched sender and statistics).
 *
 * A changed route that keeps a fixed listen address (host:port) cannot bind
 * it aside while the old route holds it: it takes over the old route's
 * ingress socket at commit instead. A route listening on port 0 gets a fresh
 * pair from proxy.rtpPorts, as a new route would.
 */
import { validHostPort } from '../../../src/shared/address.js';
import {
  type MeshConfig,
  type RefusedResource,
  type ResourceRefusal,
  type ResourceType,
  type RouteConfig,
  type DestinationConfig,
  type SrtpLegConfig,
} from '../../../src/config/index.js';
import { StreammeshError, errorMessage } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/log.js';
// Straight from the modules, not the node-agent index: the index pulls in
// grpc-js (the control channel), which a worker thread would load for nothing.
import type { ConfigParticipant, PreparedChange } from '../../../src/node-agent/transaction.js';
import { PrepareGate, type StagedChange } from '../../../src/node-agent/transaction.js';
import { checkMediaAddress } from './check-media-address.js';
import { Destination } from './destination.js';
import { DropCounters } from './drop-counters.js';
import {
  PortAllocator,
  PortsExhaustedError,
  bindMediaSocket,
  bindPair,
  closeMediaSocket,
  type BatchSocket,
  type PortPair,
} from '../../../src/media/udp/index.js';
import { MediaRoute, type MediaRouteSnapshot } from './media-route.js';
import { SrtpLeg } from './srtp-leg.js';

/** A route of the candidate cannot be built (its port is taken, ...): NACKs that MEDIA_ROUTE. */
export class MediaRouteBuildError extends StreammeshError implements ResourceRefusal {
  readonly resources: readonly RefusedResource[];
  constructor(route: string, reason: string) {
    super('ERR_ROUTE_BUILD', `proxy.routes ${route}: ${reason}`);
    this.resources = [{ type: 'MEDIA_ROUTE', name: route }];
  }
}

/** prepare() on a table that is closed (the proxy is stopping): it takes no config any more. */
export class RelayClosedError extends StreammeshError {
  constructor() {
    super('ERR_RELAY_CLOSED', 'relay: closed, it takes no config');
  }
}

export interface MediaRouteKeys {
  readonly route: string;
  readonly leg: string;
  readonly profile: string;
  readonly inline: string;
  readonly generated: boolean;
}

/** What a sharded relay's worker adds to a prepare (rtp-proxy/media/workers). */
export interface TablePrepareOptions {
  /**
   * The whole of proxy.rtpPorts when the candidate's range is this worker's
   * slice of it: a pair is taken from the whole range once the slice is
   * exhausted (the kernel settles collisions with the other workers).
   */
  readonly wholePorts?: { readonly start: number; readonly end: number };
  /**
   * Keys generated before for `srtp.key: generate` legs, by
   * generatedKeyId(route, leg): a restarted worker rebuilds those legs with
   * the same keys (peers hold them), not new ones.
   */
  readonly generatedKeys?: Readonly<Record<string, string>>;
}

/** The id of a leg in TablePrepareOptions.generatedKeys (leg as in keys()). */
export function generatedKeyId(route: string, leg: string): string {
  return `${route}\n${leg}`;
}

/** The ingress of a prepared route: its own new pair, or sockets of a running route it takes over. */
interface PreparedIngress {
  readonly pair: PortPair;
  /** The running route whose sockets `pair` reuses (all but a newly bound RTCP socket). */
  readonly from: MediaRoute | undefined;
}

/** A new or changed route, built aside: everything but the MediaRoute itself. */
interface PreparedRoute {
  readonly config: RouteConfig;
  readonly host: string;
  readonly ingress: PreparedIngress;
  readonly srtp: SrtpLeg | undefined;
  readonly destinations: readonly Destination[];
  readonly drops: DropCounters;
  /** Destinations exist before their route; feedback finds the route through this. */
  readonly owner: { route?: MediaRoute };
}

/** What prepare() opened; abort() closes exactly this. */
interface Opened {
  readonly sockets: BatchSocket[];
  /** Running routes whose ingress a prepared route takes over (at most one each). */
  readonly takenOver: Set<MediaRoute>;
  readonly ports: { readonly allocator: PortAllocator; readonly port: number }[];
}

export class MediaRouteTable implements ConfigParticipant {
  readonly name = 'relay';
  readonly resourceTypes: readonly ResourceType[] = ['MEDIA_ROUTE', 'MESH_SETTINGS'];
  readonly #log: Logger;
  readonly #routes = new Map<string, MediaRoute>();
  /** Which allocator lent each pair (the range may have changed since). */
  readonly #leases = new WeakMap<PortPair, PortAllocator>();
  #allocator: PortAllocator | undefined;
  #allocatorRange = '';
  /** TablePrepareOptions.wholePorts's allocator, kept while the range is the same. */
  #whole: { readonly range: string; readonly allocator: PortAllocator } | undefined;
  /** TablePrepareOptions.generatedKeys of the change being staged (one at a time: the gate). */
  #presetKeys: Readonly<Record<string, string>> = {};
  #host = '';
  readonly #gate: PrepareGate;

  constructor(log: Logger) {
    this.#log = log;
    this.#gate = new PrepareGate({
      name: 'relay',
      closedError: () => new RelayClosedError(),
      onReleaseError: () => undefined,
    });
  }

  get routes(): ReadonlyMap<string, MediaRoute> {
    return this.#routes;
  }

  /** Prepares and commits at once, for callers outside a node's transaction (tests, tools). */
  async apply(config: MeshConfig): Promise<void> {
    (await this.prepare(config)).commit();
  }

  prepare(candidate: MeshConfig, options: TablePrepareOptions = {}): Promise<PreparedChange> {
    return this.#gate.prepare(() => this.#stage(candidate, options));
  }

  async #stage(candidate: MeshConfig, options: TablePrepareOptions): Promise<StagedChange> {
    const { mediaAddress, rtpPorts, routes } = candidate.proxy;
    this.#presetKeys = options.generatedKeys ?? {};
    const whole = options.wholePorts;
    const wholeRange = whole === undefined ? '' : `${whole.start}-${whole.end}`;
    if (whole === undefined) this.#whole = undefined;
    else if (this.#whole?.range !== wholeRange) {
      this.#whole = { range: wholeRange, allocator: new PortAllocator(whole) };
    }
    await checkMediaAddress(mediaAddress);
    const range = `${rtpPorts.start}-${rtpPorts.end}`;
    const allocator =
      this.#allocator === undefined || range !== this.#allocatorRange
        ? new PortAllocator(rtpPorts)
        : this.#allocator;
    const hostChanged = mediaAddress !== this.#host;
    const kept = new Set<MediaRoute>();
    const toBuild: RouteConfig[] = [];
    for (const config of routes) {
      const running = this.#routes.get(config.name);
      if (running !== undefined && !hostChanged && sameConfig(running.config, config)) {
        kept.add(running);
      } else {
        toBuild.push(config);
      }
    }
    const opened: Opened = { sockets: [], ports: [], takenOver: new Set() };
    const prepared: PreparedRoute[] = [];
    try {
      for (const config of toBuild) {
        prepared.push(await this.#build(config, mediaAddress, allocator, kept, opened));
      }
    } catch (error) {
      this.#release(opened);
      throw error;
    }
    return {
      commit: () => {
        this.#commit(candidate, range, allocator, kept, prepared);
      },
      release: () => {
        this.#release(opened);
        return Promise.resolve();
      },
    };
  }

  close(): void {
    this.#gate.close();
    for (const route of this.#routes.values()) this.#close(route, new Set());
    this.#routes.clear();
  }

  snapshot(): MediaRouteSnapshot[] {
    return [...this.#routes.values()].map((route) => route.snapshot());
  }

  keys(): MediaRouteKeys[] {
    const keys: MediaRouteKeys[] = [];
    for (const route of this.#routes.values()) {
      const ingress = route.ingressSrtp;
      if (ingress !== undefined) {
        keys.push({
          route: route.name,
          leg: 'ingress',
          profile: ingress.profile,
          inline: ingress.inlineKey,
          generated: route.config.srtp?.key === 'generate',
        });
      }
      for (const [index, destination] of route.destinations.entries()) {
        if (destination.srtp === undefined) continue;
        keys.push({
          route: route.name,
          leg: `${destination.host}:${destination.rtpPort}`,
          profile: destination.srtp.profile,
          inline: destination.srtp.inlineKey,
          // From the config: a leg rebuilt with its earlier generated key (preset) is still generated.
          generated: route.config.destinations[index]?.srtp?.key === 'generate',
        });
      }
    }
    return keys;
  }

  #commit(
    candidate: MeshConfig,
    range: string,
    allocator: PortAllocator,
    kept: ReadonlySet<MediaRoute>,
    prepared: readonly PreparedRoute[],
  ): void {
    const adopted = new Set<BatchSocket>();
    for (const route of prepared) {
      const { pair, from } = route.ingress;
      if (from === undefined) continue;
      adopted.add(pair.rtp);
      if (pair.rtcp !== undefined && pair.rtcp === from.ingress.rtcp) adopted.add(pair.rtcp);
      // The port stays held (by its new owner) if an allocator lent it.
      const lender = this.#leases.get(from.ingress);
      if (lender !== undefined) this.#leases.set(pair, lender);
    }
    for (const route of this.#routes.values()) {
      if (!kept.has(route)) this.#close(route, adopted);
    }
    const byName = new Map([...kept].map((route) => [route.name, route]));
    this.#routes.clear();
    for (const config of candidate.proxy.routes) {
      const running = byName.get(config.name);
      if (running !== undefined) {
        this.#routes.set(config.name, running);
        continue;
      }
      const built = prepared.find((route) => route.config === config);
      if (built === undefined) continue;
      const route = new MediaRoute(
        built.config,
        built.host,
        built.ingress.pair,
        built.srtp,
        built.destinations,
        built.drops,
      );
      built.owner.route = route;
      this.#routes.set(route.name, route);
      this.#log.info(
        { route: route.name, listen: route.snapshot().listen.rtp },
        'stream route started',
      );
    }
    this.#allocator = allocator;
    this.#allocatorRange = range;
    this.#host = candidate.proxy.mediaAddress;
  }

  async #build(
    config: RouteConfig,
    mediaHost: string,
    allocator: PortAllocator,
    kept: ReadonlySet<MediaRoute>,
    opened: Opened,
  ): Promise<PreparedRoute> {
    try {
      const listen = validHostPort(config.listen);
      const ingress = await this.#prepareIngress(config, listen, allocator, kept, opened);
      const drops = new DropCounters();
      const owner: { route?: MediaRoute } = {};
      const destinations: Destination[] = [];
      for (const destination of config.destinations) {
        const local = await this.#lease(allocator, mediaHost, destination.rtcpMux, opened);
        const leg = new Destination(
          this.#withPresetKey(config.name, destination),
          local,
          drops,
          (from, packet, source) => {
            owner.route?.onFeedback(from, packet, source);
          },
        );
        await leg.connect();
        destinations.push(leg);
      }
      const srtp =
        config.srtp === undefined
          ? undefined
          : new SrtpLeg(this.#presetLeg(config.name, 'ingress', config.srtp));
      return { config, host: listen.host, ingress, srtp, destinations, drops, owner };
    } catch (error) {
      throw new MediaRouteBuildError(config.name, errorMessage(error));
    }
  }

  async #prepareIngress(
    config: RouteConfig,
    listen: { readonly host: string; readonly port: number },
    allocator: PortAllocator,
    kept: ReadonlySet<MediaRoute>,
    opened: Opened,
  ): Promise<PreparedIngress> {
    if (listen.port === 0) {
      return {
        pair: await this.#lease(allocator, listen.host, config.rtcpMux, opened),
        from: undefined,
      };
    }
    const holder = [...this.#routes.values()].find(
      (route) =>
        !kept.has(route) &&
        !opened.takenOver.has(route) &&
        route.ingress.port === listen.port &&
        validHostPort(route.config.listen).host === listen.host,
    );
    if (holder === undefined) {
      const pair = await bindPair(listen.host, listen.port, config.rtcpMux);
      if (pair === undefined) throw new Error(`${config.listen} (or its RTCP port) is in use`);
      opened.sockets.push(pair.rtp);
      if (pair.rtcp !== undefined) opened.sockets.push(pair.rtcp);
      return { pair, from: undefined };
    }
    // The running route holds this address until commit: take its sockets over.
    opened.takenOver.add(holder);
    const old = holder.ingress;
    let rtcp: BatchSocket | undefined;
    if (!config.rtcpMux) {
      rtcp = old.rtcp;
      if (rtcp === undefined) {
        try {
          rtcp = await bindMediaSocket(listen.host, listen.port + 1);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code ?? errorMessage(error);
          throw new Error(
            `${listen.host}:${listen.port + 1} (the RTCP port) cannot be bound: ${code}`,
          );
        }
        opened.sockets.push(rtcp);
      }
    }
    return { pair: { rtp: old.rtp, rtcp, port: old.port }, from: holder };
  }

  /** `srtp` with the key generated before for this leg, if any (else as configured). */
  #presetLeg(route: string, leg: string, srtp: SrtpLegConfig): SrtpLegConfig {
    const preset =
      srtp.key === 'generate' ? this.#presetKeys[generatedKeyId(route, leg)] : undefined;
    return preset === undefined ? srtp : { ...srtp, key: preset };
  }

  #withPresetKey(route: string, destination: DestinationConfig): DestinationConfig {
    if (destination.srtp === undefined) return destination;
    const { host, port } = validHostPort(destination.address);
    const srtp = this.#presetLeg(route, `${host}:${port}`, destination.srtp);
    return srtp === destination.srtp ? destination : { ...destination, srtp };
  }

  async #lease(
    allocator: PortAllocator,
    host: string,
    mux: boolean,
    opened: Opened,
  ): Promise<PortPair> {
    let lender = allocator;
    let pair: PortPair;
    try {
      pair = await allocator.allocate(host, mux);
    } catch (error) {
      // This worker's slice is used up: the whole configured range, as one thread would.
      if (!(error instanceof PortsExhaustedError) || this.#whole === undefined) throw error;
      lender = this.#whole.allocator;
      pair = await lender.allocate(host, mux);
    }
    this.#leases.set(pair, lender);
    opened.ports.push({ allocator: lender, port: pair.port });
    opened.sockets.push(pair.rtp);
    if (pair.rtcp !== undefined) opened.sockets.push(pair.rtcp);
    return pair;
  }

  #release(opened: Opened): void {
    for (const socket of opened.sockets) closeMediaSocket(socket);
    for (const { allocator, port } of opened.ports) allocator.release(port);
  }

  /** Closes a route; sockets in `adopted` now belong to its successor and stay open. */
  #close(route: MediaRoute, adopted: ReadonlySet<BatchSocket>): void {
    route.close();
    for (const socket of [route.ingress.rtp, route.ingress.rtcp]) {
      if (socket === undefined) continue;
      if (adopted.has(socket)) {
        // The successor, made in this same commit, sets its own handlers
        // (replacing the old route's); until then the closed route drops as 'route_closed'.
        continue;
      }
      closeMediaSocket(socket);
    }
    if (!adopted.has(route.ingress.rtp))
      this.#leases.get(route.ingress)?.release(route.ingress.port);
    for (const destination of route.destinations) {
      closeMediaSocket(destination.local.rtp);
      closeMediaSocket(destination.local.rtcp);
      this.#leases.get(destination.local)?.release(destination.local.port);
    }
    this.#log.info({ route: route.name }, 'stream route stopped');
  }
}

function sameConfig(a: RouteConfig, b: RouteConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
