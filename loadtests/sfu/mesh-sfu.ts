/**
 * The SFU of `bench:sfu --nodes 2`: an in-process control plane (mutual TLS,
 * as by default) and one or two signaling nodes, each on its own loopback
 * address with one mediasoup worker, with the config `up` gives each node
 * (its own SPIFFE ID from its service account in signaling.instances), as
 * the cascade tests start them (test/helpers/signaling-mesh.ts
 * startSignalingMesh) but at the default heartbeat (1 s): the tests' 200 ms makes the control plane find a
 * node stale after 0.6 s, which a loaded machine reaches (the control plane
 * and both nodes share one event loop here), and a stale node's PIPEs are
 * withdrawn, closing every consumer of a piped producer. With two nodes a
 * room with participants on both is cascaded: one PipeTransport pair per
 * room, each producer piped once.
 *
 * The node's budgets for anonymous clients are lifted: every werift peer of
 * the benchmark comes from 127.0.0.1, and the per-source defaults (64
 * WebSockets, 32 rooms, 128 transports) would refuse the load long before
 * the SFU runs out. The one-node and two-node sides get the same config,
 * so the only difference between them is the cascade.
 * BENCH_SFU_MESH_LOG=info shows the nodes' and the control plane's logs
 * (pino, on stdout).
 *
 * The nodes' worker pids come from mediasoup's process-wide observer: the
 * nodes start one after the other, each with one worker, so the n-th
 * worker created belongs to the n-th node.
 */
import * as mediasoup from 'mediasoup';
import {
  startSignalingMesh,
  wsUrlOf,
  type SignalingMesh,
} from '../../test/helpers/signaling-mesh.js';
import type { SfuNodeInfo, SfuNodePlace } from './messages.js';

const UNLIMITED = 1_000_000;
/** The default heartbeat, not the tests' 200 ms (see above). */
const HEARTBEAT_INTERVAL_MS = 1_000;

/** Lines under `signaling:` for the control plane (which pushes them) and every node. */
const SIGNALING_LINES = [
  `  maxPeersPerRoom: 1000`,
  `  maxPeersPerNode: 1000`,
  '  connections:',
  `    maxConnections: ${UNLIMITED}`,
  `    maxPerSource: ${UNLIMITED}`,
  `    requestsPerSecondPerSource: ${UNLIMITED}`,
  `    requestBurstPerSource: ${UNLIMITED}`,
  '  budgets:',
  ...['webSockets', 'rooms', 'transports', 'sessions'].map(
    (budget) => `    ${budget}: { total: ${UNLIMITED}, perSource: ${UNLIMITED} }`,
  ),
];

export interface MeshSfu {
  readonly nodes: readonly SfuNodeInfo[];
  close(): Promise<void>;
}

export async function startMeshSfu(places: readonly SfuNodePlace[]): Promise<MeshSfu> {
  const workerPids: number[] = [];
  const onWorker = (worker: mediasoup.types.Worker): void => {
    workerPids.push(worker.pid);
  };
  mediasoup.observer.on('newworker', onWorker);
  let mesh: SignalingMesh;
  try {
    mesh = await startSignalingMesh({
      prefix: 'bench-sfu',
      nodes: places.map((place, i) => ({
        id: `sfu-${String.fromCharCode(97 + i)}`,
        host: place.host,
        rtcPorts: [place.rtcMinPort, place.rtcMaxPort] as const,
      })),
      signaling: SIGNALING_LINES,
      logLevel: process.env['BENCH_SFU_MESH_LOG'] ?? 'silent',
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    });
  } finally {
    mediasoup.observer.off('newworker', onWorker);
  }
  if (workerPids.length !== places.length) {
    await mesh.close();
    throw new Error(`expected ${places.length} mediasoup workers, saw ${workerPids.length}`);
  }
  return {
    nodes: mesh.nodes.map((node, i) => ({
      id: node.id,
      workerPid: workerPids[i] ?? 0,
      url: wsUrlOf(node),
    })),
    close: () => mesh.close(),
  };
}
