/**
 * `npm run bench:http`: the L7 proxy (HTTP/1.1, HTTP/2, gRPC) against
 * HAProxy and against no proxy, side by side in one run.
 *
 *   direct         client -> backend
 *   bare-node      client -> bare-proxy.ts (node:http + keep-alive agent,
 *                  node:http2 + one upstream session; no proxy logic) -> backend
 *   haproxy        client -> HAProxy 2.6 (nbthread 1, http-reuse always) -> backend
 *   haproxy-w2     the same with nbthread 2
 *   streammesh     client -> `streammesh up` rtp-proxy (proxy.http), proxy.workers 1 -> backend
 *   streammesh-w2  the same with proxy.workers 2 (STREAMMESH_PROXY_WORKERS=2)
 *
 * Backends (backends.ts): nginx for HTTP/1.1, HTTP/2 (h2c, prior
 * knowledge) and, by default, gRPC unary (a fixed gRPC reply; the
 * @grpc/grpc-js server of grpc-backend.ts is too slow to outrun HAProxy
 * here, and is kept behind --grpc-backend grpc-js). Each proxy has one
 * listener per protocol and speaks HTTP/2 to the HTTP/2 and gRPC backends.
 * Clients (load.ts): wrk for HTTP/1.1 maxima, h2load for HTTP/2 and gRPC
 * (a framed gRPC message as the body, content-type application/grpc, te:
 * trailers) and for every rate-limited run (--h1 for HTTP/1.1).
 *
 * Before any load, one request per target and protocol must come back with
 * the backend's answer (smoke.ts); a pair that does not is not measured and
 * is named in the results. Then, per run and protocol, targets in an order
 * that alternates between runs:
 *   1. maximum: closed loop over fixed connections (HTTP/2 and gRPC: x
 *      streams each) for a fixed window after a warm-up; requests/s, and
 *      CPU of the proxy, the backend and the machine over the window;
 *   2. latency, two phases, every target (direct included) at the same rate
 *      in each: "fixed", 1,000 requests/s over 16 connections (--fixed-rps,
 *      --connections; the point of Istio's sidecar benchmark), and "half",
 *      half of streammesh's own maximum in this run (half the lowest proxy
 *      maximum when streammesh is not measured); h2load --rps, paced;
 *      p50/p99 from h2load's per-request log; added = target - direct.
 * Repeated (3 runs by default); medians and ratios: streammesh/bare-node
 * requests/s per proxy core (aim >= 0.9), workers 2/1 (aim: growing),
 * streammesh/haproxy, added p99 of HTTP/2 and gRPC over HTTP/1.1's, and
 * whether added p99 <= 2 ms at both rates.
 *
 * CPU: utime+stime from /proc/<pid>/stat of HAProxy's one process, of the
 * rtp-proxy child of `up` (its pid from the proxy's /healthz, checked to be
 * a child of `up`), of nginx's one worker and of the gRPC server. Nothing is
 * pinned to a core: client, proxy and backend share the machine's cores, as
 * they would on one node; os.cpus().length is in the results.
 *
 * Output: loadtests/results/http.json (machine, date, command, parameters,
 * every step, medians, ratios) and a table on stdout.
 *
 * --mtls: each proxy target is two proxies in one process, the second
 * reached from the first over mutual TLS (streammesh: a mesh cluster to its
 * own mesh listener with the certificate `up`'s CA issued; HAProxy: `ssl crt
 * ... ca-file ... verify required` on both ends), results in
 * http-mtls.json; --two-hop: the same two proxies in clear, results in
 * http-two-hop.json (mesh-hop.ts). Their difference is what mTLS adds.
 *
 * Options: --quick (2 s windows, 1 run), --protocols http1,http2,grpc,
 * --targets direct,bare-node,haproxy,haproxy-w2,streammesh,streammesh-w2,
 * --fixed-rps N (default 1000), --latency-phases fixed,half,
 * --duration-s S, --connections N,
 * --streams N, --repeats N, --grpc-backend nginx|grpc-js (see backends.ts), --quiet-wait-s S (before each window, wait at
 * most this long for a quiet machine; 0 with --quick), --max-minutes M (hard bound: no step starts
 * after it; partial results are still written), --out DIR.
 * Environment: BENCH_HTTP_QUICK=1 is --quick.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../../src/shared/errors.js';
import { stopAllPeers } from '../../test/helpers/peers/process.js';
import { freePort } from '../../test/helpers/ports.js';
import { int, log, runBench } from '../common/cli.js';
import { commandLine, machineInfo as sharedMachineInfo } from '../common/machine.js';
import { coresUsed, cpuSample, type CpuSample } from '../rtp/cpu.js';
import { formattedJson } from '../rtp/report.js';
import { round } from '../rtp/stats.js';
import { systemSample, systemWindow, type SystemSample } from '../rtsp/system.js';
import { startGrpcBackend, startNginx } from './backends.js';
import {
  HOP_TARGETS,
  PROTOCOLS,
  PROXIES,
  TARGETS,
  WORKERS,
  parseList,
  url,
  type Listeners,
  type Protocol,
  type TargetName,
} from './endpoints.js';
import { GRPC_MESSAGE, grpcFrame } from './grpc-message.js';

const GRPC_BACKENDS = ['nginx', 'grpc-js'] as const;
import { closedLoop, rateLimited, type LoadResult } from './load.js';
import type { Server } from './processes.js';
import {
  repoRoot,
  startBareNode,
  startHaproxy,
  startStreammesh,
  type Backends,
} from './proxies.js';
import { resultTable } from './report.js';
import type {
  BenchParameters,
  BenchResults,
  LatencyPhase,
  LatencyStep,
  MaxStep,
  StepCpu,
} from './results.js';
import { checkAnswers } from './smoke.js';
import { summarize } from './summary.js';
import { QUIET_CORES, waitForQuiet } from './quiet.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: process.env['BENCH_HTTP_QUICK'] === '1' },
    protocols: { type: 'string' },
    targets: { type: 'string' },
    'duration-s': { type: 'string' },
    connections: { type: 'string' },
    streams: { type: 'string' },
    repeats: { type: 'string' },
    'quiet-wait-s': { type: 'string' },
    'grpc-backend': { type: 'string' },
    'max-minutes': { type: 'string' },
    'fixed-rps': { type: 'string' },
    'latency-phases': { type: 'string' },
    out: { type: 'string' },
    mtls: { type: 'boolean', default: false },
    'two-hop': { type: 'boolean', default: false },
  },
});

const quick = args.quick;
const twoProxies = args.mtls || args['two-hop'];
const knownTargets = twoProxies ? HOP_TARGETS : TARGETS;
const LATENCY_PHASES: readonly LatencyPhase[] = ['fixed', 'half'];
const parameters: BenchParameters = {
  protocols: parseList(args.protocols ?? PROTOCOLS.join(','), PROTOCOLS, '--protocols'),
  targets: parseList(args.targets ?? knownTargets.join(','), knownTargets, '--targets'),
  durationSeconds: int(args['duration-s'], quick ? 2 : 4, 1, 120),
  warmupSeconds: 1,
  connections: int(args.connections, 16, 1, 1_000),
  streams: int(args.streams, 8, 1, 256),
  repeats: int(args.repeats, quick ? 1 : 3, 1, 10),
  grpcBackend:
    parseList(args['grpc-backend'] ?? 'nginx', GRPC_BACKENDS, '--grpc-backend')[0] ?? 'nginx',
  quietWaitSeconds: int(args['quiet-wait-s'], quick ? 0 : 20, 0, 300),
  maxMinutes: Number(args['max-minutes'] ?? (quick ? 6 : 25)),
  latencyLoad: 0.5,
  hop: args.mtls ? 'mtls' : args['two-hop'] ? 'plain' : 'none',
  fixedRatePerSecond: int(args['fixed-rps'], 1_000, 1, 1_000_000),
  latencyPhases: parseList(
    args['latency-phases'] ?? LATENCY_PHASES.join(','),
    LATENCY_PHASES,
    '--latency-phases',
  ),
};
const RESULT_FILES = { none: 'http.json', plain: 'http-two-hop.json', mtls: 'http-mtls.json' };
if (!(parameters.maxMinutes > 0 && parameters.maxMinutes <= 120)) {
  throw new Error(`--max-minutes: expected a number in (0, 120], got "${args['max-minutes']}"`);
}
const outDir = args.out ?? join(repoRoot, 'loadtests', 'results');
const startedAt = Date.now();
const deadline = startedAt + parameters.maxMinutes * 60_000;
const cores = cpus().length;
/** Between steps: connections closed, TIME_WAIT sockets and the proxies' pools settled. */
const SETTLE_MS = 500;

const BACKENDS: Record<Protocol, string> = {
  http1: 'nginx 1.22 (one worker), return 200 with a 20-byte body',
  http2:
    'nginx 1.22 (one worker), listen http2 (h2c prior knowledge), return 200 with a 20-byte body',
  grpc: '@grpc/grpc-js server (one Node process), unary echo of a 20-byte message',
};

class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

/** A target as the load sees it: where each protocol listens, and its proxy process if any. */
interface Target {
  readonly name: TargetName;
  readonly listeners: Listeners;
  readonly proxy: Server | undefined;
}

interface Rig {
  readonly targets: readonly Target[];
  readonly backends: Readonly<Record<Protocol, Server>>;
  readonly grpcBody: string;
  readonly dir: string;
}

async function main(): Promise<void> {
  installPeers();
  // Before anything runs: the code measured is what was built just now.
  const machine = machineInfo();
  log(`bench:http ${JSON.stringify(parameters)}`);
  const dir = await mkdtemp(join(tmpdir(), 'streammesh-bench-http-'));
  tempDir = dir;
  const servers: Server[] = [];
  const setupErrors: Record<string, string> = {};
  const reported: Record<string, readonly string[]> = {};
  const errors: string[] = [];
  const maxSteps: MaxStep[] = [];
  const latencySteps: LatencyStep[] = [];
  let stoppedBy: string | null = null;
  try {
    const lifetimeMs = parameters.maxMinutes * 60_000 + 120_000;
    const ports = await pickPorts(3 + 6 * parameters.targets.length);
    const port = (): number => ports.pop() ?? 0;
    const grpcBody = join(dir, 'grpc-request.bin');
    await writeFile(grpcBody, grpcFrame(GRPC_MESSAGE));

    const nginxPorts = { http1: port(), http2: port(), grpc: port() };
    const nginx = await startNginx(dir, nginxPorts, lifetimeMs);
    servers.push(nginx);
    let grpcServer: Server = nginx;
    let grpcPort = nginxPorts.grpc;
    if (parameters.grpcBackend === 'grpc-js') {
      const grpc = await startGrpcBackend(lifetimeMs);
      servers.push(grpc.server);
      grpcServer = grpc.server;
      grpcPort = grpc.port;
    }
    const backendPorts: Backends = { ...nginxPorts, grpc: grpcPort };
    log(
      `backends: nginx ${nginxPorts.http1} (HTTP/1.1), ${nginxPorts.http2} (h2c); gRPC (${parameters.grpcBackend}) ${grpcPort}`,
    );

    const targets: Target[] = [];
    for (const name of parameters.targets) {
      if (name === 'direct') {
        targets.push({ name, listeners: backendPorts, proxy: undefined });
        continue;
      }
      const listeners: Listeners = { http1: port(), http2: port(), grpc: port() };
      try {
        const hop =
          parameters.hop === 'none'
            ? undefined
            : { hop: parameters.hop, ports: { http1: port(), http2: port(), grpc: port() } };
        const workers = WORKERS[name] ?? 1;
        const proxy =
          name === 'bare-node'
            ? await startBareNode(listeners, backendPorts, lifetimeMs)
            : name.startsWith('haproxy')
              ? await startHaproxy(dir, listeners, backendPorts, lifetimeMs, hop, workers)
              : await startStreammesh(dir, listeners, backendPorts, lifetimeMs, hop, workers);
        servers.push(proxy);
        targets.push({ name, listeners, proxy });
        if (proxy.reported.length > 0) reported[name] = proxy.reported;
        log(`${name}: listening on ${JSON.stringify(listeners)} (pid ${proxy.workPid})`);
      } catch (error) {
        setupErrors[name] = errorMessage(error);
        log(`${name}: not measured: ${errorMessage(error)}`);
      }
    }

    // Only pairs that answer correctly are loaded.
    const answering = new Map<TargetName, Set<Protocol>>();
    for (const target of targets) {
      const ok = new Set<Protocol>();
      for (const protocol of parameters.protocols) {
        try {
          await checkAnswers(protocol, target.listeners[protocol]);
          ok.add(protocol);
        } catch (error) {
          setupErrors[`${target.name}/${protocol}`] = errorMessage(error);
          log(`${target.name}/${protocol}: not measured: ${errorMessage(error)}`);
        }
      }
      answering.set(target.name, ok);
    }

    const rig: Rig = {
      targets,
      backends: { http1: nginx, http2: nginx, grpc: grpcServer },
      grpcBody,
      dir,
    };
    try {
      for (let run = 0; run < parameters.repeats; run++) {
        for (const protocol of parameters.protocols) {
          const live = targets.filter((t) => answering.get(t.name)?.has(protocol) === true);
          const order = run % 2 === 0 ? live : [...live].reverse();
          const maxima = new Map<TargetName, number>();
          for (const target of order) {
            const step = await guarded(
              errors,
              `${target.name}/${protocol} max (run ${run + 1})`,
              () => measureMax(rig, target, protocol, run),
            );
            if (step === undefined) continue;
            maxSteps.push(step);
            if (step.failed === 0) maxima.set(target.name, step.requestsPerSecond);
          }
          for (const phase of parameters.latencyPhases) {
            const rate = phase === 'fixed' ? parameters.fixedRatePerSecond : halfRate(maxima);
            if (rate === undefined) continue;
            for (const target of [...order].reverse()) {
              const step = await guarded(
                errors,
                `${target.name}/${protocol} latency ${phase} (run ${run + 1})`,
                () => measureLatency(rig, target, protocol, run, rate, phase),
              );
              if (step !== undefined) latencySteps.push(step);
            }
          }
        }
      }
    } catch (error) {
      if (!(error instanceof DeadlineError)) throw error;
      stoppedBy = `the ${parameters.maxMinutes} min bound`;
      log(`stopped at the ${parameters.maxMinutes} min bound: writing partial results`);
    }

    const results: BenchResults = {
      benchmark: 'http-proxy',
      date: new Date().toISOString(),
      command: `npm run bench:http${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      durationSeconds: round((Date.now() - startedAt) / 1000),
      machine: {
        ...machine,
        loadAverageEnd: loadavg().map((v) => round(v, 2)),
        streammeshThreads: reported,
      },
      parameters,
      method: METHOD,
      backends: BACKENDS,
      setupErrors,
      maxSteps,
      latencySteps,
      ...summarize(parameters.protocols, parameters.targets, maxSteps, latencySteps),
      stoppedBy,
      errors,
    };
    mkdirSync(outDir, { recursive: true });
    const jsonFile = join(outDir, RESULT_FILES[parameters.hop]);
    writeFileSync(jsonFile, await formattedJson(jsonFile, results));
    process.stdout.write(`${resultTable(results)}\n`);
    log(`wrote ${jsonFile} in ${round((Date.now() - startedAt) / 1000)} s`);
  } finally {
    for (const server of servers.reverse()) await server.stop().catch(() => undefined);
    await stopAllPeers();
    await rm(dir, { recursive: true, force: true });
    tempDir = undefined;
  }
}

/** Runs `measure`, or records why it failed (the run goes on); throws only at the time bound. */
async function guarded<T>(
  errors: string[],
  what: string,
  measure: () => Promise<T>,
): Promise<T | undefined> {
  if (Date.now() > deadline) throw new DeadlineError('time bound reached');
  try {
    return await measure();
  } catch (error) {
    errors.push(`${what}: ${errorMessage(error)}`);
    log(`  ${what} failed: ${errorMessage(error)}`);
    return undefined;
  } finally {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  }
}

async function measureMax(
  rig: Rig,
  target: Target,
  protocol: Protocol,
  run: number,
): Promise<MaxStep> {
  assertRunning(target);
  const quietWaitMs = await waitForQuiet(parameters.quietWaitSeconds * 1000);
  const window = startWindow(rig, target, protocol);
  const result = await closedLoop({ ...loadOptions(rig, target, protocol) });
  const cpu = window.end();
  logStep(`${target.name}/${protocol} max (run ${run + 1})`, result, cpu, quietWaitMs);
  return {
    run: run + 1,
    protocol,
    target: target.name,
    tool: result.tool,
    requestsPerSecond: result.requestsPerSecond,
    requests: result.requests,
    failed: result.failed,
    cpu,
    quietWaitMs,
    notes: result.notes,
  };
}

async function measureLatency(
  rig: Rig,
  target: Target,
  protocol: Protocol,
  run: number,
  rate: number,
  phase: LatencyPhase,
): Promise<LatencyStep> {
  assertRunning(target);
  const quietWaitMs = await waitForQuiet(parameters.quietWaitSeconds * 1000);
  const window = startWindow(rig, target, protocol);
  const result = await rateLimited({
    ...loadOptions(rig, target, protocol),
    ratePerSecond: rate,
    logFile: join(rig.dir, `latency-${target.name}-${protocol}-${phase}.tsv`),
  });
  const cpu = window.end();
  const offered = result.pacing.offeredPerSecond;
  logStep(
    `${target.name}/${protocol} ${phase} at ${offered}/s over ${result.pacing.connections} connections (run ${run + 1})`,
    result,
    cpu,
    quietWaitMs,
  );
  if (result.latency === undefined) throw new Error('h2load gave no latency');
  return {
    run: run + 1,
    phase,
    protocol,
    target: target.name,
    offeredPerSecond: offered,
    connections: result.pacing.connections,
    requestsPerSecond: result.requestsPerSecond,
    requests: result.requests,
    failed: result.failed,
    latency: result.latency,
    cpu,
    quietWaitMs,
    notes: result.notes,
  };
}

function loadOptions(rig: Rig, target: Target, protocol: Protocol) {
  return {
    protocol,
    url: url(target.listeners[protocol], protocol),
    connections: parameters.connections,
    streams: parameters.streams,
    seconds: parameters.durationSeconds,
    warmupSeconds: parameters.warmupSeconds,
    grpcBody: rig.grpcBody,
  };
}

/**
 * Half of streammesh's own maximum in this run; without it, half the lowest
 * maximum among the proxies (direct's when no proxy ran).
 */
function halfRate(maxima: ReadonlyMap<TargetName, number>): number | undefined {
  const own = maxima.get('streammesh');
  if (own !== undefined) return Math.floor(own * parameters.latencyLoad);
  const proxies = PROXIES.map((name) => maxima.get(name)).filter((v) => v !== undefined);
  const basis = proxies.length > 0 ? Math.min(...proxies) : maxima.get('direct');
  return basis === undefined ? undefined : Math.floor(basis * parameters.latencyLoad);
}

function assertRunning(target: Target): void {
  if (target.proxy !== undefined && !target.proxy.running()) {
    throw new Error(`${target.name} is not running:\n${target.proxy.stderrTail()}`);
  }
}

/** CPU of the proxy, the backend and the machine from now until `end()`. */
function startWindow(rig: Rig, target: Target, protocol: Protocol): { end(): StepCpu } {
  const backend = rig.backends[protocol];
  const proxyBefore = sample(target.proxy?.workPid);
  const backendBefore = sample(backend.workPid);
  const systemBefore: SystemSample = systemSample();
  return {
    end() {
      const used = (before: CpuSample | undefined, pid: number | undefined): number => {
        const after = sample(pid);
        return before === undefined || after === undefined
          ? Number.NaN
          : round(coresUsed(before, after), 3);
      };
      return {
        proxy: used(proxyBefore, target.proxy?.workPid),
        backend: used(backendBefore, backend.workPid),
        machineBusy: round(systemWindow(systemBefore, systemSample(), cores).busyCores, 3),
      };
    },
  };
}

function sample(pid: number | undefined): CpuSample | undefined {
  if (pid === undefined) return undefined;
  try {
    return cpuSample(pid);
  } catch {
    return undefined;
  }
}

function logStep(what: string, result: LoadResult, cpu: StepCpu, quietWaitMs: number): void {
  const latency =
    result.latency === undefined
      ? ''
      : `, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms`;
  log(
    `  ${what}: ${round(result.requestsPerSecond, 0)} req/s (${result.tool}), ${result.failed} failed${latency}; ` +
      `CPU proxy ${cpu.proxy.toFixed(2)}, backend ${cpu.backend.toFixed(2)}, machine ${cpu.machineBusy.toFixed(2)} cores${quietWaitMs > 1_500 ? ` (waited ${round(quietWaitMs / 1000)} s for a quiet machine)` : ''}`,
  );
}

/** Distinct ports, each free a moment ago (the configs name them before the servers bind). */
async function pickPorts(count: number): Promise<number[]> {
  const picked = new Set<number>();
  while (picked.size < count) picked.add(await freePort((port) => !picked.has(port)));
  return [...picked];
}

/** scripts/install-bench-peers.sh: wrk, h2load, haproxy, nginx (Debian; a no-op when present). */
function installPeers(): void {
  const script = join(repoRoot, 'scripts', 'install-bench-peers.sh');
  const result = spawnSync('bash', [script], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 600_000,
  });
  if (result.status !== 0) {
    throw new Error(`${script} failed (exit ${result.status ?? result.signal ?? 'unknown'})`);
  }
}

function machineInfo(): Record<string, unknown> {
  // The measured code is the working tree: name what differs from the commit.
  const status = spawnSync(
    'git',
    ['-C', repoRoot, 'status', '--porcelain', '--', 'rtp-proxy', 'src', 'bin'],
    { encoding: 'utf8', timeout: 5_000 },
  );
  const uncommitted = status.status === 0 ? status.stdout.split('\n').filter((l) => l !== '') : [];
  const version = (name: string): string =>
    commandLine('dpkg-query', ['-W', '-f=${Version}', name]);
  return {
    ...sharedMachineInfo(repoRoot),
    availableParallelism: availableParallelism(),
    loadAverageStart: loadavg().map((v) => round(v, 2)),
    haproxy: version('haproxy'),
    nginx: version('nginx'),
    wrk: version('wrk'),
    h2load: version('nghttp2-client'),
    grpcJs: grpcJsVersion(),
    uncommittedChanges: uncommitted.map((line) => line.trim()),
  };
}

function grpcJsVersion(): string {
  const result = spawnSync(
    process.execPath,
    ['-p', "require('@grpc/grpc-js/package.json').version"],
    { cwd: repoRoot, encoding: 'utf8', timeout: 5_000 },
  );
  return result.status === 0 ? result.stdout.trim() : 'unknown';
}

const METHOD: readonly string[] = [
  'Everything on 127.0.0.1; the load client, the proxy and the backend share the machine (cores in machine.cores); nothing is pinned.',
  'Targets: direct (client -> backend), bare-node (bare-proxy.ts: node:http server + http.request over a keep-alive agent for HTTP/1.1; node:http2 h2c server + one http2 session to the backend for HTTP/2 and gRPC, headers, body and trailers forwarded; no proxy logic; one Node thread), haproxy / haproxy-w2 (HAProxy 2.6, nbthread 1 / 2, http-reuse always, h2 to the HTTP/2 and gRPC backends), streammesh / streammesh-w2 (`streammesh up` with STREAMMESH_PROXY_WORKERS 1 / 2, the rtp-proxy child serving proxy.http.listeners with protocol auto, clusters with http2: true for the HTTP/2 and gRPC backends, access log off). Each has one listener per protocol.',
  'Backends: see "backends". nginx serves HTTP/1.1, h2c and gRPC on three ports, one worker, keepalive_requests 1e8; backend CPU per window shows how far it is from its limit.',
  'Before any load, one request per target and protocol must return the backend answer (gRPC: a @grpc/grpc-js client call, status OK, echoed bytes); a pair that does not is listed in setupErrors and not loaded.',
  'Maximum: closed loop, wrk -t1 for HTTP/1.1 (a 1 s run first to warm up), h2load -t1 for HTTP/2 and gRPC (-m streams per connection, --warm-up-time 1 s); requests/s over the window. A window with failed requests does not count towards the common rate.',
  "Latency, two phases (latencyPhases): fixed = fixedRatePerSecond over `connections` connections; half = half of streammesh's own maximum in the same run and protocol (half the lowest proxy maximum when streammesh was not measured). In each, every target including direct at that rate, h2load -t1, paced: h2load --rps sends what is due every max(10 ms, 1/rps) per connection, so each connection sends at most 100 requests/s (one per tick), with as many connections as that takes (at least --connections), opened over 10 ms (-r per 1 ms) so that their timers are spread and arrivals come a few per millisecond, not in 10 ms bursts; counted runs (-n = rate x duration; -r excludes -D) after a warm-up run of the same shape; --h1 -m1 for HTTP/1.1; p50/p99 of the per-request times in h2load --log-file (request start to end of response, successful requests only). added = target - direct at that rate in the same run; the summary gives the median of the per-run differences.",
  'CPU: utime+stime over each window from /proc/<pid>/stat of the proxy (HAProxy; the rtp-proxy child of up, pid from its /healthz, checked to be a child of up), the backend (nginx worker; gRPC server) and the whole machine (/proc/stat). requestsPerProxyCpuSecond = max requests/s / proxy cores at that maximum.',
  `The machine may be shared: before each window the driver waits (at most quietWaitSeconds, probing 1 s at a time) until all processes together use < ${QUIET_CORES} cores (the benchmark's own are idle then); the wait is recorded per step (quietWaitMs), and cpu.machineBusy shows what the whole machine did over the window.`,
  'Runs: targets alternate order between runs (maximum phase in one order, latency phases in the reverse); medians over runs. Aims (issue 20): streammesh requests/s per proxy core >= 0.9x bare-node and growing with workers (streammesh-w2/streammesh); added p99 <= 2 ms at the fixed rate and at half load, for HTTP/2 and gRPC as for HTTP/1.1 (addedP99VsHttp1). CPU of a multi-threaded proxy (haproxy-w2, streammesh-w2) is all its threads: requests per proxy CPU-second stays per core.',
];

let tempDir: string | undefined;
await runBench('bench:http', main, {
  message: 'stopping the proxies and the backends',
  cleanup: () => {
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  },
});
