/**
 * The proxy's routes, kept in step with its config. A new config is applied
 * route by route: unchanged routes keep running (their sockets, latched
 * senders and statistics untouched), removed ones close, new and changed ones
 * are built. If any cannot be built (a port taken, no port left), everything
 * built for this config is closed again, the routes a change had closed are
 * rebuilt, and the error rejects the config.
 */
import { validHostPort } from '../../../src/shared/address.js';
import type { MeshConfig, RouteConfig } from '../../../src/config/index.js';
import { StreammeshError, errorMessage } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/log.js';
import { Destination } from './destination.js';
import { DropCounters } from './drop-counters.js';
import { PortAllocator, bindPair, type PortPair } from '../../../src/media/udp/port-allocator.js';
import { MediaRoute, type MediaRouteSnapshot } from './media-route.js';
import { SrtpLeg } from './srtp-leg.js';
import { closeQuietly } from '../../../src/media/udp/udp.js';

export class MediaRouteBuildError extends StreammeshError {
  constructor(route: string, reason: string) {
    super('ERR_ROUTE_BUILD', `proxy.routes ${route}: ${reason}`);
  }
}

export interface MediaRouteKeys {
  readonly route: string;
  readonly leg: string;
  readonly profile: string;
  readonly inline: string;
  readonly generated: boolean;
}

export class MediaRouteTable {
  readonly #log: Logger;
  readonly #routes = new Map<string, MediaRoute>();
  #allocator: PortAllocator | undefined;
  #allocatorRange = '';
  #host = '';

  constructor(log: Logger) {
    this.#log = log;
  }

  get routes(): ReadonlyMap<string, MediaRoute> {
    return this.#routes;
  }

  async apply(config: MeshConfig): Promise<void> {
    const { mediaAddress, rtpPorts, routes } = config.proxy;
    const range = `${rtpPorts.start}-${rtpPorts.end}`;
    if (this.#allocator === undefined || range !== this.#allocatorRange) {
      this.#allocator = new PortAllocator(rtpPorts);
      this.#allocatorRange = range;
    }
    const hostChanged = mediaAddress !== this.#host;
    this.#host = mediaAddress;
    const wanted = new Map(routes.map((route) => [route.name, route]));
    const replaced: MediaRoute[] = [];
    for (const [name, route] of this.#routes) {
      const next = wanted.get(name);
      if (next === undefined || hostChanged || !sameConfig(route.config, next)) {
        // Close first: a changed route may want its own port again.
        this.#close(route);
        this.#routes.delete(name);
        if (next !== undefined) replaced.push(route);
      }
    }
    const built: MediaRoute[] = [];
    try {
      for (const config of routes) {
        if (this.#routes.has(config.name)) continue;
        built.push(await this.#build(config));
      }
    } catch (error) {
      for (const route of built) this.#close(route);
      await this.#restore(replaced);
      throw error;
    }
    for (const route of built) {
      this.#routes.set(route.name, route);
      this.#log.info(
        { route: route.name, listen: route.snapshot().listen.rtp },
        'stream route started',
      );
    }
  }

  close(): void {
    for (const route of this.#routes.values()) this.#close(route);
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
          generated: ingress.generated,
        });
      }
      for (const destination of route.destinations) {
        if (destination.srtp === undefined) continue;
        keys.push({
          route: route.name,
          leg: `${destination.host}:${destination.rtpPort}`,
          profile: destination.srtp.profile,
          inline: destination.srtp.inlineKey,
          generated: destination.srtp.generated,
        });
      }
    }
    return keys;
  }

  async #build(config: RouteConfig): Promise<MediaRoute> {
    const pairs: PortPair[] = [];
    try {
      const listen = validHostPort(config.listen);
      const ingress =
        listen.port === 0
          ? await this.#allocate(listen.host, config.rtcpMux)
          : await bindPair(listen.host, listen.port, config.rtcpMux);
      if (ingress === undefined) {
        throw new Error(`${config.listen} (or its RTCP port) is in use`);
      }
      pairs.push(ingress);
      const drops = new DropCounters();
      const destinations: Destination[] = [];
      // Destinations exist before their route; feedback finds the route through this.
      const owner: { route?: MediaRoute } = {};
      for (const destination of config.destinations) {
        const local = await this.#allocate(this.#host, destination.rtcpMux);
        pairs.push(local);
        const leg = new Destination(destination, local, drops, (from, packet, source) => {
          owner.route?.onFeedback(from, packet, source);
        });
        await leg.connect();
        destinations.push(leg);
      }
      const srtp = config.srtp === undefined ? undefined : new SrtpLeg(config.srtp);
      const route = new MediaRoute(config, listen.host, ingress, srtp, destinations, drops);
      owner.route = route;
      return route;
    } catch (error) {
      for (const pair of pairs) this.#closePair(pair);
      throw new MediaRouteBuildError(config.name, errorMessage(error));
    }
  }

  async #allocate(host: string, mux: boolean): Promise<PortPair> {
    if (this.#allocator === undefined) throw new Error('no port range');
    return this.#allocator.allocate(host, mux);
  }

  async #restore(routes: MediaRoute[]): Promise<void> {
    for (const old of routes) {
      try {
        const route = await this.#build(old.config);
        this.#routes.set(route.name, route);
      } catch (error) {
        this.#log.error({ route: old.name, err: error }, 'could not restore a stream route');
      }
    }
  }

  #close(route: MediaRoute): void {
    route.close();
    this.#closePair(route.ingress);
    for (const destination of route.destinations) this.#closePair(destination.local);
    this.#log.info({ route: route.name }, 'stream route stopped');
  }

  #closePair(pair: PortPair): void {
    closeQuietly(pair.rtp);
    closeQuietly(pair.rtcp);
    this.#allocator?.release(pair.port);
  }
}

function sameConfig(a: RouteConfig, b: RouteConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
