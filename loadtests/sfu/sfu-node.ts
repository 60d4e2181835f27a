/**
 * The SFU under test, a child process of run.ts with ONE mediasoup worker
 * (so every figure is per worker):
 *
 *   streammesh  what `streammesh up` runs for signaling.workers: 1 without the
 *               mesh membership: WorkerPool, SignalingServer (WebSocket
 *               protocol, rooms, per-peer limits from the config defaults,
 *               notifications) and the media stats sampler (getStats of every
 *               producer and consumer every 2 s), with the census it reads.
 *   bare        one mediasoup Worker and the bare RPC of bare-rpc.ts.
 *   one-node,   (--nodes 2) an in-process control plane and one or two
 *   two-nodes   signaling nodes with the cascade, one worker each
 *               (mesh-sfu.ts).
 *
 * Once up it says 'ready', and answers 'info' with its pid and, per node,
 * the worker's pid and the URL clients use.
 */
import * as mediasoup from 'mediasoup';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { formatHostPort } from '../../src/shared/address.js';
import { meshConfigSchema } from '../../src/config/index.js';
import { roomMediaCodecs } from '../../signaling/server/codecs.js';
import { SignalingServer } from '../../signaling/server/index.js';
import { WorkerPool, installCensus } from '../../signaling/sfu/index.js';
import { MediaStatsCollector } from '../../signaling/stats/index.js';
import { BareSfu } from './bare-rpc.js';
import { startMeshSfu } from './mesh-sfu.js';
import {
  CHILD_MAX_LIFETIME_MS,
  type SfuNodeConfig,
  type SfuNodePlace,
  type SfuNodeReady,
} from './messages.js';

const config = JSON.parse(process.argv[2] ?? '{}') as SfuNodeConfig;
const log = pino({ level: 'warn' });
const closers: (() => Promise<void>)[] = [];
/** The streammesh and bare sides run one node: the first (and only) place. */
const place: SfuNodePlace = config.nodes[0] ?? { host: '127.0.0.1', rtcMinPort: 0, rtcMaxPort: 0 };

async function startStreammesh(): Promise<SfuNodeReady> {
  const defaults = meshConfigSchema.parse({}).signaling;
  installCensus();
  const pool = await WorkerPool.create({
    size: 1,
    rtcMinPort: place.rtcMinPort,
    rtcMaxPort: place.rtcMaxPort,
    log,
  });
  closers.push(() => pool.close());
  const server = await SignalingServer.start({
    listen: { host: place.host, port: 0 },
    pool,
    maxPeersPerRoom: defaults.maxPeersPerRoom,
    rtc: {
      listenIp: place.host,
      maxIncomingBitrate: defaults.peerLimits.incomingBitrate,
    },
    peerLimits: defaults.peerLimits,
    log,
    metrics: new Registry(),
  });
  closers.unshift(() => server.close());
  const stats = new MediaStatsCollector({ log });
  stats.start();
  closers.unshift(() => {
    stats.stop();
    return Promise.resolve();
  });
  const worker = pool.workers[0];
  if (worker === undefined) throw new Error('the pool started no worker');
  const url = `ws://${formatHostPort(server.address)}/ws`;
  return {
    type: 'info',
    pid: process.pid,
    nodes: [{ id: 'streammesh', workerPid: worker.pid, url }],
  };
}

async function startBare(): Promise<SfuNodeReady> {
  const worker = await mediasoup.createWorker({
    logLevel: 'warn',
    rtcMinPort: place.rtcMinPort,
    rtcMaxPort: place.rtcMaxPort,
  });
  closers.push(() => {
    worker.close();
    return Promise.resolve();
  });
  const sfu = await BareSfu.start(worker, [...roomMediaCodecs]);
  closers.unshift(() => sfu.close());
  return {
    type: 'info',
    pid: process.pid,
    nodes: [{ id: 'bare', workerPid: worker.pid, url: sfu.url }],
  };
}

async function startMesh(): Promise<SfuNodeReady> {
  const mesh = await startMeshSfu(config.nodes);
  closers.push(() => mesh.close());
  return { type: 'info', pid: process.pid, nodes: mesh.nodes };
}

async function start(): Promise<SfuNodeReady> {
  switch (config.side) {
    case 'streammesh':
      return startStreammesh();
    case 'bare':
      return startBare();
    case 'one-node':
    case 'two-nodes':
      return startMesh();
  }
}

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const close of closers) await close().catch(() => undefined);
  process.exit(0);
}

let ready: SfuNodeReady | undefined;
process.on('message', (message: { type: string }) => {
  if (message.type === 'info' && ready !== undefined) process.send?.(ready);
  if (message.type === 'exit') void shutdown();
});
process.on('disconnect', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
setTimeout(() => void shutdown(), CHILD_MAX_LIFETIME_MS).unref();

try {
  ready = await start();
  process.send?.({ type: 'ready', pid: process.pid });
} catch (error) {
  process.stderr.write(`sfu-node (${config.side}) failed: ${String(error)}\n`);
  process.exit(1);
}
