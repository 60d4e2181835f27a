/**
 * The SFU of `bench:sfu --nodes 2`: an in-process control plane (mutual TLS,
 * as by default) and one or two signaling nodes, each on its own loopback
 * address with one mediasoup worker, with the config `up` gives each node
 * (its own SPIFFE ID from its service account in signaling.instances), as
 * the cascade tests start them (test/helpers/signaling-mesh.ts) but at the
 * default heartbeat (1 s): the tests' 200 ms makes the control plane find a
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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mediasoup from 'mediasoup';
import { parseConfigText } from '../../src/config/index.js';
import { startControlPlane } from '../../src/control-plane/index.js';
import { formatHostPort } from '../../src/shared/address.js';
import { AdminCredentials } from '../../src/shared/admin/index.js';
import { createLogger } from '../../src/shared/log.js';
import { startSignaling, type RunningSignaling } from '../../signaling/index.js';
import { newAdminToken } from '../../test/helpers/admin-token.js';
import { freePort } from '../../test/helpers/ports.js';
import type { SfuNodeInfo, SfuNodePlace } from './messages.js';

const UNLIMITED = 1_000_000;

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

/** The config text of the control plane (node undefined) or of one node, as `up` writes it. */
function configText(
  dir: string,
  level: string,
  grpcPort: number,
  nodes: readonly (SfuNodePlace & { id: string })[],
  node?: SfuNodePlace & { id: string },
): string {
  return [
    `logLevel: ${level}`,
    'controlPlane:',
    '  admin: 127.0.0.1:0',
    `  grpc: 127.0.0.1:${grpcPort}`,
    '  trustDomain: mesh.test',
    `  adminTokenFile: ${join(dir, 'state', 'admin-token')}`,
    `  bootstrapTokenFile: ${join(dir, 'state', 'bootstrap-token')}`,
    `  ca: { dir: ${join(dir, 'ca')} }`,
    'signaling:',
    ...SIGNALING_LINES,
    ...(node === undefined
      ? ['  admin: 127.0.0.1:0', '  listen: 127.0.0.1:0', '  cascade: { listen: 127.0.0.1:0 }']
      : [
          `  id: ${node.id}`,
          `  admin: ${node.host}:0`,
          `  listen: ${node.host}:0`,
          `  rtcListenIp: ${node.host}`,
          `  rtcPorts: { start: ${node.rtcMinPort}, end: ${node.rtcMaxPort} }`,
          '  workers: 1',
          `  cascade: { listen: ${node.host}:0 }`,
        ]),
    '  instances:',
    ...nodes.map(
      (entry) => `    - { id: ${entry.id}, host: ${entry.host}, serviceAccount: ${entry.id} }`,
    ),
  ].join('\n');
}

export async function startMeshSfu(places: readonly SfuNodePlace[]): Promise<MeshSfu> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-sfu-'));
  const level = process.env['BENCH_SFU_MESH_LOG'] ?? 'silent';
  const logger = (name: string) => createLogger(name, level === 'silent' ? 'silent' : 'info');
  const nodes = places.map((place, i) => ({ ...place, id: `sfu-${String.fromCharCode(97 + i)}` }));
  const grpcPort = await freePort();
  const plane = await startControlPlane({
    config: parseConfigText(configText(dir, level, grpcPort, nodes), 'control plane'),
    env: { XDG_STATE_HOME: join(dir, 'xdg') },
    log: logger('control-plane'),
    credentials: AdminCredentials.ofToken(newAdminToken()),
    // Rooms are placed (and pipes planned) soon after the nodes register.
    placementGraceMs: 300,
  });
  const running: RunningSignaling[] = [];
  const workerPids: number[] = [];
  const onWorker = (worker: mediasoup.types.Worker): void => {
    workerPids.push(worker.pid);
  };
  const close = async (): Promise<void> => {
    for (const node of running) await node.close();
    await plane.close();
    rmSync(dir, { recursive: true, force: true });
  };
  mediasoup.observer.on('newworker', onWorker);
  try {
    for (const node of nodes) {
      const config = parseConfigText(configText(dir, level, grpcPort, nodes, node), node.id);
      running.push(await startSignaling(config, logger(node.id)));
    }
    await Promise.all(running.map((node) => node.serving()));
    if (workerPids.length !== places.length) {
      throw new Error(`expected ${places.length} mediasoup workers, saw ${workerPids.length}`);
    }
  } catch (error) {
    await close();
    throw error;
  } finally {
    mediasoup.observer.off('newworker', onWorker);
  }
  return {
    nodes: running.map((node, i) => ({
      id: node.id,
      workerPid: workerPids[i] ?? 0,
      url: `ws://${formatHostPort(node.listen)}/ws`,
    })),
    close,
  };
}
