/**
 * `npm run bench:rtp`: the RTP relay benchmark (DESIGN.md §4).
 *
 * Side by side in one run, on the same flows (N streams from fixed source
 * ports to N receiver ports): direct, the minimal node:dgram relay, the C
 * recvmmsg/sendmmsg relay (mmsg-relay.c: the one-core ceiling), rtpengine
 * and the streammesh rtp-proxy for plain RTP (batched native UDP I/O, the
 * node:dgram fallback, 2 workers); rtpengine and streammesh bridging RTP to
 * SRTP (streammesh with libsrtp and with node:crypto). The load comes from
 * the C generator and sink (rtp-load.c, sendmmsg/recvmmsg) unless
 * --load node picks the Node ones. For each packet size and target:
 *
 * 1. the highest total packets/s with zero loss (doubling, then bisection;
 *    later runs search around the first run's answer), each step a bounded
 *    burst of load followed by a drain and a count;
 * 2. one-way latency p50/p99 and the relay's CPU at half load: with
 *    --latency-at own (the default) each target at half its own zero-loss
 *    maximum of that run; with --latency-at common every target at one rate
 *    per size, half the lowest maximum among the targets (equal loads).
 *    direct is measured at the common rate in both modes: "added latency" is
 *    target minus that.
 *
 * Runs are repeated (default 3) and medians reported, with ratios
 * streammesh/mmsg, srtp/plain, libsrtp/node, workers2/workers1,
 * native/dgram, streammesh/minimal and streammesh/rtpengine. Output:
 * loadtests/results/rtp.json and rtp.svg, and a table on stdout.
 *
 * Options: --quick (1 run, 200 B only, short steps: about 2 minutes),
 * --runs N, --streams N, --sizes 200,1200, --step-ms MS, --latency-ms MS,
 * --targets a,b,..., --load c|node, --latency-at own|common,
 * --max-minutes M (hard bound; partial results are still written),
 * --out DIR. Environment: BENCH_RTP_QUICK=1 is --quick.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../../src/shared/errors.js';
import { freePort } from '../../test/helpers/ports.js';
import { int, log, runBench } from '../common/cli.js';
import { commandLine, machineInfo as sharedMachineInfo } from '../common/machine.js';
import { freeUdpPortPair, stopAllPeers } from '../../test/helpers/peers/process.js';
import { loadavg, availableParallelism } from 'node:os';
import type { Child } from './children.js';
import { defaultLoadKind, LOAD_KINDS, startReceiver, type LoadKind } from './load.js';
import { searchMaxRate, type LatencyResult } from './measure.js';
import { chartSvg, formattedJson, resultTable } from './report.js';
import { DeadlineError, FlowNumbering, FlowSession } from './session.js';
import type {
  BenchParameters,
  BenchResults,
  SizeRun,
  TargetRun,
  TargetSummary,
} from './results.js';
import { median, round } from './stats.js';
import {
  MinimalRelay,
  MmsgRelay,
  RtpengineRelay,
  STREAMMESH_VARIANTS,
  StreammeshRelay,
  directTarget,
  repoRoot,
  type Flow,
  type Target,
} from './targets.js';

const STREAMMESH_TARGETS = Object.keys(STREAMMESH_VARIANTS) as (keyof typeof STREAMMESH_VARIANTS)[];
const ALL_TARGETS = [
  'direct',
  'mmsg',
  'minimal',
  'rtpengine',
  'rtpengine-srtp',
  ...STREAMMESH_TARGETS,
] as const;
const LATENCY_AT = ['own', 'common'] as const;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: process.env['BENCH_RTP_QUICK'] === '1' },
    runs: { type: 'string' },
    streams: { type: 'string' },
    sizes: { type: 'string' },
    'step-ms': { type: 'string' },
    'latency-ms': { type: 'string' },
    targets: { type: 'string' },
    'max-minutes': { type: 'string' },
    load: { type: 'string' },
    'latency-at': { type: 'string' },
    out: { type: 'string' },
  },
});

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  option: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new Error(`${option}: expected one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

function targetList(text: string): string[] {
  const names = text.split(',');
  const unknown = names.filter((name) => !(ALL_TARGETS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(`--targets: unknown ${unknown.join(', ')} (known: ${ALL_TARGETS.join(', ')})`);
  }
  return names;
}

const loadChoice = defaultLoadKind();
const load: LoadKind = oneOf(args.load, LOAD_KINDS, '--load') ?? loadChoice.kind;

const quick = args.quick;
const parameters: BenchParameters = {
  runs: int(args.runs, quick ? 1 : 3, 1, 10),
  streams: int(args.streams, 4, 1, 32),
  sizes: (args.sizes ?? (quick ? '200' : '200,1200'))
    .split(',')
    .map((size) => int(size, 200, 28, 1400)),
  stepMs: int(args['step-ms'], quick ? 500 : 1_000, 200, 10_000),
  latencyMs: int(args['latency-ms'], quick ? 800 : 1_500, 200, 20_000),
  drainMs: quick ? 200 : 250,
  warmupMs: 300,
  startPps: 20_000,
  maxPps: load === 'c' ? 800_000 : 400_000,
  bisections: quick ? 1 : 3,
  maxMinutes: int(args['max-minutes'], quick ? 4 : 20, 1, 120),
  targets: targetList(args.targets ?? ALL_TARGETS.join(',')),
  load,
  latencyAt: oneOf(args['latency-at'], LATENCY_AT, '--latency-at') ?? 'own',
};
const outDir = args.out ?? join(repoRoot, 'loadtests', 'results');
const deadline = Date.now() + parameters.maxMinutes * 60_000;
/** Each target's flows' numbering: one sender each per target for the whole run (session.ts). */
const numberings = new Map<string, FlowNumbering>();

async function main(): Promise<void> {
  const started = Date.now();
  log(`bench:rtp ${JSON.stringify(parameters)}`);
  if (loadChoice.reason !== undefined && args.load === undefined) {
    log(`the C load programs could not be built, using the Node ones: ${loadChoice.reason}`);
  }
  const loadAverageStart = loadavg().map((value) => round(value, 2));

  const flows: Flow[] = [];
  for (let i = 0; i < parameters.streams; i++) {
    flows.push({
      src: await freeUdpPortPair(),
      receiver: await freeUdpPortPair(),
      ssrc: 0x5eed0000 + i,
    });
  }
  const pairs = async (): Promise<number[]> => {
    const ports: number[] = [];
    for (let i = 0; i < parameters.streams; i++) ports.push(await freeUdpPortPair());
    return ports;
  };
  // Media port blocks below the ephemeral range: rtpengine 400 ports, the proxy 600.
  const block = 20_000 + 1_000 * Math.floor(Math.random() * 10);

  const receiver = await startReceiver(
    load,
    flows.map((flow) => flow.receiver),
  );
  const health: Record<string, unknown> = {};
  const relays: { stop(): Promise<void> }[] = [];
  const targets: Target[] = [];
  const setupErrors: Record<string, string> = {};
  const wanted = new Set<string>(parameters.targets);
  try {
    if (wanted.has('direct')) targets.push(directTarget(flows));
    if (wanted.has('minimal')) {
      const minimal = await MinimalRelay.start(flows, await pairs());
      relays.push(minimal);
      targets.push(minimal.target());
    }
    if (wanted.has('mmsg')) {
      try {
        const mmsg = await MmsgRelay.start(
          flows,
          await pairs(),
          parameters.maxMinutes * 60_000 + 60_000,
        );
        relays.push(mmsg);
        targets.push(mmsg.target());
      } catch (error) {
        setupErrors['mmsg'] = errorMessage(error);
        log(`mmsg relay unavailable: ${errorMessage(error)}`);
      }
    }
    if (wanted.has('rtpengine') || wanted.has('rtpengine-srtp')) {
      try {
        const engine = await RtpengineRelay.start(block, parameters.maxMinutes * 60_000 + 60_000);
        relays.push(engine);
        if (wanted.has('rtpengine')) targets.push(engine.target(flows, 'plain'));
        if (wanted.has('rtpengine-srtp')) targets.push(engine.target(flows, 'srtp'));
      } catch (error) {
        setupErrors['rtpengine'] = errorMessage(error);
        log(`rtpengine unavailable: ${errorMessage(error)}`);
      }
    }
    // One `up` per variant (its settings are read at start), each with a
    // block of 120 media ports above rtpengine's.
    for (const [index, name] of STREAMMESH_TARGETS.entries()) {
      if (!wanted.has(name)) continue;
      if (STREAMMESH_VARIANTS[name].workers > parameters.streams) {
        // Routes are what is sharded: fewer routes than workers leaves a worker idle.
        setupErrors[name] =
          `${STREAMMESH_VARIANTS[name].workers} workers need at least as many streams (--streams ${parameters.streams})`;
        log(`${name} not measured: ${setupErrors[name]}`);
        continue;
      }
      try {
        const mesh = await StreammeshRelay.start({
          name,
          flows,
          ingress: await pairs(),
          adminPort: await freePort(),
          rtpPorts: { start: block + 400 + 120 * index, end: block + 519 + 120 * index },
          timeoutMs: parameters.maxMinutes * 60_000 + 60_000,
        });
        relays.push(mesh);
        health[name] = mesh.health;
        targets.push(mesh.target());
      } catch (error) {
        setupErrors[name] = errorMessage(error);
        log(`${name} unavailable: ${errorMessage(error)}`);
      }
    }

    const runs: Record<string, SizeRun>[] = [];
    try {
      for (let run = 1; run <= parameters.runs; run++) {
        const sizes: Record<string, SizeRun> = {};
        runs.push(sizes);
        for (const size of parameters.sizes) {
          const sizeRun: SizeRun = { targets: {} };
          sizes[size] = sizeRun;
          for (const target of targets) {
            log(`run ${run}/${parameters.runs}, ${size} B, ${target.name}: search`);
            const previous = firstRunMax(runs, size, target.name);
            sizeRun.targets[target.name] = await withFlows(target, flows, size, receiver, (step) =>
              searchMaxRate(
                step,
                {
                  stepMs: parameters.stepMs,
                  startPps: parameters.startPps,
                  maxPps: parameters.maxPps,
                  bisections: parameters.bisections,
                  ...(run > 1 && previous !== undefined ? { previousPps: previous } : {}),
                },
                log,
              ).then((search) => ({ search })),
            );
          }
          const maxima = Object.values(sizeRun.targets)
            .map((result) => result.search?.maxPps ?? 0)
            .filter((pps) => pps > 0);
          if (maxima.length === 0) continue;
          const common = Math.round(Math.min(...maxima) / 2);
          sizeRun.commonRatePps = common;
          for (const target of targets) {
            const entry = sizeRun.targets[target.name];
            if (entry === undefined || entry.error !== undefined) continue;
            const own = Math.round((entry.search?.maxPps ?? 0) / 2);
            const rate =
              parameters.latencyAt === 'own' && target.name !== 'direct' && own > 0 ? own : common;
            log(`run ${run}/${parameters.runs}, ${size} B, ${target.name}: latency at ${rate} pps`);
            const measured = await withFlows(target, flows, size, receiver, async (step) => ({
              latency: await step.step(rate, parameters.latencyMs, target.relayPid()),
            }));
            if (measured.latency !== undefined) entry.latency = measured.latency;
            if (measured.error !== undefined) entry.error = measured.error;
            const latency = entry.latency;
            if (latency !== undefined) {
              log(
                `    p50 ${latency.latency.p50Us} µs, p99 ${latency.latency.p99Us} µs, ` +
                  `lost ${latency.lost}, relay CPU ${latency.relayCpuCores ?? '-'} cores`,
              );
            }
          }
        }
      }
    } catch (error) {
      if (!(error instanceof DeadlineError)) throw error;
      log(`stopped at the ${parameters.maxMinutes} min bound: writing partial results`);
    }

    for (const relay of relays) {
      if (relay instanceof StreammeshRelay) {
        const metricsAtEnd = await relay.dataPlane();
        health[relay.name] = { atStart: relay.health, metricsAtEnd };
        // The load sends no RTCP: a count here is RTP the figures measured on node:crypto.
        const slowPath = metricsAtEnd.filter((line) => /srtp_node_crypto\S* [1-9]/.test(line));
        if (slowPath.length > 0) {
          log(
            `${relay.name}: packets went through node:crypto, not libsrtp: ${slowPath.join('; ')}`,
          );
        }
      }
    }
    const results = summarize(runs, setupErrors, Date.now() - started, {
      loadAverageStart,
      loadAverageEnd: loadavg().map((value) => round(value, 2)),
      streammeshHealth: health,
    });
    mkdirSync(outDir, { recursive: true });
    const jsonFile = join(outDir, 'rtp.json');
    writeFileSync(jsonFile, await formattedJson(jsonFile, results));
    writeFileSync(join(outDir, 'rtp.svg'), chartSvg(results));
    process.stdout.write(`${resultTable(results)}\n`);
    log(
      `wrote ${join(outDir, 'rtp.json')} and rtp.svg in ${round((Date.now() - started) / 1000)} s`,
    );
  } finally {
    await receiver.stop();
    for (const relay of relays) await relay.stop();
    await stopAllPeers();
  }
}

/** The first run's answer for this size and target: later runs search around it. */
function firstRunMax(
  runs: readonly Record<string, SizeRun>[],
  size: number,
  name: string,
): number | undefined {
  const first = runs[0];
  if (first === undefined) return undefined;
  const sizeRun: SizeRun | undefined = first[String(size)];
  return sizeRun?.targets[name]?.search?.maxPps;
}

/** Runs `body` on fresh flows of `target`; an error (other than the time bound) is recorded. */
async function withFlows(
  target: Target,
  flows: readonly Flow[],
  size: number,
  receiver: Child,
  body: (session: FlowSession) => Promise<TargetRun>,
): Promise<TargetRun> {
  let numbering = numberings.get(target.name);
  if (numbering === undefined) {
    numbering = new FlowNumbering();
    numberings.set(target.name, numbering);
  }
  const session = new FlowSession({
    target,
    flows,
    size,
    receiver,
    load,
    drainMs: parameters.drainMs,
    warmupMs: parameters.warmupMs,
    numbering,
    deadline,
  });
  try {
    return await body(session);
  } catch (error) {
    if (error instanceof DeadlineError) throw error;
    log(`  ${target.name}: ${errorMessage(error)}`);
    return { error: errorMessage(error) };
  } finally {
    await session.close().catch(() => undefined);
  }
}

function summarize(
  runs: readonly Record<string, SizeRun>[],
  setupErrors: Record<string, string>,
  durationMs: number,
  observed: Record<string, unknown>,
): BenchResults {
  const medians: BenchResults['medians'] = {};
  const ratios: BenchResults['ratios'] = {};
  for (const size of parameters.sizes) {
    const perTarget: Record<string, TargetSummary> = {};
    for (const name of parameters.targets) {
      const entries = runs
        .map((run) => ({ run: run[size], target: run[size]?.targets[name] }))
        .filter((entry) => entry.target?.search !== undefined);
      if (entries.length === 0) continue;
      const pick = (
        f: (entry: (typeof entries)[number]) => number | null | undefined,
        digits = 1,
      ): number => round(median(entries.map((entry) => f(entry) ?? Number.NaN)), digits);
      const direct = (entry: (typeof entries)[number]): LatencyResult | undefined =>
        entry.run?.targets['direct']?.latency;
      perTarget[name] = {
        maxPps: pick((e) => e.target?.search?.maxPps),
        limitedBy: [...new Set(entries.map((e) => e.target?.search?.limitedBy))].join(','),
        latencyRatePps: pick((e) => e.target?.latency?.requestedPps, 0),
        latencyP50Us: pick((e) => e.target?.latency?.latency.p50Us),
        latencyP99Us: pick((e) => e.target?.latency?.latency.p99Us),
        addedP50Us: pick((e) => diff(e.target?.latency?.latency.p50Us, direct(e)?.latency.p50Us)),
        addedP99Us: pick((e) => diff(e.target?.latency?.latency.p99Us, direct(e)?.latency.p99Us)),
        latencyLossPercent: pick((e) => e.target?.latency?.lossPercent),
        relayCpuCores: pick((e) => e.target?.latency?.relayCpuCores, 3),
        packetsPerCpuSecond: pick((e) => e.target?.latency?.packetsPerCpuSecond),
      };
    }
    medians[size] = perTarget;
    const ratio = (a: string, b: string, field: keyof TargetSummary): number => {
      const x = perTarget[a]?.[field];
      const y = perTarget[b]?.[field];
      return typeof x === 'number' && typeof y === 'number' && y !== 0
        ? round(x / y, 3)
        : Number.NaN;
    };
    const compare = (a: string, b: string): Record<string, number> => ({
      maxPps: ratio(a, b, 'maxPps'),
      latencyP50: ratio(a, b, 'latencyP50Us'),
      latencyP99: ratio(a, b, 'latencyP99Us'),
      addedLatencyP50: ratio(a, b, 'addedP50Us'),
      packetsPerCpuSecond: ratio(a, b, 'packetsPerCpuSecond'),
    });
    ratios[size] = {
      'streammesh/mmsg': compare('streammesh', 'mmsg'),
      'srtp/plain streammesh (libsrtp)': compare('streammesh-srtp', 'streammesh'),
      'srtp/plain streammesh (node)': compare('streammesh-srtp-node', 'streammesh'),
      'libsrtp/node streammesh-srtp': compare('streammesh-srtp', 'streammesh-srtp-node'),
      'workers2/workers1 streammesh': compare('streammesh-w2', 'streammesh'),
      'native/dgram streammesh': compare('streammesh', 'streammesh-dgram'),
      'streammesh-dgram/mmsg': compare('streammesh-dgram', 'mmsg'),
      'streammesh/minimal': compare('streammesh', 'minimal'),
      'minimal/mmsg': compare('minimal', 'mmsg'),
      'streammesh/rtpengine': compare('streammesh', 'rtpengine'),
      'streammesh-srtp/rtpengine-srtp': compare('streammesh-srtp', 'rtpengine-srtp'),
      'srtp/plain rtpengine': compare('rtpengine-srtp', 'rtpengine'),
      'minimal/direct': compare('minimal', 'direct'),
    };
  }
  return {
    benchmark: 'rtp-relay',
    date: new Date().toISOString(),
    command: `npm run bench:rtp${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    durationSeconds: round(durationMs / 1000),
    machine: { ...machineInfo(), ...observed },
    parameters: { ...parameters, streammeshVariants: STREAMMESH_VARIANTS },
    method: [
      'All processes on one machine over 127.0.0.1: generator, receiver, relay (and the orchestrator) share its cores.',
      'Max rate: highest total packets/s (all streams) of a step with zero loss after a drain; doubling from startPps, then bisection; runs after the first search around the first answer.',
      parameters.latencyAt === 'own'
        ? 'Latency: one-way, receive time minus the send time in an RTP header extension (CLOCK_MONOTONIC), each target at half its own max rate of that run (latencyRatePps); direct at the common rate (half the lowest max rate of that run); added = target minus direct.'
        : 'Latency: one-way, receive time minus the send time in an RTP header extension (CLOCK_MONOTONIC), at one common rate per size = half the lowest max rate of that run; added = target minus direct at that rate.',
      parameters.load === 'c'
        ? 'Load: rtp-load.c, a C generator (sendmmsg per flow, paced in bursts of at most 50 µs of packets, send time stamped per batch just before the call) and sink (recvmmsg, one clock read per batch, a 1 µs histogram; per flow reorder and sequence gaps).'
        : 'Load: generator.ts and receiver.ts (node:dgram, one system call per datagram).',
      'streammesh variants: one `streammesh up` each, with STREAMMESH_PROXY_UDP_IO, STREAMMESH_PROXY_SRTP_ENGINE and STREAMMESH_PROXY_WORKERS as in parameters.streammeshVariants; machine.streammeshHealth is what each proxy reported (/healthz and its udp_io, srtp_engine and worker metrics) once ready and at the end.',
      'CPU: utime+stime of the relay process (all threads) from /proc/<pid>/stat, from the first send to the end of the drain (a backlog worked off after the generator stopped counts); relayCpuCores = that CPU over the send period, packetsPerCpuSecond = packets received / that CPU.',
      'limitedBy "generator": the generator could not send faster and nothing was lost: the figure is the harness ceiling, not the target’s.',
      'SRTP targets: RTP in, SRTP (AES_CM_128_HMAC_SHA1_80) out; the receiver counts packets and reads the clear header extension, it does not decrypt.',
      'A step with loss is followed by fresh flows (new generator, new rtpengine calls, warm-up): an overloaded relay may still hold a backlog, and rtpengine discards a stream for the rest of its call once its receive queue has overflowed 5 times.',
      'Medians over runs; ratios are of medians.',
    ],
    setupErrors,
    runs,
    medians,
    ratios,
  };
}

function diff(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a - b;
}

function machineInfo(): Record<string, unknown> {
  return {
    ...sharedMachineInfo(repoRoot),
    rtpengine: commandLine('rtpengine', ['--version']).replace(/^Version:\s*/, ''),
    availableParallelism: availableParallelism(),
  };
}

await runBench('bench:rtp', main, {
  message: 'stopping the generators, the relays and the receivers',
});
