/**
 * A media worker's entry (a worker_threads Worker started by
 * worker-handle.ts): one MediaRouteTable with its own sockets, carrying the
 * routes whose names hash to this worker (shard.ts). Its packets never touch
 * the main thread: they come in and go out on this thread's event loop. The
 * main thread sends it its share of each config (prepare, then commit or
 * abort), and asks for snapshots, keys and pings; answers go back as plain
 * data. Its log lines go straight to fd 1, tagged with the worker's index.
 *
 * A worker may start as a spare (no index yet): loading this module graph in
 * a new thread takes about a second on a busy machine, far longer than
 * building a worker's routes, so the main thread keeps one spare loaded and
 * hands it the index of a worker that died ('adopt').
 */
import { workerData } from 'node:worker_threads';
import { refusedResourcesOf, type RefusedResource } from '../../../src/config/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { PreparedChanges, serveRequests, threadPort } from '../../../src/shared/threads/index.js';
import { useSrtpEngine } from '../../../src/protocol/srtp/index.js';
import { useUdpIo } from '../../../src/media/udp/index.js';
import type { PreparedChange } from '../../../src/node-agent/index.js';
import { MediaRouteTable } from '../relay/index.js';
import { serveViewers } from '../rtsp/viewer-worker.js';
import type { MediaWorkerData, MediaWorkerRequest, MediaWorkerValue } from './messages.js';

const port = threadPort('media-worker.js');
const data = workerData as MediaWorkerData;
const rootLog = createLogger('proxy', data.logLevel, data.tty);
// The SRTP engine and the UDP I/O are chosen per thread (module state): each
// worker makes the startup config's choice, as the main thread did (which
// refused to start if the choice could not be had, so this does not throw).
useSrtpEngine(data.srtpEngine, rootLog);
useUdpIo(data.udpIo, rootLog);
/** The RTSP UDP viewer tracks main placed on this worker (a spare gets none until it adopts). */
const viewers = serveViewers(data.viewers);
/** This worker's index and routes, once it is one of the relay's workers (not a spare). */
let worker: { readonly index: number; readonly table: MediaRouteTable } | undefined;
if (data.index !== null) adopt(data.index);

function adopt(index: number): void {
  if (worker !== undefined) throw new Error(`media worker ${worker.index} is not a spare`);
  worker = { index, table: new MediaRouteTable(rootLog.child({ worker: index })) };
}

function routes(): MediaRouteTable {
  if (worker === undefined) throw new Error('media worker: a spare has no routes');
  return worker.table;
}

const prepared = new PreparedChanges<PreparedChange>('media worker');
/** Packets of routes this worker closed: the worker's totals must not fall when a route goes. */
let retiredIn = 0;
let retiredOut = 0;

type MediaRoute = MediaRouteTable['routes'] extends ReadonlyMap<string, infer R> ? R : never;

function packetsOut(route: MediaRoute): number {
  let sent = 0;
  for (const destination of route.destinations) sent += destination.packets;
  return sent;
}

function totals(): { packetsIn: number; packetsOut: number } {
  let packetsIn = retiredIn;
  let sent = retiredOut;
  for (const route of routes().routes.values()) {
    packetsIn += route.packetsIn;
    sent += packetsOut(route);
  }
  return { packetsIn, packetsOut: sent };
}

function commit(change: PreparedChange): void {
  const table = routes();
  const before = [...table.routes.values()];
  change.commit();
  const running = new Set(table.routes.values());
  for (const route of before) {
    if (running.has(route)) continue;
    retiredIn += route.packetsIn;
    retiredOut += packetsOut(route);
  }
}

async function handle(request: MediaWorkerRequest): Promise<MediaWorkerValue> {
  switch (request.kind) {
    case 'adopt':
      adopt(request.index);
      return null;
    case 'prepare':
      prepared.keep(
        request.id,
        await routes().prepare(request.config, {
          ...(request.wholePorts === undefined ? {} : { wholePorts: request.wholePorts }),
          ...(request.generatedKeys === undefined ? {} : { generatedKeys: request.generatedKeys }),
        }),
      );
      return request.id;
    case 'commit':
      commit(prepared.take(request.change));
      // The main thread keeps these: a successor of this worker reuses them.
      return routes()
        .keys()
        .filter((key) => key.generated);
    case 'abort':
      await prepared.take(request.change).abort();
      return null;
    case 'snapshot':
      return {
        routes: routes().snapshot(),
        totals: totals(),
        rtspViewerTracks: viewers.count,
      };
    case 'keys':
      return routes().keys();
    case 'ping':
      return null;
    case 'close':
      worker?.table.close();
      viewers.close();
      return null;
    case 'crash':
      setImmediate(() => {
        throw new Error(`media worker ${worker?.index}: crash requested by a test hook`);
      });
      return null;
    case 'hang': {
      const until = performance.now() + request.ms;
      while (performance.now() < until) {
        // Blocks the event loop on purpose (test hook): no packet, no ping is served.
      }
      return null;
    }
  }
}

serveRequests<MediaWorkerRequest, MediaWorkerValue, RefusedResource>(port, {
  handle,
  fallbackCode: 'ERR_MEDIA_WORKER',
  resourcesOf: refusedResourcesOf,
});
