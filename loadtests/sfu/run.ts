/**
 * `npm run bench:sfu`: consumers per mediasoup worker at <= 1% loss, through
 * streammesh's signaling node and, side by side in the same run, through
 * mediasoup driven directly (the baseline; see bare-rpc.ts).
 *
 *   streammesh  werift peers -> WebSocket protocol -> SignalingServer + WorkerPool(1) + stats
 *   bare        werift peers -> bare JSON RPC -> mediasoup Worker (one)
 *
 * Load: rooms of P werift publishers and S werift subscribers; each
 * subscriber's one PeerConnection (one recv transport) consumes all P
 * producers of its room, so a room holds P x S consumers. Every publisher
 * sends the same GStreamer VP8 stream (one encoder, RTP fanned into every
 * publisher; ~300 kbit/s, ~34 packets/s). Generators are child processes
 * (generator.ts) holding whole rooms; the SFU is a child process of its own
 * (sfu-node.ts) with one worker.
 *
 * For each side, the ramp adds rooms until the total consumers reach each
 * step (20, 60, 100, 200, ... by default), waits for the new consumers'
 * first packets (warm-up), then over a fixed window counts every
 * consumer's packets and loss from RTP sequence numbers at the subscribers,
 * and samples the CPU (/proc/<pid>/stat) of the worker, the Node process
 * around it, the generators and the source. A step is served when loss is
 * <= 1%, every consumer started and none stalled. A side's ramp ends at
 * its first step not served. A step where the busiest generator is above
 * 90% of a core (or the machine above 95% busy) is marked generator-
 * saturated: there the load generator, not mediasoup, is the limit.
 *
 * --nodes 2: the same ramp on two other sides, both a mesh (an in-process
 * control plane with signaling nodes on their own loopback addresses, one
 * worker each, mesh-sfu.ts): `one-node` (node A alone) and `two-nodes` (A
 * and B, the cascade): publishers join on A, subscribers alternate A, B,
 * so every room spans both nodes and each producer is piped to B once.
 * Per step, the workers' CPU of both against one at the same load gives
 * the cascade's cost per piped producer. Before the two-node ramp, with no
 * load, cascade-latency.ts times a new producer on A reaching a
 * participant on B (newProducer, first RTP) next to one on A. Both nodes'
 * workers share the machine's cores with each other and the load: this
 * measures the cascade's overhead, not scale-out. Results in
 * sfu-cascade.json and sfu-cascade.svg.
 *
 * Output: loadtests/results/sfu.json and sfu.svg, and a table on stdout.
 * Options: --quick (two small steps, 4 s windows, no wait for a quiet
 * machine: under a minute), --steps 20,60,..., --publishers P,
 * --subscribers S, --generators G, --concurrency ROOMS, --warmup-ms MS,
 * --measure-ms MS, --bitrate KBPS, --max-loss PERCENT, --quiet-wait-ms MS
 * (0: measure at once), --sides streammesh,bare (or one-node,two-nodes),
 * --nodes 2, --latency-trials N (0: none), --max-minutes M (hard bound: no
 * step starts after it; partial results are still written), --out DIR.
 * Environment: BENCH_SFU_QUICK=1 is --quick.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { errorMessage } from '../../src/shared/errors.js';
import { peerPid, stopAllPeers } from '../../test/helpers/peers/process.js';
import { startVideoSource } from '../../test/helpers/peers/werift-signaling.js';
import { int, log, runBench } from '../common/cli.js';
import { commandLine, machineInfo } from '../common/machine.js';
import { forkChild, type Child } from '../rtp/children.js';
import { coresUsed, cpuSample, type CpuSample } from '../rtp/cpu.js';
import { formattedJson } from '../rtp/report.js';
import { median, round } from '../rtp/stats.js';
import { systemSample, systemWindow, type SystemSample } from '../rtsp/system.js';
import { repoRoot, sleep } from '../rtsp/targets.js';
import { cascadeLatency, type LatencyResult } from './cascade-latency.js';
import type {
  AllClosed,
  GeneratorConfig,
  GeneratorPort,
  GeneratorSnapshot,
  RoomsAdded,
  SfuNodeConfig,
  SfuNodePlace,
  SfuNodeReady,
  SideName,
} from './messages.js';
import { chartSvg, resultTable } from './report.js';
import { socketDrops, type SocketDrops } from './socket-drops.js';
import {
  cascadeComparison,
  finalAttempts,
  type BenchParameters,
  type BenchResults,
  type CpuWindow,
  type FailedBy,
  type Saturated,
  type SideSummary,
  type StepResult,
} from './results.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: process.env['BENCH_SFU_QUICK'] === '1' },
    steps: { type: 'string' },
    publishers: { type: 'string' },
    subscribers: { type: 'string' },
    generators: { type: 'string' },
    concurrency: { type: 'string' },
    'warmup-ms': { type: 'string' },
    'measure-ms': { type: 'string' },
    bitrate: { type: 'string' },
    'max-loss': { type: 'string' },
    'quiet-wait-ms': { type: 'string' },
    sides: { type: 'string' },
    nodes: { type: 'string' },
    'latency-trials': { type: 'string' },
    'max-minutes': { type: 'string' },
    out: { type: 'string' },
  },
});

const quick = args.quick;
const nodeCount = int(args.nodes, 1, 1, 2);
const SIDES: readonly SideName[] =
  nodeCount === 2 ? ['one-node', 'two-nodes'] : ['streammesh', 'bare'];
const parameters: BenchParameters = {
  nodes: nodeCount,
  steps: (args.steps ?? (quick ? '10,30' : '20,60,100,200,300,400,450,500,550,600,700,800,1000'))
    .split(',')
    .map((n) => int(n, 20, 1, 5_000))
    .sort((a, b) => a - b),
  publishersPerRoom: int(args.publishers, quick ? 2 : 4, 1, 4),
  subscribersPerRoom: int(args.subscribers, 5, 1, 40),
  generators: int(args.generators, 2, 1, 8),
  roomConcurrency: int(args.concurrency, 3, 1, 16),
  warmupMs: int(args['warmup-ms'], quick ? 2_000 : 3_000, 0, 60_000),
  measureMs: int(args['measure-ms'], quick ? 4_000 : 10_000, 1_000, 120_000),
  maxLossPercent: Number(args['max-loss'] ?? 1),
  quietWaitMs: int(args['quiet-wait-ms'], quick ? 0 : 30_000, 0, 300_000),
  source: {
    codec: 'VP8',
    size: '320x240',
    fps: 30,
    bitrateKbps: int(args.bitrate, 300, 50, 5_000),
  },
  maxMinutes: Number(args['max-minutes'] ?? (quick ? 2 : 12)),
  sides: (args.sides ?? SIDES.join(','))
    .split(',')
    .filter((name): name is SideName => (SIDES as readonly string[]).includes(name)),
  latencyTrials: nodeCount === 2 ? int(args['latency-trials'], quick ? 10 : 50, 0, 500) : 0,
};
if (!(parameters.maxMinutes > 0 && parameters.maxMinutes <= 120)) {
  throw new Error(`--max-minutes: expected a number in (0, 120], got "${args['max-minutes']}"`);
}
if (!(parameters.maxLossPercent >= 0 && parameters.maxLossPercent <= 100)) {
  throw new Error(`--max-loss: expected a percentage, got "${args['max-loss']}"`);
}
const outDir = args.out ?? join(repoRoot, 'loadtests', 'results');
const startedAt = Date.now();
const deadline = startedAt + parameters.maxMinutes * 60_000;
const cores = cpus().length;
/**
 * Each side's nodes: host and their one worker's RTC ports, below the
 * ephemeral range the werift peers bind in. The mesh nodes are on loopback
 * addresses of their own, as `up` runs signaling.instances.
 */
const PLACES: Record<SideName, readonly SfuNodePlace[]> = {
  streammesh: [{ host: '127.0.0.1', rtcMinPort: 21_000, rtcMaxPort: 22_999 }],
  bare: [{ host: '127.0.0.1', rtcMinPort: 23_000, rtcMaxPort: 24_999 }],
  'one-node': [{ host: '127.0.0.11', rtcMinPort: 25_000, rtcMaxPort: 26_499 }],
  'two-nodes': [
    { host: '127.0.0.11', rtcMinPort: 26_500, rtcMaxPort: 27_999 },
    { host: '127.0.0.12', rtcMinPort: 28_000, rtcMaxPort: 29_499 },
  ],
};
const rtcPorts = (side: SideName): { min: number; max: number }[] =>
  PLACES[side].map((place) => ({ min: place.rtcMinPort, max: place.rtcMaxPort }));
/** Bound on one latency trial (both participants' first packets). */
const LATENCY_TRIAL_MS = 10_000;
/** Latency trials per room: the participants' PeerConnections gain a consumer per trial. */
const LATENCY_TRIALS_PER_ROOM = 10;
/** ICE + DTLS of one werift PeerConnection, loaded. */
const CONNECT_TIMEOUT_MS = 20_000;
/** Saturation thresholds (see Saturated in results.ts). */
const CORE_SATURATED = 0.9;
const LOOP_DELAY_SATURATED_MS = 250;
const MACHINE_SATURATED = 0.95;
/**
 * A step not served while processes outside the benchmark (the machine is
 * shared) used this many cores is measured again, at most MAX_REMEASURES
 * times; every attempt is recorded, the last one counts.
 */
const CONTENDED_CORES = 0.25;
const MAX_REMEASURES = 2;
/** Before each window: probes of other processes' CPU (see waitForQuiet). */
const QUIET_PROBE_MS = 2_000;

interface Sample {
  readonly at: number;
  readonly snapshots: readonly GeneratorSnapshot[];
  /** Each node's worker, in the side's order. */
  readonly workers: readonly (CpuSample | undefined)[];
  readonly node: CpuSample | undefined;
  readonly generators: readonly (CpuSample | undefined)[];
  readonly source: CpuSample | undefined;
  readonly driver: CpuSample;
  readonly system: SystemSample;
  readonly drops: SocketDrops;
}

interface Rig {
  readonly generators: readonly Child[];
  readonly sourcePid: number | undefined;
}

interface SfuNode {
  readonly side: SideName;
  readonly child: Child;
  readonly ready: SfuNodeReady;
}

function safeCpu(pid: number | undefined): CpuSample | undefined {
  if (pid === undefined) return undefined;
  try {
    return cpuSample(pid);
  } catch {
    return undefined;
  }
}

async function sample(rig: Rig, node: SfuNode): Promise<Sample> {
  const snapshots = await Promise.all(
    rig.generators.map((g) =>
      g.request<GeneratorSnapshot>({ type: 'snapshot' }, 'snapshot', 10_000),
    ),
  );
  return {
    at: performance.now(),
    snapshots,
    workers: node.ready.nodes.map((n) => safeCpu(n.workerPid)),
    node: safeCpu(node.ready.pid),
    generators: rig.generators.map((g) => safeCpu(g.pid)),
    source: safeCpu(rig.sourcePid),
    driver: cpuSample(process.pid),
    system: systemSample(),
    drops: socketDrops(rtcPorts(node.side)),
  };
}

async function startNode(side: SideName): Promise<SfuNode> {
  const config: SfuNodeConfig = { side, nodes: PLACES[side] };
  // A mesh takes a free port for its control plane's gRPC, which another
  // process on the shared machine may take first: one more try then.
  const child = await forkChild('../sfu/sfu-node.js', config, 60_000).catch((error: unknown) => {
    log(`${side}: the SFU did not start (${errorMessage(error)}); trying once more`);
    return forkChild('../sfu/sfu-node.js', config, 60_000);
  });
  const ready = await child.request<SfuNodeReady>({ type: 'info' }, 'info', 10_000);
  return { side, child, ready };
}

async function main(): Promise<void> {
  log(`bench:sfu ${JSON.stringify(parameters)}`);
  const errors: string[] = [];
  const steps: StepResult[] = [];
  const endedBy = new Map<SideName, SideSummary['endedBy']>();
  let stoppedBy: string | null = null;
  let latency: LatencyResult | null = null;
  const generators: Child[] = [];
  try {
    const idle = await idleMachineBusy();
    log(`machine before the run: ${idle} of ${cores} cores busy`);
    const generatorConfig = (index: number): GeneratorConfig => ({
      index,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    });
    for (let i = 0; i < parameters.generators; i += 1) {
      generators.push(await forkChild('../sfu/generator.js', generatorConfig(i)));
    }
    const ports = await Promise.all(
      generators.map(async (g) => {
        const reply = await g.request<GeneratorPort>({ type: 'port' }, 'port', 5_000);
        return reply.port;
      }),
    );
    const [width, height] = parameters.source.size.split('x').map(Number);
    const source = startVideoSource({
      codec: 'VP8',
      ports,
      bitrateKbps: parameters.source.bitrateKbps,
      fps: parameters.source.fps,
      ...(width === undefined ? {} : { width }),
      ...(height === undefined ? {} : { height }),
      timeoutMs: parameters.maxMinutes * 60_000 + 180_000,
    });
    await sleep(1_000);
    const rig: Rig = { generators, sourcePid: peerPid(source) };
    const sourcePps = await measureSource(rig);
    log(`source: GStreamer VP8 (pid ${rig.sourcePid ?? '-'}), ${sourcePps} packets/s`);
    if (sourcePps <= 0) throw new Error(`the RTP source sends nothing:\n${source.stderr()}`);

    for (const [index, side] of parameters.sides.entries()) {
      // Each side gets an equal share of the time left, so the last one is not starved.
      const sideDeadline = Date.now() + (deadline - Date.now()) / (parameters.sides.length - index);
      if (Date.now() > deadline) {
        stoppedBy = `the ${parameters.maxMinutes} min bound`;
        endedBy.set(side, 'time');
        continue;
      }
      let node: SfuNode | undefined;
      try {
        node = await startNode(side);
        const workers = node.ready.nodes.map((n) => `${n.id} ${n.workerPid}`).join(', ');
        log(`${side}: node pid ${node.ready.pid}, worker pids ${workers}`);
        const [a, b] = node.ready.nodes;
        if (parameters.latencyTrials > 0 && a !== undefined && b !== undefined) {
          latency = await measureLatency(a.url, b.url, sideDeadline);
        }
        endedBy.set(side, await ramp(rig, node, sourcePps, sideDeadline, steps));
        if (endedBy.get(side) === 'time') stoppedBy = `the ${parameters.maxMinutes} min bound`;
      } catch (error) {
        errors.push(`${side}: ${errorMessage(error)}`);
        log(`${side} failed: ${errorMessage(error)}`);
        endedBy.set(side, 'error');
      } finally {
        const closed = await Promise.all(
          generators.map((g) =>
            g.request<AllClosed>({ type: 'closeAll' }, 'closeAll', 120_000).catch(() => undefined),
          ),
        );
        log(`${side}: closed ${closed.reduce((sum, c) => sum + (c?.closed ?? 0), 0)} peers`);
        await node?.child.stop();
      }
    }

    const results = summarize(idle, steps, endedBy, stoppedBy, errors, latency);
    mkdirSync(outDir, { recursive: true });
    const name = nodeCount === 2 ? 'sfu-cascade' : 'sfu';
    const jsonFile = join(outDir, `${name}.json`);
    writeFileSync(jsonFile, await formattedJson(jsonFile, results));
    writeFileSync(join(outDir, `${name}.svg`), chartSvg(results));
    process.stdout.write(`${resultTable(results)}\n`);
    log(`wrote ${jsonFile} and ${name}.svg in ${round((Date.now() - startedAt) / 1000)} s`);
  } finally {
    for (const child of generators) await child.stop().catch(() => undefined);
    await stopAllPeers();
  }
}

/** The cascade latency trials (cascade-latency.ts), in this process, before the two-node ramp. */
async function measureLatency(urlA: string, urlB: string, until: number): Promise<LatencyResult> {
  log(
    `two-nodes: ${parameters.latencyTrials} latency trials per node (a new producer on A, consumed on A or B)`,
  );
  const result = await cascadeLatency({
    urlA,
    urlB,
    trials: parameters.latencyTrials,
    trialsPerRoom: LATENCY_TRIALS_PER_ROOM,
    trialTimeoutMs: LATENCY_TRIAL_MS,
    deadline: until,
  });
  const { newProducerMs: np, consumeAnsweredMs: answer, firstRtpMs: rtp } = result;
  const adds = result.cascadeAddsMs;
  const pair = (d: { p50: number | null; p99: number | null }): string => `${d.p50}/${d.p99}`;
  log(
    `  ${result.trials.length} trials (${result.incomplete} incomplete), p50/p99 ms: newProducer ` +
      `A ${pair(np.a)}, B ${pair(np.b)} (B-A ${pair(adds.newProducer)}); consume answered ` +
      `A ${pair(answer.a)}, B ${pair(answer.b)}; first RTP A ${pair(rtp.a)}, B ${pair(rtp.b)}` +
      (result.errors.length > 0 ? `; errors: ${result.errors.join('; ')}` : ''),
  );
  return result;
}

/** Packets/s of the shared source as the first generator receives it, over 2 s. */
async function measureSource(rig: Rig): Promise<number> {
  const first = rig.generators[0];
  if (first === undefined) return 0;
  const count = async (): Promise<number> =>
    (await first.request<GeneratorSnapshot>({ type: 'snapshot' }, 'snapshot', 5_000)).sourcePackets;
  const before = await count();
  const t0 = performance.now();
  await sleep(2_000);
  return round(((await count()) - before) / ((performance.now() - t0) / 1000), 1);
}

/** One side's ramp; returns why it ended. */
async function ramp(
  rig: Rig,
  node: SfuNode,
  sourcePps: number,
  sideDeadline: number,
  steps: StepResult[],
): Promise<SideSummary['endedBy']> {
  const { side } = node;
  const perRoom = parameters.publishersPerRoom * parameters.subscribersPerRoom;
  let rooms = 0;
  for (const target of parameters.steps) {
    if (Date.now() > sideDeadline) return 'time';
    const wanted = Math.max(1, Math.ceil(target / perRoom));
    if (wanted <= rooms) continue;
    const names = Array.from({ length: wanted - rooms }, (_, i) => `${side}-${rooms + i}`);
    const count = rig.generators.length;
    const setupStarted = performance.now();
    const added = await Promise.all(
      rig.generators.map((g, gi) => {
        const mine = names.filter((_, k) => (rooms + k) % count === gi);
        const timeoutMs =
          Math.ceil(mine.length / parameters.roomConcurrency) * 2 * CONNECT_TIMEOUT_MS + 30_000;
        return g.request<RoomsAdded>(
          {
            type: 'addRooms',
            side,
            url: node.ready.nodes[0]?.url ?? '',
            subscriberUrls: node.ready.nodes.map((n) => n.url),
            rooms: mine,
            publishers: parameters.publishersPerRoom,
            subscribers: parameters.subscribersPerRoom,
            concurrency: parameters.roomConcurrency,
          },
          'addRooms',
          timeoutMs,
        );
      }),
    );
    rooms = wanted;
    const setupMs = Math.round(performance.now() - setupStarted);
    const failedRooms = added.reduce((sum, a) => sum + a.failedRooms, 0);
    const setupErrors = [...new Set(added.flatMap((a) => a.errors))];
    log(
      `${side}: ${rooms} rooms (${rooms * perRoom} consumers) set up in ${setupMs} ms` +
        (failedRooms > 0 ? `, ${failedRooms} failed: ${setupErrors.join('; ')}` : ''),
    );
    await sleep(parameters.warmupMs);
    let step: StepResult | undefined;
    for (let attempt = 1; attempt <= 1 + MAX_REMEASURES; attempt += 1) {
      const quietWaitMs = await waitForQuiet(rig, node);
      const a = await sample(rig, node);
      await sleep(parameters.measureMs);
      const b = await sample(rig, node);
      step = {
        ...measureStep(side, rooms, a, b, sourcePps, { setupMs, failedRooms, setupErrors }),
        attempt,
        quietWaitMs,
      };
      steps.push(step);
      logStep(step);
      if (step.served || step.cpu.others < CONTENDED_CORES || Date.now() > sideDeadline) break;
      log(`  other processes used ${step.cpu.others} cores: measuring this step again`);
    }
    if (step?.served !== true) return 'not served';
  }
  return 'steps';
}

/**
 * Waits (at most --quiet-wait-ms) until processes outside the benchmark use
 * less than CONTENDED_CORES over a 2 s probe: the machine is shared, and a
 * window measured while someone else builds or tests says little about the
 * SFU. Returns how long it waited.
 */
async function waitForQuiet(rig: Rig, node: SfuNode): Promise<number> {
  const started = performance.now();
  while (parameters.quietWaitMs > 0) {
    const workerPids = node.ready.nodes.map((n) => n.workerPid);
    const pids = [...workerPids, node.ready.pid, rig.sourcePid, process.pid];
    const processes = [...pids, ...rig.generators.map((g) => g.pid)];
    const before = processes.map(safeCpu);
    const system = systemSample();
    await sleep(QUIET_PROBE_MS);
    const ours = processes
      .map((pid, i) => {
        const a = before[i];
        const b = safeCpu(pid);
        return a === undefined || b === undefined ? 0 : coresUsed(a, b);
      })
      .reduce((sum, cores) => sum + cores, 0);
    const window = systemWindow(system, systemSample(), cores);
    const others = window.busyCores - window.softirqCores - ours;
    const waited = performance.now() - started;
    if (others < CONTENDED_CORES || waited >= parameters.quietWaitMs) return Math.round(waited);
  }
  return 0;
}

function logStep(step: StepResult): void {
  log(
    `  ${step.side} ${step.consumers} consumers: ${step.served ? 'served' : `NOT served (${step.failedBy.join(', ')})`}; ` +
      `loss ${step.lossPercent}%, not started ${step.notStarted}, stalled ${step.stalled}, ` +
      `consumers closed by the SFU ${step.consumersClosed}; ` +
      `${step.deliveredPps}/${step.expectedPps} pkt/s; cores: worker ${step.cpu.worker} node ${step.cpu.node} ` +
      `generators ${step.cpu.generators} (max ${step.cpu.generatorMax}) machine ${step.cpu.machineBusy} ` +
      `(others ${step.cpu.others}); UDP receive-buffer drops ${step.udpRcvbufErrors} ` +
      `(SFU sockets ${step.socketDrops.sfu}, peers ${step.socketDrops.peers}); softirq ${step.cpu.softirq}; ` +
      `generator loop delay p99 ${step.generatorLoopDelayMs.p99} ms, max ${step.generatorLoopDelayMs.max} ms; ` +
      `waited ${step.quietWaitMs} ms for a quiet machine` +
      (step.saturated.length > 0 ? ` [saturated: ${step.saturated.join(', ')}]` : ''),
  );
}

function measureStep(
  side: SideName,
  rooms: number,
  a: Sample,
  b: Sample,
  sourcePps: number,
  setup: Pick<StepResult, 'setupMs' | 'failedRooms' | 'setupErrors'>,
): Omit<StepResult, 'attempt' | 'quietWaitMs'> {
  const windowMs = Math.round(b.at - a.at);
  let consumers = 0;
  let notStarted = 0;
  let stalled = 0;
  let received = 0;
  let expected = 0;
  let lost = 0;
  b.snapshots.forEach((after, g) => {
    const before = a.snapshots[g];
    after.received.forEach((got, i) => {
      consumers += 1;
      const was = before?.received[i] ?? 0;
      if (was === 0) {
        notStarted += 1;
        return;
      }
      const gotten = got - was;
      const due = (after.expected[i] ?? 0) - (before?.expected[i] ?? 0);
      if (gotten <= 0) stalled += 1;
      received += gotten;
      expected += Math.max(due, gotten);
      lost += Math.max(0, due - gotten);
    });
  });
  const used = (x: CpuSample | undefined, y: CpuSample | undefined): number =>
    x === undefined || y === undefined ? Number.NaN : round(coresUsed(x, y), 3);
  const generatorCores = b.generators.map((after, i) => used(a.generators[i], after));
  const workerCores = b.workers.map((after, i) => used(a.workers[i], after));
  const system = systemWindow(a.system, b.system, cores);
  const cpu = {
    worker: round(
      workerCores.reduce((sum, c) => sum + c, 0),
      3,
    ),
    workers: workerCores,
    node: used(a.node, b.node),
    generators: round(
      generatorCores.reduce((sum, c) => sum + c, 0),
      3,
    ),
    generatorMax: round(Math.max(...generatorCores), 3),
    source: used(a.source, b.source),
    driver: used(a.driver, b.driver),
    machineBusy: round(system.busyCores, 3),
    softirq: round(system.softirqCores, 3),
  };
  const ours = [cpu.worker, cpu.node, cpu.generators, cpu.source, cpu.driver]
    .filter(Number.isFinite)
    .reduce((sum, c) => sum + c, 0);
  const loopDelayMs = {
    p99: Math.max(...b.snapshots.map((snapshot) => snapshot.loopDelayMs.p99)),
    max: Math.max(...b.snapshots.map((snapshot) => snapshot.loopDelayMs.max)),
  };
  const lossPercent = expected === 0 ? 0 : round((lost / expected) * 100, 3);
  const failedBy: FailedBy[] = [];
  if (setup.failedRooms > 0) failedBy.push('setup');
  if (lossPercent > parameters.maxLossPercent) failedBy.push('loss');
  if (notStarted > 0) failedBy.push('start');
  if (stalled > 0) failedBy.push('stall');
  const seconds = windowMs / 1000;
  // The source's rate over this window, as the first generator received it.
  const sourceDelta = (b.snapshots[0]?.sourcePackets ?? 0) - (a.snapshots[0]?.sourcePackets ?? 0);
  const windowSourcePps = sourceDelta > 0 ? round(sourceDelta / seconds, 1) : sourcePps;
  // A room's producers are piped to B when one of its subscribers is there (subscriber 1 on).
  const piped = side === 'two-nodes' && parameters.subscribersPerRoom > 1;
  return {
    side,
    rooms,
    producers: rooms * parameters.publishersPerRoom,
    pipedProducers: piped ? rooms * parameters.publishersPerRoom : 0,
    consumers,
    ...setup,
    notStarted,
    stalled,
    consumersClosed: sum(b.snapshots, (x) => x.consumersClosed),
    windowMs,
    received,
    expected,
    lost,
    lossPercent,
    deliveredPps: round(received / seconds, 0),
    expectedPps: round(windowSourcePps * consumers, 0),
    sourcePps: windowSourcePps,
    cpu: { ...cpu, others: round(Math.max(0, cpu.machineBusy - cpu.softirq - ours), 3) },
    workerMillicoresPerConsumer: consumers === 0 ? 0 : round((cpu.worker / consumers) * 1000, 3),
    udpRcvbufErrors: system.udpRcvbufErrors,
    generatorLoopDelayMs: loopDelayMs,
    socketDrops: { sfu: b.drops.sfu - a.drops.sfu, peers: b.drops.others - a.drops.others },
    saturated: saturation(cpu, loopDelayMs.p99),
    served: failedBy.length === 0,
    failedBy,
  };
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}

function saturation(cpu: Omit<CpuWindow, 'others'>, loopDelayP99: number): Saturated[] {
  const saturated: Saturated[] = [];
  if (cpu.workers.some((worker) => worker >= CORE_SATURATED)) saturated.push('worker');
  if (cpu.generatorMax >= CORE_SATURATED || loopDelayP99 >= LOOP_DELAY_SATURATED_MS) {
    saturated.push('generator');
  }
  if (cpu.machineBusy >= MACHINE_SATURATED * cores) saturated.push('machine');
  return saturated;
}

/** Cores busy over 3 s with nothing of ours running. */
async function idleMachineBusy(): Promise<number> {
  const before = systemSample();
  await sleep(3_000);
  return round(systemWindow(before, systemSample(), cores).busyCores, 3);
}

const CASCADE_METHOD = [
  '--nodes 2: both sides are a mesh in one child process: an in-process control plane (mutual TLS) and signaling nodes as `up` runs signaling.instances (test/helpers/signaling-mesh.ts), each on its own loopback address with one mediasoup worker; budgets for anonymous clients lifted (every peer comes from 127.0.0.1). one-node: node A (127.0.0.11) alone. two-nodes: A and B (127.0.0.12) with the cascade (signaling/CASCADE.md).',
  'two-nodes load: publishers join on A; subscriber i of a room joins on A when i is even and on B when odd (5 subscribers: 3 on A, 2 on B), and consumes once B has announced every producer of the room; so every room spans both nodes (one PipeTransport pair) and each producer is piped to B once (pipedProducers). one-node: the same rooms, all on A.',
  "Cascade CPU: at each step both sides served, the workers of both nodes minus the one node's worker at the same consumers, per piped producer (millicores; median over steps of >= 100 consumers). The two workers share the same 2 cores with each other, the load generators and the driver: this is the overhead of the cascade (a pipe consumer on A, a pipe producer on B, SRTP on the pipe), not scale-out.",
  "Latency (before the two-node ramp, no load; loadtests/sfu/cascade-latency.ts, in the driver process): per trial a publisher on A with its send transport already connected sends produce (t0); times to A's answer, to newProducer at a participant on A and one on B (both, every trial), and, for the one that consumes at once on that event (A and B in turn, latencyTrials each: one process holds both, so only one does werift work per trial), to its consume answered (on B once piped in), to the end of the consume (werift's SDP, resumeConsumer answered) and to that consumer's first RTP packet. A separate GStreamer VP8 source with every frame a key frame (60 fps), so the wait for a key frame after the consume is one frame (17 ms) at most. Rooms of 10 trials with a warm publisher already piped; p99 is nearest rank (of 50: the largest).",
];

function summarize(
  idle: number,
  steps: readonly StepResult[],
  endedBy: ReadonlyMap<SideName, SideSummary['endedBy']>,
  stoppedBy: string | null,
  errors: readonly string[],
  latency: LatencyResult | null,
): BenchResults {
  const summary: Partial<Record<SideName, SideSummary>> = {};
  for (const side of parameters.sides) {
    const mine = finalAttempts(steps, side);
    const served = mine.filter((s) => s.served);
    const failed = mine.find((s) => !s.served);
    // Worker CPU per consumer, from the served steps big enough to read it (>= 100 consumers).
    const perConsumer = round(
      median(served.filter((s) => s.consumers >= 100).map((s) => s.workerMillicoresPerConsumer)),
      3,
    );
    summary[side] = {
      maxConsumers: served.length === 0 ? null : Math.max(...served.map((s) => s.consumers)),
      firstFailed:
        failed === undefined
          ? null
          : {
              consumers: failed.consumers,
              failedBy: failed.failedBy,
              lossPercent: failed.lossPercent,
              saturated: failed.saturated,
            },
      endedBy: endedBy.get(side) ?? 'error',
      workerMillicoresPerConsumer: perConsumer,
      consumersPerWorkerCore: perConsumer > 0 ? Math.round(1000 / perConsumer) : null,
    };
  }
  // The side compared, and what it is compared with: streammesh / bare, or two nodes / one.
  const [mine, theirs] = nodeCount === 2 ? SIDES.toReversed() : SIDES;
  if (mine === undefined || theirs === undefined) throw new Error('two sides expected');
  const ours = summary[mine]?.maxConsumers ?? null;
  const bare = summary[theirs]?.maxConsumers ?? null;
  const final = [...finalAttempts(steps, mine), ...finalAttempts(steps, theirs)];
  const bothServed = final
    .filter((s) => s.side === mine && s.served)
    .map((s) => s.consumers)
    .filter((n) => final.some((s) => s.side === theirs && s.served && s.consumers === n));
  const commonStep = bothServed.length === 0 ? null : Math.max(...bothServed);
  const at = (side: SideName): StepResult | undefined =>
    final.find((s) => s.side === side && s.consumers === commonStep && s.served);
  const cpuAt = (which: 'worker' | 'node'): Partial<Record<SideName, number>> => {
    const cores: Partial<Record<SideName, number>> = {};
    for (const side of [mine, theirs]) {
      const step = at(side);
      if (step !== undefined) cores[side] = step.cpu[which];
    }
    return cores;
  };
  const ratio = (x: number | undefined, y: number | undefined): number | null =>
    x === undefined || y === undefined || !(y > 0) ? null : round(x / y, 3);
  return {
    benchmark: nodeCount === 2 ? 'sfu-cascade' : 'sfu-consumers-per-worker',
    date: new Date().toISOString(),
    command: `npm run bench:sfu${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    durationSeconds: round((Date.now() - startedAt) / 1000),
    machine: {
      ...machineInfo(repoRoot),
      gstreamer: commandLine('gst-launch-1.0', ['--version']).replace(
        /^gst-launch-1.0 version /,
        '',
      ),
    },
    parameters,
    idleMachineBusy: idle,
    method: [
      'Everything on 127.0.0.1 of one machine: the SFU node (one mediasoup worker), the generators, the RTP source and the driver share its cores.',
      'streammesh: werift peers speak the WebSocket protocol (signaling/PROTOCOL.md) to a SignalingServer with a WorkerPool of size 1, per-peer limits and room size from the config defaults, and the media stats sampler (getStats of every producer and consumer every 2 s), in a Node child process (what `streammesh up` runs for signaling.workers: 1, without the mesh membership).',
      'bare: the same werift peers reach one mediasoup Worker through a bare JSON-over-HTTP RPC (loadtests/sfu/bare-rpc.ts): a Router per room, WebRtcTransports (same listen options, initial outgoing estimate and incoming cap as streammesh), Producers and paused Consumers created with the mediasoup API, nothing else.',
      'Rooms of P werift publishers and S werift subscribers; each subscriber has one PeerConnection and one recv transport consuming all P producers of its room (P x S consumers per room; consumer SDP written with signaling/sdp). Rooms are spread over the generator processes; a generator builds whole rooms.',
      'Media: one GStreamer pipeline (videotestsrc 320x240 30 fps, vp8enc CBR, rtpvp8pay mtu 1200) sends the same RTP to every generator, where each publisher writes it to its werift track (werift rewrites SSRC, sequence numbers and timestamps per sender).',
      'Per step: add rooms up to the step, wait the warm-up (new consumers start at a key frame; one per second), then over the window count per consumer the packets received and the advance of the highest extended RTP sequence number; loss = expected - received (NACK retransmissions that arrive count as received), only consumers that had started.',
      'Served: loss <= maxLossPercent of the packets expected, every consumer started, none stalled (nothing in the window), no room failed to set up. A side ends at its first step not served. The machine may be shared: before each window the driver waits (at most quietWaitMs, probing 2 s at a time) until processes outside the benchmark use < 0.25 cores (quietWaitMs), and a step not served while they still used >= 0.25 cores over its window (cpu.others) is measured again with the same rooms, at most twice; every attempt is in steps, the last one counts.',
      'CPU: utime+stime over the window from /proc/<pid>/stat of the mediasoup worker, the Node process around it (signaling node or bare RPC), each generator, GStreamer and the driver; machine = all cores from /proc/stat, softirq its interrupt and softirq time (loopback packet delivery); others = machine minus softirq and all of these: anything else running on the machine (idleMachineBusy is the machine before the run). A generator is one Node event loop: near 1 core it is saturated, and the load generator (werift SRTP and RTP in JavaScript), not mediasoup, limits the step.',
      ...(nodeCount === 2 ? CASCADE_METHOD : []),
    ],
    steps,
    summary,
    comparison: {
      sides: [mine, theirs],
      maxConsumersRatio:
        ours === null || bare === null || bare === 0 ? null : round(ours / bare, 3),
      commonStep,
      workerCpu: cpuAt('worker'),
      nodeCpu: cpuAt('node'),
      workerCpuRatio: ratio(at(mine)?.cpu.worker, at(theirs)?.cpu.worker),
    },
    ...(nodeCount === 2
      ? { cascade: cascadeComparison(steps, 'two-nodes', 'one-node'), latency }
      : {}),
    reference:
      'https://mediasoup.org/documentation/v3/scalability: depending on the host CPU, one mediasoup worker (a C++ subprocess on one core) typically handles over ~500 consumers in total.',
    stoppedBy,
    errors,
  };
}

await runBench('bench:sfu', main, {
  message: 'stopping the source, the SFU node and the generators',
});
