/**
 * `npm run bench:rtsp`: one camera to N viewers (DESIGN.md §4, RTSP), through
 * the streammesh RTSP proxy with one media worker and with two, and, side by
 * side in the same run, directly from the camera.
 *
 *   proxy     N viewers -> rtp-proxy, workers 1 -> camera   1 camera session
 *   proxy-w2  N viewers -> rtp-proxy, workers 2 -> camera   1 camera session
 *   direct    N viewers -> camera                           N camera sessions
 *
 * Each proxy target is its own `streammesh up` (STREAMMESH_PROXY_WORKERS 1
 * or 2, a disjoint rtpPorts range each), both started before the first step
 * and running for the whole bench: each pulls the camera once, always on,
 * and sits idle during the other targets' steps. With workers 1 every
 * viewer is served on the proxy's main thread (as before the spread); with
 * workers 2 the UDP viewer tracks are spread over the two media workers
 * (rtp-proxy/media/rtsp/viewer-spread.ts), TCP viewers stay on main. Every
 * proxy step reads, once its viewers have started, where the proxy's UDP
 * viewer tracks are (streammesh_proxy_worker_rtsp_viewer_tracks{worker} on
 * its admin /metrics): a proxy-w2 step with a UDP viewer track on the main
 * thread (or a worker with none) is an error, not a measurement, and so is
 * a proxy step with one on a worker.
 *
 * The camera is GStreamer's RTSP server (test/helpers/peers/rtsp-camera.py,
 * by default 640x360 noise at 1 Mbit/s: ~130 packets/s of ~1 kB). Viewers
 * are light RTSP clients (viewer.ts) in two child processes, one for UDP and
 * one for TCP-interleaved viewers, N split half and half. For each N
 * (10, 50, 100, ... 2000 by default), for each target, rotating which goes
 * first: open N viewers, wait for each one's first packet (the proxy holds a
 * late joiner until a keyframe), warm up, then over a fixed window count
 * loss per viewer from RTP sequence numbers (from its first packet on), take
 * how far behind real time each viewer receives (RTP timestamps against
 * arrival), time RTSP OPTIONS answers, and sample CPU (/proc/<pid>/stat) of
 * the proxy, the camera and the viewer processes. A step is served when no
 * packet was lost, every viewer opened, started and kept receiving, and
 * none was more than 1 s behind (a relay that cannot keep up queues for
 * seconds before it drops). A target's series ends at its first N not
 * served; two bisections then narrow the largest N served, which is run
 * once more to confirm it. The key step, half the smallest of the targets'
 * largest N served, is repeated for CPU medians and ratios: proxy/direct,
 * proxy-w2/proxy (what the spread gives) and proxy-w2/direct.
 *
 * Output: loadtests/results/rtsp.json and rtsp.svg, and a table on stdout.
 *
 * Options: --quick (N 5 and 20, 4 s windows, no bisection, confirm or repeat),
 * --steps 10,50,..., --refine K, --confirm K, --repeats K, --measure-ms MS,
 * --warmup-ms MS, --size WxH, --bitrate KBPS, --pattern NAME,
 * --targets proxy,proxy-w2,direct (the default: all three), --max-minutes M
 * (hard bound, default 18: no step starts after it; partial results are
 * still written), --out DIR.
 * Environment: BENCH_RTSP_QUICK=1 is --quick.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { errorMessage } from '../../src/shared/errors.js';
import { freePort } from '../../test/helpers/ports.js';
import { int, log, runBench } from '../common/cli.js';
import { commandLine, machineInfo as sharedMachineInfo } from '../common/machine.js';
import { stopAllPeers } from '../../test/helpers/peers/process.js';
import { forkChild, type Child } from '../rtp/children.js';
import { coresUsed, cpuSample, type CpuSample } from '../rtp/cpu.js';
import { formattedJson } from '../rtp/report.js';
import { median, round } from '../rtp/stats.js';
import type { PoolClosed, PoolConfig, PoolOpened, PoolSnapshot } from './messages.js';
import { OptionsProbe } from './probe.js';
import { chartSvg, resultTable } from './report.js';
import {
  isProxyTarget,
  PROXY_TARGETS,
  PROXY_WORKERS,
  TARGET_NAMES,
  type BenchParameters,
  type BenchResults,
  type KeyFigures,
  type KeyRatios,
  type KeyStep,
  type ProxyTargetName,
  type StepResult,
  type TargetName,
  type TargetSummary,
} from './results.js';
import { systemSample, systemWindow, type SystemSample } from './system.js';
import { Camera, Proxy, removeTempDirs, repoRoot, sleep, type RtspStreams } from './targets.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: process.env['BENCH_RTSP_QUICK'] === '1' },
    steps: { type: 'string' },
    refine: { type: 'string' },
    confirm: { type: 'string' },
    repeats: { type: 'string' },
    'measure-ms': { type: 'string' },
    'warmup-ms': { type: 'string' },
    size: { type: 'string' },
    bitrate: { type: 'string' },
    pattern: { type: 'string' },
    targets: { type: 'string' },
    'max-minutes': { type: 'string' },
    out: { type: 'string' },
  },
});

const quick = args.quick;
const parameters: BenchParameters = {
  steps: (args.steps ?? (quick ? '5,20' : '10,50,100,200,400,800,1200,1600,2000'))
    .split(',')
    .map((n) => int(n, 10, 1, 2000))
    .sort((a, b) => a - b),
  refine: int(args.refine, quick ? 0 : 2, 0, 5),
  confirm: int(args.confirm, quick ? 0 : 1, 0, 5),
  repeats: int(args.repeats, quick ? 0 : 3, 0, 5),
  warmupMs: int(args['warmup-ms'], quick ? 1_000 : 2_000, 0, 60_000),
  measureMs: int(args['measure-ms'], quick ? 4_000 : 8_000, 1_000, 120_000),
  startTimeoutMs: 5_000,
  openConcurrency: 16,
  keepaliveMs: 15_000,
  camera: {
    size: /^\d{2,4}x\d{2,4}$/.test(args.size ?? '') ? (args.size ?? '') : '640x360',
    bitrateKbps: int(args.bitrate, 1_000, 50, 20_000),
    pattern: /^[a-z0-9-]+$/.test(args.pattern ?? '') ? (args.pattern ?? '') : 'snow',
  },
  // Three targets: about 12 minutes on the 2-core VM of the figures (two took 8).
  maxMinutes: Number(args['max-minutes'] ?? (quick ? 3 : 18)),
  targets: targetList(args.targets ?? TARGET_NAMES.join(',')),
};
if (!(parameters.maxMinutes > 0 && parameters.maxMinutes <= 120)) {
  throw new Error(`--max-minutes: expected a number in (0, 120], got "${args['max-minutes']}"`);
}
const outDir = args.out ?? join(repoRoot, 'loadtests', 'results');
const startedAt = Date.now();
const deadline = startedAt + parameters.maxMinutes * 60_000;
const cores = cpus().length;
/** Between steps: TEARDOWNs done, sockets closed, the camera's shared media settled. */
const SETTLE_MS = 1_000;
/** A viewer receiving further behind real time than this is not served (see sequence.ts). */
const MAX_LAG_MS = 1_000;
/** ...or whose delay grew by more than this share of the window (falling behind). */
const MAX_LAG_GROWTH = 0.03;
/** A viewer whose DESCRIBE + SETUP + PLAY takes longer has failed to open. */
const VIEWER_OPEN_TIMEOUT_MS = 10_000;

/** Each proxy's rtpPorts: 1,200 pairs (1,000 UDP viewers at N=2000, the camera's pair, slack). */
const PROXY_PORTS = 2_400;

/** --targets: known names, each once, in the canonical order. */
function targetList(text: string): TargetName[] {
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(TARGET_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    throw new Error(`--targets: expected some of ${TARGET_NAMES.join(',')}, got "${text}"`);
  }
  return TARGET_NAMES.filter((name) => names.includes(name));
}

/** `list` rotated left by `by`: which target goes first changes from one N to the next. */
function rotated<T>(list: readonly T[], by: number): T[] {
  if (list.length === 0) return [];
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

interface Rig {
  readonly camera: Camera;
  /** The proxies that started (one that could not is missing; the other targets still run). */
  readonly proxies: ReadonlyMap<ProxyTargetName, Proxy>;
  readonly udpPool: Child;
  readonly tcpPool: Child;
}

interface Sample {
  readonly at: number;
  readonly udp: PoolSnapshot;
  readonly tcp: PoolSnapshot;
  readonly cpu: {
    readonly proxies: Partial<Record<ProxyTargetName, CpuSample | undefined>>;
    readonly camera: CpuSample | undefined;
    readonly udpViewers: CpuSample | undefined;
    readonly tcpViewers: CpuSample | undefined;
  };
  readonly system: SystemSample;
  /** GET /streams of the step's proxy (stepProxy). */
  readonly streams: RtspStreams | undefined;
}

/**
 * The proxy a step's proxy figures are of: the target's own; for direct
 * steps the idle `proxy` (workers 1), or `proxy-w2` when it alone runs.
 */
function stepProxy(rig: Rig, target: TargetName): ProxyTargetName | undefined {
  if (isProxyTarget(target)) return target;
  return PROXY_TARGETS.find((name) => rig.proxies.has(name));
}

async function main(): Promise<void> {
  log(`bench:rtsp ${JSON.stringify(parameters)}`);
  log(
    `bound: no step starts after ${parameters.maxMinutes} min; a step is ` +
      `${(parameters.warmupMs + parameters.measureMs) / 1000} s of warm-up and window, ` +
      `plus opening (at most ${parameters.startTimeoutMs / 1000} s more to start) and closing N viewers`,
  );
  const errors: string[] = [];
  const children: { stop(): Promise<void> }[] = [];
  try {
    const poolConfig = (transport: 'udp' | 'tcp'): PoolConfig => ({
      transport,
      keepaliveMs: parameters.keepaliveMs,
      openTimeoutMs: VIEWER_OPEN_TIMEOUT_MS,
    });
    const udpPool = await forkChild('../rtsp/viewer-pool.js', poolConfig('udp'));
    children.push(udpPool);
    const tcpPool = await forkChild('../rtsp/viewer-pool.js', poolConfig('tcp'));
    children.push(tcpPool);
    const lifetimeMs = parameters.maxMinutes * 60_000 + 120_000;
    const camera = await Camera.start({
      port: await freePort(),
      size: parameters.camera.size,
      bitrateKbps: parameters.camera.bitrateKbps,
      pattern: parameters.camera.pattern,
      timeoutMs: lifetimeMs,
    });
    children.push(camera);
    // Every proxy target runs for the whole bench, each with its own workers
    // and its own media ports: disjoint blocks below the ephemeral range,
    // where the viewers' own sockets are.
    const proxies = new Map<ProxyTargetName, Proxy>();
    const base = 10_000 + 1_000 * Math.floor(Math.random() * 6);
    for (const [index, name] of PROXY_TARGETS.entries()) {
      if (!parameters.targets.includes(name)) continue;
      const start = base + index * PROXY_PORTS;
      try {
        const proxy = await Proxy.start({
          cameraUrl: camera.url,
          workers: PROXY_WORKERS[name],
          rtpPorts: { start, end: start + PROXY_PORTS - 1 },
          maxConnections: 8_192,
          timeoutMs: lifetimeMs,
        });
        children.push(proxy);
        proxies.set(name, proxy);
      } catch (error) {
        errors.push(`${name}: ${errorMessage(error)}`);
        log(`${name} unavailable: ${errorMessage(error)}`);
      }
    }
    const rig: Rig = { camera, proxies, udpPool, tcpPool };
    log(`camera ${camera.url} (pid ${camera.pid})`);
    for (const [name, proxy] of proxies) {
      log(
        `${name}: ${proxy.url} (pid ${proxy.pid}, workers ${proxy.workers}, ` +
          `rtpPorts ${proxy.rtpPorts.start}-${proxy.rtpPorts.end})`,
      );
    }
    const first = proxies.values().next();
    const stream = first.done === true ? null : await measureStream(first.value);
    if (stream !== null) {
      log(
        `camera stream: ${round(stream.packetsPerSecond)} pkt/s, ${round(stream.bytesPerPacket, 0)} B/pkt, ${round(stream.kbps, 0)} kbit/s`,
      );
    }

    const steps: StepResult[] = [];
    let stoppedBy: string | null = null;
    const search = new Map<TargetName, { lo: number | null; hi: number | null }>();
    const targets = parameters.targets.filter((t) => !isProxyTarget(t) || proxies.has(t));
    for (const target of targets) search.set(target, { lo: null, hi: null });
    const run = async (
      target: TargetName,
      n: number,
      kind: StepResult['kind'],
    ): Promise<StepResult | undefined> => {
      if (Date.now() > deadline) throw new DeadlineError('time bound reached');
      let step: StepResult;
      try {
        const proxy = isProxyTarget(target) ? rig.proxies.get(target) : undefined;
        if (isProxyTarget(target) && proxy?.running() !== true) {
          throw new Error(`${target} is not running:\n${proxy?.stderr().slice(-2_000) ?? ''}`);
        }
        step = await measureStep(rig, target, n, kind);
      } catch (error) {
        // Counted as the end of this target's series, and reported.
        errors.push(`${target} N=${n} (${kind}): ${errorMessage(error)}`);
        log(`  ${target} N=${n} (${kind}) failed: ${errorMessage(error)}`);
        return undefined;
      }
      steps.push(step);
      log(
        `  ${target} N=${n} (${kind}): ${step.served ? 'served' : `NOT served (${step.failedBy.join(', ')})`}; ` +
          `lost ${step.lost}, stalled ${step.stalled}, delay ${step.lagMs.max} ms (${step.lagMs.growthP50 >= 0 ? '+' : ''}${step.lagMs.growthP50} in the window), ` +
          `not started ${step.notStarted}, failed ${step.openFailures}; ${round(step.deliveredPps, 0)} pkt/s; ` +
          (step.workers === undefined
            ? ''
            : `UDP tracks: ${step.workers.onMain} on main, workers ${step.workers.viewerTracks.join('+')}; `) +
          `proxy ${step.cpu.proxy.toFixed(3)} camera ${step.cpu.camera.toFixed(3)} viewers ` +
          `${(step.cpu.udpViewers + step.cpu.tcpViewers).toFixed(2)} machine ${step.cpu.machineBusy.toFixed(2)} cores`,
      );
      return step;
    };

    try {
      // The series: N up, every target per N, rotating which goes first.
      for (const [index, n] of parameters.steps.entries()) {
        const order = rotated(targets, index);
        for (const target of order) {
          const state = search.get(target);
          if (state === undefined || state.hi !== null) continue;
          log(`${target}: N=${n}`);
          const step = await run(target, n, 'series');
          if (step?.served === true) state.lo = n;
          else state.hi = n;
        }
        if ([...search.values()].every((state) => state.hi !== null)) break;
      }
      // Bisection between the last zero-loss N and the first lossy one.
      for (const target of targets) {
        const state = search.get(target);
        if (state === undefined) continue;
        for (let i = 0; i < parameters.refine; i++) {
          if (state.lo === null || state.hi === null) break;
          const mid = Math.round((state.lo + state.hi) / 2 / 5) * 5;
          if (mid <= state.lo || mid >= state.hi) break;
          log(`${target}: N=${mid} (bisection)`);
          const step = await run(target, mid, 'refine');
          if (step?.served === true) state.lo = mid;
          else state.hi = mid;
        }
      }
      // Each target's largest N served, once more: is it a capacity or a lucky run?
      for (const target of targets) {
        const lo = search.get(target)?.lo ?? null;
        for (let i = 0; i < parameters.confirm && lo !== null; i++) {
          log(`${target}: N=${lo} (confirm ${i + 1}/${parameters.confirm})`);
          await run(target, lo, 'confirm');
        }
      }
      // The key step, for CPU at equal load: half the smallest of the largest N
      // served (so all run well inside their capacity), repeated for medians,
      // by the targets that served some N.
      const key = keyViewers(search);
      if (key !== null) {
        const served = targets.filter((target) => (search.get(target)?.lo ?? null) !== null);
        for (let i = 0; i < parameters.repeats; i++) {
          const order = rotated(served, i + 1);
          for (const target of order) {
            log(`${target}: N=${key} (key step, repeat ${i + 1}/${parameters.repeats})`);
            await run(target, key, 'repeat');
          }
        }
      }
    } catch (error) {
      if (!(error instanceof DeadlineError)) throw error;
      stoppedBy = `the ${parameters.maxMinutes} min bound`;
      log(`stopped at the ${parameters.maxMinutes} min bound: writing partial results`);
    }

    const results = summarize(steps, search, proxies, stream, stoppedBy, errors);
    mkdirSync(outDir, { recursive: true });
    const jsonFile = join(outDir, 'rtsp.json');
    writeFileSync(jsonFile, await formattedJson(jsonFile, results));
    writeFileSync(join(outDir, 'rtsp.svg'), chartSvg(results));
    process.stdout.write(`${resultTable(results)}\n`);
    log(`wrote ${jsonFile} and rtsp.svg in ${round((Date.now() - startedAt) / 1000)} s`);
  } finally {
    for (const child of children.reverse()) await child.stop().catch(() => undefined);
    await stopAllPeers();
  }
}

/** The camera's stream as the proxy receives it, over 2 s. */
async function measureStream(proxy: Proxy): Promise<BenchResults['stream']> {
  const before = (await proxy.streams())?.paths[0];
  const t0 = performance.now();
  await sleep(2_000);
  const after = (await proxy.streams())?.paths[0];
  const seconds = (performance.now() - t0) / 1000;
  if (before === undefined || after === undefined) return null;
  const packets = after.packetsIn - before.packetsIn;
  const bytes = after.bytesIn - before.bytesIn;
  return {
    packetsPerSecond: round(packets / seconds, 1),
    bytesPerPacket: packets === 0 ? 0 : round(bytes / packets, 0),
    kbps: round((bytes * 8) / seconds / 1000, 0),
  };
}

async function measureStep(
  rig: Rig,
  target: TargetName,
  n: number,
  kind: StepResult['kind'],
): Promise<StepResult> {
  const proxy = isProxyTarget(target) ? rig.proxies.get(target) : undefined;
  if (isProxyTarget(target) && proxy === undefined) throw new Error(`${target} did not start`);
  const url = proxy?.url ?? rig.camera.url;
  const proxyName = stepProxy(rig, target);
  const udpViewers = Math.ceil(n / 2);
  const tcpViewers = n - udpViewers;
  const openTimeout = (count: number): number =>
    Math.ceil(count / parameters.openConcurrency) * VIEWER_OPEN_TIMEOUT_MS + 10_000;
  const sessionsBefore = rig.camera.sessions();
  try {
    const openStarted = performance.now();
    const opened = await Promise.all(
      [
        { pool: rig.udpPool, count: udpViewers },
        { pool: rig.tcpPool, count: tcpViewers },
      ].map(({ pool, count }) =>
        pool.request<PoolOpened>(
          {
            type: 'open',
            url,
            count,
            concurrency: parameters.openConcurrency,
            // A target that cannot take its viewers has failed the step: stop early.
            maxFailures: Math.max(2, Math.ceil(count * 0.05)),
          },
          'open',
          openTimeout(count),
        ),
      ),
    );
    const openMs = Math.round(performance.now() - openStarted);
    // Every viewer's first packet (a proxy viewer waits for a keyframe), bounded.
    const startDeadline = performance.now() + parameters.startTimeoutMs;
    for (;;) {
      const [udp, tcp] = await snapshots(rig);
      const waiting = [...udp.viewers, ...tcp.viewers].filter((v) => v.alive && !v.started);
      if (waiting.length === 0 || performance.now() > startDeadline) break;
      await sleep(200);
    }
    // Where the proxy serves its UDP viewers: the spread must have happened (or not).
    const workers =
      isProxyTarget(target) && proxy !== undefined
        ? await viewerPlacement(target, proxy, opened[0]?.opened ?? 0)
        : undefined;
    await sleep(parameters.warmupMs);
    const probe = await OptionsProbe.start(url, 500);
    let a: Sample;
    let b: Sample;
    try {
      a = await sample(rig, proxyName);
      await sleep(parameters.measureMs);
      b = await sample(rig, proxyName);
    } finally {
      probe.stop();
    }
    const options = {
      p50: round(median(probe.times), 1),
      max: round(Math.max(0, ...probe.times), 1),
      unanswered: probe.unanswered,
    };
    const cameraSessionsOpened = rig.camera.sessions() - sessionsBefore;
    return stepResult(target, n, kind, {
      proxyName,
      workers,
      udpViewers,
      tcpViewers,
      openMs,
      opened,
      a,
      b,
      options,
      cameraSessionsOpened,
    });
  } finally {
    await Promise.all(
      [rig.udpPool, rig.tcpPool].map((pool) =>
        pool.request<PoolClosed>({ type: 'close' }, 'close', 30_000),
      ),
    );
    await sleep(SETTLE_MS);
  }
}

/**
 * A proxy target's UDP viewer tracks by worker, as its workers count them
 * (one track per UDP viewer: SETUP of track 0 only). Throws when they are
 * not where the target says: with workers > 1, all on the workers and none
 * of the workers without (when there are at least as many as workers);
 * with workers 1, none on a worker (all on the main thread).
 */
async function viewerPlacement(
  target: ProxyTargetName,
  proxy: Proxy,
  udpViewersOpened: number,
): Promise<NonNullable<StepResult['workers']>> {
  const viewerTracks = await proxy.workerViewerTracks();
  const onWorkers = viewerTracks.reduce((sum, count) => sum + count, 0);
  const placement = {
    workers: proxy.workers,
    viewerTracks,
    udpViewersOpened,
    onMain: Math.max(0, udpViewersOpened - onWorkers),
  };
  const seen = `${udpViewersOpened} UDP viewers opened, tracks by worker ${viewerTracks.join('+')}`;
  if (proxy.workers > 1) {
    if (onWorkers < udpViewersOpened) {
      throw new Error(
        `${target}: UDP viewer tracks not on the media workers (${seen}): no spread, not a measurement`,
      );
    }
    if (udpViewersOpened >= proxy.workers && viewerTracks.some((count) => count === 0)) {
      throw new Error(`${target}: a media worker carries no UDP viewer track (${seen})`);
    }
  } else if (onWorkers > 0) {
    throw new Error(`${target}: UDP viewer tracks on a media worker with workers 1 (${seen})`);
  }
  return placement;
}

async function snapshots(rig: Rig): Promise<[PoolSnapshot, PoolSnapshot]> {
  return Promise.all([
    rig.udpPool.request<PoolSnapshot>({ type: 'snapshot' }, 'snapshot', 10_000),
    rig.tcpPool.request<PoolSnapshot>({ type: 'snapshot' }, 'snapshot', 10_000),
  ]);
}

async function sample(rig: Rig, proxyName: ProxyTargetName | undefined): Promise<Sample> {
  const [udp, tcp] = await snapshots(rig);
  const cpuOf = (pid: number | undefined): CpuSample | undefined => {
    if (pid === undefined) return undefined;
    try {
      return cpuSample(pid);
    } catch {
      return undefined; // the process is gone
    }
  };
  const cpu = {
    proxies: Object.fromEntries(
      [...rig.proxies].map(([name, proxy]) => [name, cpuOf(proxy.pid)]),
    ) as Sample['cpu']['proxies'],
    camera: cpuOf(rig.camera.pid),
    udpViewers: cpuOf(rig.udpPool.pid),
    tcpViewers: cpuOf(rig.tcpPool.pid),
  };
  const system = systemSample();
  const at = performance.now();
  const streams = proxyName === undefined ? undefined : await rig.proxies.get(proxyName)?.streams();
  return { at, udp, tcp, cpu, system, streams };
}

function stepResult(
  target: TargetName,
  n: number,
  kind: StepResult['kind'],
  measured: {
    /** The proxy of cpu.proxy and proxyCounters (stepProxy). */
    readonly proxyName: ProxyTargetName | undefined;
    readonly workers: StepResult['workers'];
    readonly udpViewers: number;
    readonly tcpViewers: number;
    readonly openMs: number;
    readonly opened: readonly PoolOpened[];
    readonly a: Sample;
    readonly b: Sample;
    readonly options: StepResult['optionsMs'];
    readonly cameraSessionsOpened: number;
  },
): StepResult {
  const { proxyName, workers, udpViewers, tcpViewers, openMs, opened, a, b, options } = measured;
  const { cameraSessionsOpened } = measured;
  const windowMs = b.at - a.at;
  let received = 0;
  let expected = 0;
  let lostUdp = 0;
  let lostTcp = 0;
  let viewersWithLoss = 0;
  let notStarted = 0;
  let stalled = 0;
  let bytes = 0;
  const perViewer: number[] = [];
  // Delay: transit of each viewer's latest packet against the smallest transits
  // seen (the 5th percentile of the viewers' minima, so that one viewer's odd
  // packet does not move everyone's figure).
  const reference = quantile(
    [...b.udp.viewers, ...b.tcp.viewers].map((v) => v.minTransitMs ?? Number.NaN),
    0.05,
  );
  const lags: number[] = [];
  const growths: number[] = [];
  for (const transport of ['udp', 'tcp'] as const) {
    const before = a[transport].viewers;
    b[transport].viewers.forEach((after, i) => {
      const was = before[i];
      if (was === undefined || !was.started) {
        notStarted += 1;
        return;
      }
      const gotten = after.received - was.received;
      const due = after.expected - was.expected;
      if (gotten === 0 || !after.alive) stalled += 1;
      const lost = Math.max(0, due - gotten);
      if (lost > 0) viewersWithLoss += 1;
      if (transport === 'udp') lostUdp += lost;
      else lostTcp += lost;
      received += gotten;
      expected += Math.max(due, gotten);
      bytes += after.bytes - was.bytes;
      perViewer.push(gotten / (windowMs / 1000));
      if (after.lastTransitMs !== null && Number.isFinite(reference)) {
        lags.push(after.lastTransitMs - reference);
        if (was.lastTransitMs !== null) growths.push(after.lastTransitMs - was.lastTransitMs);
      }
    });
  }
  const lost = lostUdp + lostTcp;
  const coresOf = (x: CpuSample | undefined, y: CpuSample | undefined): number =>
    x === undefined || y === undefined ? Number.NaN : round(coresUsed(x, y), 4);
  const used = (name: 'camera' | 'udpViewers' | 'tcpViewers'): number =>
    coresOf(a.cpu[name], b.cpu[name]);
  const proxies: Partial<Record<ProxyTargetName, number>> = {};
  for (const name of PROXY_TARGETS) {
    if (name in b.cpu.proxies) proxies[name] = coresOf(a.cpu.proxies[name], b.cpu.proxies[name]);
  }
  const system = systemWindow(a.system, b.system, cores);
  const cpu = {
    proxy: proxyName === undefined ? Number.NaN : (proxies[proxyName] ?? Number.NaN),
    proxies,
    camera: used('camera'),
    udpViewers: used('udpViewers'),
    tcpViewers: used('tcpViewers'),
    machineBusy: round(system.busyCores, 3),
    softirq: round(system.softirqCores, 3),
    steal: round(system.stealCores, 3),
  };
  const fanout = isProxyTarget(target) ? cpu.proxy : cpu.camera;
  const openFailures = opened.reduce((sum, o) => sum + o.failed, 0);
  const openErrors = [...new Set(opened.flatMap((o) => o.errors))];
  const lagMs = {
    p50: round(median(lags), 1),
    p99: round(quantile(lags, 0.99), 1),
    max: round(Math.max(...lags), 1),
    growthP50: round(median(growths), 1),
  };
  const failedBy: StepResult['failedBy'][number][] = [];
  if (lost > 0) failedBy.push('loss');
  if (openFailures > 0 || opened.some((o) => o.opened + o.failed < 1)) failedBy.push('open');
  if (notStarted > 0) failedBy.push('start');
  if (stalled > 0) failedBy.push('stall');
  // More than 1 s behind, or falling further behind by more than 3% of the window.
  if (!(lagMs.max <= MAX_LAG_MS) || !(lagMs.growthP50 <= MAX_LAG_GROWTH * windowMs)) {
    failedBy.push('delay');
  }
  const proxyCounters = proxyDelta(a.streams, b.streams);
  return {
    target,
    viewers: n,
    udpViewers,
    tcpViewers,
    kind,
    openMs,
    handshakeMs: { udp: handshakeStats(opened[0]), tcp: handshakeStats(opened[1]) },
    openFailures,
    openErrors,
    notStarted,
    stalled,
    windowMs: Math.round(windowMs),
    received,
    expected,
    lost,
    lostUdp,
    lostTcp,
    viewersWithLoss,
    lossPercent: expected === 0 ? 0 : round((lost / expected) * 100, 4),
    deliveredPps: round(received / (windowMs / 1000), 0),
    perViewerPps: round(median(perViewer), 1),
    deliveredMbps: round((bytes * 8) / (windowMs / 1000) / 1e6, 2),
    lagMs,
    optionsMs: options,
    served: failedBy.length === 0,
    failedBy,
    cpu,
    fanoutMillicoresPerViewer: { allIn: round((fanout / n) * 1000, 3) },
    fanoutMicrosPerPacket: {
      allIn: round((fanout / (received / (windowMs / 1000))) * 1e6, 2),
    },
    ...(workers === undefined ? {} : { workers }),
    cameraSessionsOpened,
    ...(proxyCounters === undefined ? {} : { proxyCounters }),
    udpRcvbufErrors: system.udpRcvbufErrors,
    udpSndbufErrors: system.udpSndbufErrors,
  };
}

/**
 * Half the smallest of the targets' largest N served, rounded to 5 (at
 * least 1); null unless at least two targets served some N (there is
 * nothing to compare). A target that served none is left out of it.
 */
function keyViewers(
  search: ReadonlyMap<TargetName, { lo: number | null; hi: number | null }>,
): number | null {
  const largest = [...search.values()]
    .map((state) => state.lo)
    .filter((lo): lo is number => lo !== null);
  if (largest.length < 2) return null;
  return Math.max(1, Math.round(Math.min(...largest) / 2 / 5) * 5);
}

function quantile(values: readonly number[], q: number): number {
  const sorted = values.filter(Number.isFinite).sort((x, y) => x - y);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

function handshakeStats(opened: PoolOpened | undefined): { p50: number; max: number } {
  const times = opened?.handshakeMs ?? [];
  return times.length === 0
    ? { p50: 0, max: 0 }
    : { p50: round(median(times), 0), max: Math.max(...times) };
}

function proxyDelta(
  a: RtspStreams | undefined,
  b: RtspStreams | undefined,
): StepResult['proxyCounters'] {
  const before = a?.paths.find((p) => p.name === 'cam');
  const after = b?.paths.find((p) => p.name === 'cam');
  if (before === undefined || after === undefined || b === undefined || a === undefined) {
    return undefined;
  }
  const drops: Record<string, number> = {};
  for (const [reason, count] of Object.entries(after.drops)) {
    const delta = count - (before.drops[reason] ?? 0);
    if (delta !== 0) drops[reason] = delta;
  }
  const upstreamLost = (p: typeof before): number =>
    Number(p.tracks[0]?.quality?.['lost'] ?? 0) || 0;
  const dropped = (s: RtspStreams): number =>
    s.sessions.reduce((sum, session) => sum + session.packetsDropped, 0);
  return {
    packetsIn: after.packetsIn - before.packetsIn,
    drops,
    upstreamLost: upstreamLost(after) - upstreamLost(before),
    // Sessions are those open at each sample; all of this step's are open at both.
    sessionPacketsDropped: dropped(b) - dropped(a),
    upstreamTransport: after.upstream.transport,
  };
}

function summarize(
  raw: readonly StepResult[],
  search: ReadonlyMap<TargetName, { lo: number | null; hi: number | null }>,
  proxies: ReadonlyMap<ProxyTargetName, Proxy>,
  stream: BenchResults['stream'],
  stoppedBy: string | null,
  errors: readonly string[],
): BenchResults {
  // A proxy idle: during the other targets' steps (it keeps its camera session).
  const proxyIdleCores: Partial<Record<ProxyTargetName, number>> = {};
  for (const name of proxies.keys()) {
    proxyIdleCores[name] = round(
      median(raw.filter((s) => s.target !== name).map((s) => s.cpu.proxies[name] ?? Number.NaN)),
      4,
    );
  }
  // The camera encoding for the proxies' sessions only: during the proxy steps.
  const cameraProxySessionsCores = round(
    median(raw.filter((s) => isProxyTarget(s.target)).map((s) => s.cpu.camera)),
    4,
  );
  const steps: StepResult[] = raw.map((step) => {
    const { target } = step;
    const baseline = isProxyTarget(target)
      ? (proxyIdleCores[target] ?? Number.NaN)
      : cameraProxySessionsCores;
    const fanout = isProxyTarget(target) ? step.cpu.proxy : step.cpu.camera;
    const marginal = round(((fanout - baseline) / step.viewers) * 1000, 3);
    const perPacket = round(((fanout - baseline) / step.deliveredPps) * 1e6, 2);
    return {
      ...step,
      fanoutMillicoresPerViewer: {
        allIn: step.fanoutMillicoresPerViewer.allIn,
        ...(Number.isFinite(marginal) ? { marginal } : {}),
      },
      fanoutMicrosPerPacket: {
        allIn: step.fanoutMicrosPerPacket.allIn,
        ...(Number.isFinite(perPacket) ? { marginal: perPacket } : {}),
      },
    };
  });
  const summaryOf = (target: TargetName): TargetSummary => {
    const served = steps.filter((s) => s.target === target && s.served);
    const hi = search.get(target)?.hi ?? null;
    const failed = steps.find((s) => s.target === target && s.viewers === hi && !s.served);
    const lo = search.get(target)?.lo ?? null;
    const atLargest = steps.filter((s) => s.target === target && s.viewers === lo);
    return {
      largestServedN: lo,
      largestServedRuns: {
        served: atLargest.filter((s) => s.served).length,
        runs: atLargest.length,
      },
      firstFailedN: hi,
      firstFailedBy: failed?.failedBy ?? (hi === null ? [] : ['error']),
      medianMillicoresPerViewer: round(
        median(served.map((s) => s.fanoutMillicoresPerViewer.allIn)),
        3,
      ),
      medianMarginalMillicoresPerViewer: round(
        median(served.map((s) => s.fanoutMillicoresPerViewer.marginal ?? Number.NaN)),
        3,
      ),
    };
  };
  const summary = Object.fromEntries(
    TARGET_NAMES.map((target) => [target, summaryOf(target)]),
  ) as Record<TargetName, TargetSummary>;

  let keyStep: KeyStep | null = null;
  const key = keyViewers(search);
  if (key !== null) {
    const n = key;
    const figures = (target: TargetName): KeyFigures | null => {
      const runs = steps.filter((s) => s.target === target && s.viewers === n);
      // --quick runs no key step, and a target may not have run at all.
      if (runs.length === 0) return null;
      const pick = (f: (s: StepResult) => number, digits = 3): number =>
        round(median(runs.map(f)), digits);
      const proxyTarget = isProxyTarget(target);
      return {
        samples: runs.length,
        servedSamples: runs.filter((s) => s.served).length,
        fanoutCores: pick((s) => (proxyTarget ? s.cpu.proxy : s.cpu.camera), 4),
        allInMillicoresPerViewer: pick((s) => s.fanoutMillicoresPerViewer.allIn),
        marginalMillicoresPerViewer: pick(
          (s) => s.fanoutMillicoresPerViewer.marginal ?? Number.NaN,
        ),
        marginalMicrosPerPacket: pick((s) => s.fanoutMicrosPerPacket.marginal ?? Number.NaN, 2),
        cameraCores: pick((s) => s.cpu.camera, 4),
        systemMillicoresPerViewer: pick(
          (s) => ((proxyTarget ? s.cpu.proxy + s.cpu.camera : s.cpu.camera) / n) * 1000,
        ),
        deliveredPps: pick((s) => s.deliveredPps, 0),
        machineBusyCores: pick((s) => s.cpu.machineBusy),
      };
    };
    const proxy = figures('proxy');
    const proxyW2 = figures('proxy-w2');
    const direct = figures('direct');
    const ratio = (x: number, y: number): number => (y === 0 ? Number.NaN : round(x / y, 3));
    const ratios = (
      xName: TargetName,
      x: KeyFigures | null,
      yName: TargetName,
      y: KeyFigures | null,
    ): KeyRatios | null =>
      x === null || y === null
        ? null
        : {
            fanoutCores: ratio(x.fanoutCores, y.fanoutCores),
            allInMillicoresPerViewer: ratio(x.allInMillicoresPerViewer, y.allInMillicoresPerViewer),
            marginalMillicoresPerViewer: ratio(
              x.marginalMillicoresPerViewer,
              y.marginalMillicoresPerViewer,
            ),
            systemMillicoresPerViewer: ratio(
              x.systemMillicoresPerViewer,
              y.systemMillicoresPerViewer,
            ),
            marginalMicrosPerPacket: ratio(x.marginalMicrosPerPacket, y.marginalMicrosPerPacket),
            largestServedN: ratio(
              summary[xName].largestServedN ?? Number.NaN,
              summary[yName].largestServedN ?? Number.NaN,
            ),
          };
    keyStep =
      [proxy, proxyW2, direct].filter((f) => f !== null).length < 2
        ? null
        : {
            viewers: n,
            proxy,
            'proxy-w2': proxyW2,
            direct,
            ratios: ratios('proxy', proxy, 'direct', direct),
            w2OverProxy: ratios('proxy-w2', proxyW2, 'proxy', proxy),
            w2OverDirect: ratios('proxy-w2', proxyW2, 'direct', direct),
          };
  }
  return {
    benchmark: 'rtsp-fanout',
    date: new Date().toISOString(),
    command: `npm run bench:rtsp${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    durationSeconds: round((Date.now() - startedAt) / 1000),
    machine: machineInfo(),
    parameters,
    method: [
      'One camera: GStreamer RTSP server (test/helpers/peers/rtsp-camera.py), one shared media for all its clients. Everything on 127.0.0.1; camera, proxies, viewer processes and the driver share the machine.',
      'proxy: N viewers pull rtsp://proxy/cam from `streammesh up` (rtp-proxy) with STREAMMESH_PROXY_WORKERS=1: one media worker, every RTSP viewer served on the main thread (as before the spread). proxy-w2: the same through a second `streammesh up` with STREAMMESH_PROXY_WORKERS=2: the UDP viewers’ tracks (port pairs and sends) spread over the two media workers, the TCP viewers and the path on main. Each proxy pulls the camera once (one camera session, always on), has its own rtpPorts range (disjoint), and runs for the whole bench, idle during the other targets’ steps. direct: the same N viewers pull the camera itself (N camera sessions; the idle proxies keep theirs).',
      'Spread check, every proxy step once its viewers have started: streammesh_proxy_worker_rtsp_viewer_tracks{worker} from the proxy admin’s /metrics (each worker’s own count), recorded as the step’s `workers`. proxy-w2: every UDP viewer track on a worker and each worker carrying some, else the step is an error (not a measurement); proxy: none on the worker.',
      'Viewers: light RTSP clients (DESCRIBE, SETUP track 0, PLAY, GET_PARAMETER keepalive) that only count RTP sequence numbers, in two child processes: ceil(N/2) over UDP, floor(N/2) over TCP-interleaved.',
      'Per step: open N viewers (16 handshakes at a time), wait for every first packet (bounded; the proxy holds a late joiner until a keyframe: not loss), warm up, then measure over a fixed window.',
      'Loss per viewer over the window = (highest extended sequence number advance) - (packets received), counted only from its first packet on.',
      'Delay behind real time per viewer = transit (arrival wall clock - RTP timestamp/90 kHz) of its latest packet - the 5th percentile of the viewers’ smallest transits; growth = its change over the window.',
      'Served (the zero-loss criterion of the series): no packet lost, every viewer opened (10 s bound per handshake) and started (5 s), none stalled (nothing received in the window), none more than 1000 ms behind real time, and the median delay not growing by more than 3% of the window (falling behind: the proxy and the camera queue for seconds, in socket buffers and TCP backlogs, before they drop).',
      'OPTIONS: answer time of the target to RTSP OPTIONS from the driver (an idle connection) every 500 ms during the window: its event-loop or control-path lag under load.',
      'CPU: utime+stime over the window from /proc/<pid>/stat (all threads, so a proxy’s media workers count) of each proxy (the rtp-proxy child of its `up`, pid from /healthz), the camera (python3 + GStreamer threads) and the viewer processes; machine = all cores from /proc/stat. cpu.proxy is the step’s own proxy (for direct steps the idle workers-1 proxy); cpu.proxies has every proxy.',
      'Millicores per viewer of the fan-out process (the target’s proxy for proxy and proxy-w2, the camera for direct): all-in = its CPU / N; marginal = (its CPU - its CPU with no viewer of its own) / N, the baselines being each proxy idle (median over the other targets’ steps) and the camera serving only the proxies’ sessions (median over the proxy targets’ steps). Per packet: the same CPU over the packets delivered to viewers (µs), which stays honest when a saturated target delivers less than N times the stream.',
      'Series: N up through the step list, every target per N, rotating which goes first; a target stops at its first N not served (or at an error); bisections (rounded to 5) narrow the largest N served, which is then run once more (confirm: served in k of m runs); the key step, half the smallest of the largest N served (all well inside capacity), is repeated, rotating the order, and reported as medians with ratios proxy/direct, proxy-w2/proxy (what the spread over 2 workers changes) and proxy-w2/direct, each with the ratio of the two largest N served.',
      'udpRcvbufErrors: kernel UDP drops at full socket receive buffers on the whole machine over the window (on loopback, a receiver that did not read in time: a viewer process, or a proxy reading the camera).',
    ],
    stream,
    proxies: Object.fromEntries(
      [...proxies].map(([name, proxy]) => [
        name,
        { workers: proxy.workers, rtpPorts: proxy.rtpPorts },
      ]),
    ),
    baselines: { proxyIdleCores, cameraProxySessions: proxies.size, cameraProxySessionsCores },
    steps,
    summary,
    keyStep,
    stoppedBy,
    errors,
  };
}

function machineInfo(): Record<string, unknown> {
  // The measured code is the working tree: name what differs from the commit.
  const status = spawnSync(
    'git',
    ['-C', repoRoot, 'status', '--porcelain', '--', 'rtp-proxy', 'src', 'bin'],
    { encoding: 'utf8', timeout: 5_000 },
  );
  const uncommitted = status.status === 0 ? status.stdout.split('\n').filter((l) => l !== '') : [];
  return {
    ...sharedMachineInfo(repoRoot),
    gstreamer: commandLine('gst-launch-1.0', ['--version']).replace(/^gst-launch-1.0 version /, ''),
    uncommittedChanges: uncommitted.map((line) => line.trim()),
  };
}

await runBench('bench:rtsp', main, {
  message: 'stopping the camera, the proxy and the viewers',
  cleanup: removeTempDirs,
});
