/**
 * Which media worker carries what: a route goes to the worker its name
 * hashes to, and each worker allocates media ports from its own slice of
 * proxy.rtpPorts.
 *
 * Routes: FNV-1a (32 bits) of the route's name, modulo the worker count. The
 * count is fixed for the life of the process (proxy.workers is read at
 * start), so a route keeps its worker for as long as it runs, and a
 * restarted worker gets exactly its routes back. A route cannot move to
 * another worker: its sockets belong to its worker's thread.
 *
 * Ports: every worker allocating from the whole of proxy.rtpPorts would make
 * them race for the same low ports (each allocator starts at the range's
 * start and learns of the others' ports only from failed binds). Allocating
 * on the main thread instead would put a round trip to it into every
 * prepare, and the sockets would still have to be bound in the worker. So
 * the range is split: worker i of N gets the i-th of N contiguous runs of
 * RTP/RTCP pairs, computed from the range and N alone (the same split in
 * every worker, after every push). A range with fewer pairs than workers is
 * not split: every worker then allocates from all of it, and the kernel
 * settles who binds what (a taken port is skipped, as a port held by another
 * program is today). A worker whose slice is used up also allocates from the
 * whole range (each prepare carries it), the same way: a config one thread
 * accepts is not refused because its routes hash to one worker, and a
 * refusal names the range as configured.
 */
import type { MeshConfig, RouteConfig } from '../../../src/config/index.js';

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The worker (0..workers-1) that carries the route named `name`. */
export function workerOfRoute(name: string, workers: number): number {
  return fnv1a32(name) % workers;
}

export interface PortRange {
  readonly start: number;
  readonly end: number;
}

/** Worker `index`'s slice of `range` (inclusive; starts even, holds at least one pair). */
export function workerPorts(range: PortRange, index: number, workers: number): PortRange {
  const pairs = Math.floor((range.end - range.start + 1) / 2);
  if (pairs < workers) return range;
  const first = Math.floor((index * pairs) / workers);
  const last = Math.floor(((index + 1) * pairs) / workers);
  return { start: range.start + 2 * first, end: range.start + 2 * last - 1 };
}

/**
 * What worker `index` of `workers` is given of `candidate`: the config as it
 * is, but for proxy.routes (only the routes it carries) and proxy.rtpPorts
 * (its slice).
 */
export function workerShare(candidate: MeshConfig, index: number, workers: number): MeshConfig {
  const routes: RouteConfig[] = candidate.proxy.routes.filter(
    (route) => workerOfRoute(route.name, workers) === index,
  );
  return {
    ...candidate,
    proxy: {
      ...candidate.proxy,
      routes,
      rtpPorts: workerPorts(candidate.proxy.rtpPorts, index, workers),
    },
  };
}
