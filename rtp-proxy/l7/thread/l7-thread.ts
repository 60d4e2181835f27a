/**
 * The L7 thread's entry (a worker_threads Worker started by
 * isolated-http-service.ts): the whole HTTP/1.1, HTTP/2 and gRPC proxy —
 * listeners, router, clusters, upstream pools — runs here, on an event loop
 * of its own, so that a flood of HTTP requests can queue work only here and
 * never in front of the relay's packets on the main thread. Its metrics live
 * in its own registry (no process metrics: the main thread has those; but
 * its own heap and GC pauses, which the main thread's do not show) and are
 * sent on request; its log lines go straight to fd 1 (pino writes to the
 * file descriptor, not through the main thread). It runs at a lower CPU
 * priority and gives memory back once quiet (thread-tuning.ts).
 */
import { workerData } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { Gauge, Registry } from 'prom-client';
import { refusedResourcesOf, type RefusedResource } from '../../../src/config/index.js';
import { observeGcPauses } from '../../../src/shared/gc-pauses.js';
import { createLogger } from '../../../src/shared/log.js';
import { PreparedChanges, serveRequests, threadPort } from '../../../src/shared/threads/index.js';
import type { PreparedChange } from '../../../src/node-agent/transaction.js';
import { HttpService } from '../l7-service.js';
import { ClusterStateChannel } from './cluster-state-channel.js';
import type { L7Request, L7ThreadData, L7Value } from './messages.js';
import { IdleHeapReclaimer, yieldCpuToMedia } from './thread-tuning.js';

const port = threadPort('l7-thread.js');
const data = workerData as L7ThreadData;
const log = createLogger(data.role, data.logLevel, data.tty).child({
  thread: 'l7',
  worker: data.worker,
});
const registry = new Registry();
registry.setDefaultLabels({ role: data.role });
new Gauge({
  name: 'streammesh_l7_thread_heap_used_bytes',
  help: "V8 heap in use by the L7 thread (its own isolate; the process's heap metrics are the main thread's).",
  registers: [registry],
  collect() {
    this.set(getHeapStatistics().used_heap_size);
  },
});
const gcPauses = observeGcPauses(
  registry,
  'streammesh_l7_thread_gc_duration_seconds',
  "Garbage-collection pauses of the L7 thread's own isolate, by kind (minor: scavenge); nodejs_gc_duration_seconds is the main thread's.",
);
yieldCpuToMedia(log);
const reclaimer = new IdleHeapReclaimer({ registry, log });
// With one thread there is no channel: its clusters probe every endpoint, as before.
const share: ClusterStateChannel | undefined =
  data.clusterState === undefined
    ? undefined
    : new ClusterStateChannel(
        data.clusterState,
        { index: data.worker, threads: data.workers },
        {
          adoptEjection: (cluster, endpointId, ejection) => {
            service.adoptEjection(cluster, endpointId, ejection);
          },
          adoptHealth: (cluster, settings, states) => {
            service.adoptHealth(cluster, settings, states);
          },
          decidedHealth: (cluster, settings) => service.decidedHealth(cluster, settings),
          currentEjections: (cluster) => service.currentEjections(cluster),
        },
      );
const service: HttpService = new HttpService(log, registry, share === undefined ? {} : { share });
// Before any config: a mesh TLS listener of the first config needs it.
if (data.certificates !== undefined) service.credentials.update(data.certificates);
const prepared = new PreparedChanges<PreparedChange>('l7 thread');

async function handle(request: L7Request): Promise<L7Value> {
  switch (request.kind) {
    case 'prepare': {
      // The change is kept under the request's id, which the answer names.
      if (request.sharing === undefined) {
        prepared.keep(request.id, await service.prepareHttp(request.http));
        return { change: request.id, ports: {} };
      }
      const shared = await service.prepareShared(request.http, request.sharing);
      prepared.keep(request.id, shared.prepared);
      return { change: request.id, ports: shared.ports };
    }
    case 'commit':
      prepared.take(request.change).commit();
      return null;
    case 'abort':
      await prepared.take(request.change).abort();
      return null;
    case 'metrics':
      return registry.getMetricsAsJSON();
    case 'certificates':
      service.credentials.update(request.certificates);
      return null;
    case 'ping':
      return null;
    case 'listeners':
      return [...service.listeners].map(([name, listener]) => ({ name, ...listener.address }));
    case 'close':
      await service.close();
      share?.close();
      reclaimer.stop();
      gcPauses.stop();
      return null;
    case 'crash':
      setImmediate(() => {
        throw new Error('l7 thread: crash asked for (a test of its supervision)');
      });
      return null;
  }
}

serveRequests<L7Request, L7Value, RefusedResource>(port, {
  handle,
  fallbackCode: 'ERR_L7_THREAD',
  resourcesOf: refusedResourcesOf,
});
