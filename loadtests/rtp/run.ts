/**
 * `npm run bench:rtp`: the RTP relay benchmark (DESIGN.md §4).
 *
 * Side by side in one run, on the same flows (N streams from fixed source
 * ports to N receiver ports): direct, the minimal node:dgram relay, the C
 * recvmmsg/sendmmsg relay (mmsg-relay.c: the one-core ceiling), rtpengine
 * and the streammesh rtp-proxy for plain RTP; rtpengine and
 * streammesh bridging RTP to SRTP. For each packet size and target:
 *
 * 1. the highest total packets/s with zero loss (doubling, then bisection;
 *    later runs search around the first run's answer), each step a bounded
 *    burst of load followed by a drain and a count;
 * 2. one-way latency p50/p99 and the relay's CPU at one common rate per
 *    packet size: half the lowest zero-loss maximum among the targets of that
 *    run, so every target runs at no more than half its own maximum, and
 *    "added latency" (target minus direct) and CPU compare equal loads.
 *
 * Runs are repeated (default 3) and medians reported, with ratios
 * streammesh/minimal, streammesh/mmsg, streammesh/rtpengine and
 * srtp/plain. Output:
 * loadtests/results/rtp.json and rtp.svg, and a table on stdout.
 *
 * Options: --quick (1 run, short steps), --runs N, --streams N,
 * --sizes 200,1200, --step-ms MS, --latency-ms MS, --targets a,b,...,
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
import { forkChild, type Child } from './children.js';
import { searchMaxRate, type LatencyResult } from './measure.js';
import { chartSvg, formattedJson, resultTable } from './report.js';
import { DeadlineError, FlowSession } from './session.js';
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
  StreammeshRelay,
  directTarget,
  repoRoot,
  type Flow,
  type Target,
} from './targets.js';

const ALL_TARGETS = [
  'direct',
  'minimal',
  'mmsg',
  'rtpengine',
  'streammesh',
  'rtpengine-srtp',
  'streammesh-srtp',
] as const;

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
    out: { type: 'string' },
  },
});

const quick = args.quick;
const parameters: BenchParameters = {
  runs: int(args.runs, quick ? 1 : 3, 1, 10),
  streams: int(args.streams, 4, 1, 32),
  sizes: (args.sizes ?? '200,1200').split(',').map((size) => int(size, 200, 28, 1400)),
  stepMs: int(args['step-ms'], quick ? 700 : 1_000, 200, 10_000),
  latencyMs: int(args['latency-ms'], quick ? 1_000 : 2_000, 200, 20_000),
  drainMs: 250,
  warmupMs: 300,
  startPps: 20_000,
  maxPps: 400_000,
  bisections: quick ? 2 : 3,
  maxMinutes: int(args['max-minutes'], 20, 1, 120),
  targets: (args.targets ?? ALL_TARGETS.join(','))
    .split(',')
    .filter((name) => (ALL_TARGETS as readonly string[]).includes(name)),
};
const outDir = args.out ?? join(repoRoot, 'loadtests', 'results');
const deadline = Date.now() + parameters.maxMinutes * 60_000;

async function main(): Promise<void> {
  const started = Date.now();
  log(`bench:rtp ${JSON.stringify(parameters)}`);

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

  const receiver = await forkChild('./receiver.js', { ports: flows.map((flow) => flow.receiver) });
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
    if (wanted.has('streammesh') || wanted.has('streammesh-srtp')) {
      try {
        const mesh = await StreammeshRelay.start({
          flows,
          plainIngress: await pairs(),
          srtpIngress: await pairs(),
          adminPort: await freePort(),
          rtpPorts: { start: block + 400, end: block + 999 },
          timeoutMs: parameters.maxMinutes * 60_000 + 60_000,
        });
        relays.push(mesh);
        if (wanted.has('streammesh')) targets.push(mesh.target('plain'));
        if (wanted.has('streammesh-srtp')) targets.push(mesh.target('srtp'));
      } catch (error) {
        setupErrors['streammesh'] = errorMessage(error);
        log(`streammesh unavailable: ${errorMessage(error)}`);
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
            log(
              `run ${run}/${parameters.runs}, ${size} B, ${target.name}: latency at ${common} pps`,
            );
            const measured = await withFlows(target, flows, size, receiver, async (step) => ({
              latency: await step.step(common, parameters.latencyMs, target.relayPid()),
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

    const results = summarize(runs, setupErrors, Date.now() - started);
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
  const session = new FlowSession({
    target,
    flows,
    size,
    receiver,
    drainMs: parameters.drainMs,
    warmupMs: parameters.warmupMs,
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
      'streammesh/minimal': compare('streammesh', 'minimal'),
      'streammesh/mmsg': compare('streammesh', 'mmsg'),
      'minimal/mmsg': compare('minimal', 'mmsg'),
      'streammesh/rtpengine': compare('streammesh', 'rtpengine'),
      'streammesh-srtp/rtpengine-srtp': compare('streammesh-srtp', 'rtpengine-srtp'),
      'srtp/plain streammesh': compare('streammesh-srtp', 'streammesh'),
      'srtp/plain rtpengine': compare('rtpengine-srtp', 'rtpengine'),
      'minimal/direct': compare('minimal', 'direct'),
    };
  }
  return {
    benchmark: 'rtp-relay',
    date: new Date().toISOString(),
    command: `npm run bench:rtp${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    durationSeconds: round(durationMs / 1000),
    machine: machineInfo(),
    parameters,
    method: [
      'All processes on one machine over 127.0.0.1: generator, receiver, relay (and the orchestrator) share its cores.',
      'Max rate: highest total packets/s (all streams) of a step with zero loss after a drain; doubling from startPps, then bisection; runs after the first search around the first answer.',
      'Latency: one-way, receive time minus the send time in an RTP header extension (CLOCK_MONOTONIC), at one common rate per size = half the lowest max rate of that run; added = target minus direct at that rate.',
      'CPU: utime+stime of the relay process (all threads) over the send period, from /proc/<pid>/stat; packetsPerCpuSecond = rate / cores used.',
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
  };
}

await runBench('bench:rtp', main, {
  message: 'stopping the generators, the relays and the receivers',
});
