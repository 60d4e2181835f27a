/**
 * bench:http-path — what streammesh's L7 request path costs over a bare Node
 * forwarder, the two side by side in one thread of one process.
 *
 * bench:http compares processes, and `up` processes of one build differ by
 * up to 12% in CPU per request among themselves (README, "Where a proxied
 * request's CPU goes"): as much as the costs looked for. Here streammesh's
 * HttpService (the object its L7 thread runs, with bench:http's config) and
 * bare-forwarders.ts listen in this process's one JavaScript thread; the
 * load (wrk -t1 -c16 for HTTP/1.1, h2load -t1 -c16 -m8 for HTTP/2 and gRPC)
 * alternates between them, run after run, against the same nginx. The
 * process's CPU (every thread: V8's collector helpers too) per request is
 * taken for each run. Same heap, JIT and scheduling for both: what differs
 * is the path a request takes. Not measured here: the L7 thread's own
 * setting (nice 10, its heap reclaimer), the same for both anyway.
 *
 * Usage: npm run bench:http-path -- [--protocols http1,http2,grpc]
 *   [--runs N (6)] [--seconds S (5)] [--frame-check nghttp2|guard|off
 *   (the listeners' checkHttp2Frames; nghttp2, as shipped)] [--out DIR]
 * Writes loadtests/results/http-path.json (http-path-frame-check-<mode>.json
 * for another mode); prints a table.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HTTP2_FRAME_CHECKS } from '../../src/config/http-schema.js';
import { int, log, runBench } from '../common/cli.js';
import { machineInfo } from '../common/machine.js';
import { formattedJson } from '../rtp/report.js';
import { median, round } from '../rtp/stats.js';
import { PROTOCOLS, parseList, url, type Protocol } from './endpoints.js';
import { closedLoop } from './load.js';
import { PATHS, startPathRig, type PathName } from './path-rig.js';
import { repoRoot } from './proxies.js';
import { checkAnswers } from './smoke.js';

const { values: args } = parseArgs({
  options: {
    protocols: { type: 'string' },
    runs: { type: 'string' },
    seconds: { type: 'string' },
    'frame-check': { type: 'string' },
    out: { type: 'string' },
  },
});
const parameters = {
  protocols: parseList(args.protocols ?? PROTOCOLS.join(','), PROTOCOLS, '--protocols'),
  runs: int(args.runs, 6, 1, 30),
  seconds: int(args.seconds, 5, 1, 60),
  frameCheck: parseList(args['frame-check'] ?? 'nghttp2', HTTP2_FRAME_CHECKS, '--frame-check')[0],
  connections: 16,
  streams: 8,
};

interface Run {
  readonly path: PathName;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly cpuMicrosPerRequest: number;
}

interface ProtocolResult {
  readonly runs: readonly Run[];
  /** Medians over the runs of each path. */
  readonly cpuMicrosPerRequest: Readonly<Record<PathName, number>>;
  readonly requestsPerSecond: Readonly<Record<PathName, number>>;
  /** streammesh's CPU per request over the bare forwarder's. */
  readonly costRatio: number;
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'streammesh-bench-http-path-'));
  const lifetimeMs = (parameters.runs * parameters.seconds * 2 * 3 + 300) * 1000;
  const rig = await startPathRig(dir, parameters.frameCheck, lifetimeMs);
  try {
    const results: Partial<Record<Protocol, ProtocolResult>> = {};
    for (const protocol of parameters.protocols) {
      // Only paths that forward correctly are loaded: requests/s must count whole exchanges.
      for (const path of PATHS) await checkAnswers(protocol, rig.ports[protocol][path]);
      results[protocol] = await measure(protocol, rig.ports[protocol], rig.grpcBody);
    }
    const report = {
      benchmark: 'http-path',
      date: new Date().toISOString(),
      command: `npm run bench:http-path${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      durationSeconds: round((Date.now() - startedAt) / 1000),
      machine: { ...machineInfo(repoRoot), loadAverageEnd: loadavg().map((v) => round(v, 2)) },
      method:
        "streammesh's HttpService (bench:http's proxy.http config) and the bare forwarders of bare-forwarders.ts in one JavaScript thread of one process, the load alternated between them run after run (the first of each pair swapped every run), a 2 s run of each first to warm up; CPU per request = this process's CPU time over the run (every thread) / requests completed.",
      parameters,
      results,
    };
    const outDir = args.out ?? join(repoRoot, 'loadtests', 'results');
    const file = join(
      outDir,
      parameters.frameCheck === 'nghttp2'
        ? 'http-path.json'
        : `http-path-frame-check-${parameters.frameCheck}.json`,
    );
    await writeFile(file, await formattedJson(file, report));
    process.stdout.write(table(results));
    log(`wrote ${file} in ${report.durationSeconds} s`);
  } finally {
    await rig.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function measure(
  protocol: Protocol,
  ports: Readonly<Record<PathName, number>>,
  grpcBody: string,
): Promise<ProtocolResult> {
  const load = (path: PathName, seconds: number) =>
    closedLoop({
      protocol,
      url: url(ports[path], protocol),
      connections: parameters.connections,
      streams: parameters.streams,
      seconds,
      warmupSeconds: 0,
      grpcBody,
    });
  for (const path of PATHS) await load(path, 2);
  const runs: Run[] = [];
  for (let run = 0; run < parameters.runs; run++) {
    for (const path of run % 2 === 0 ? PATHS : [...PATHS].reverse()) {
      const before = process.cpuUsage();
      const result = await load(path, parameters.seconds);
      const used = process.cpuUsage(before);
      if (result.failed > 0 || result.requests === 0) {
        throw new Error(`${protocol} ${path}: ${result.failed} of ${result.requests} failed`);
      }
      const measured: Run = {
        path,
        requests: result.requests,
        requestsPerSecond: result.requestsPerSecond,
        cpuMicrosPerRequest: round((used.user + used.system) / result.requests, 2),
      };
      runs.push(measured);
      log(
        `${protocol} ${path} (run ${run + 1}): ${measured.requestsPerSecond} req/s, ${measured.cpuMicrosPerRequest} µs of CPU a request`,
      );
    }
  }
  const of = (path: PathName, value: (run: Run) => number): number =>
    round(median(runs.filter((run) => run.path === path).map(value)), 2);
  const cpu = {
    streammesh: of('streammesh', (run) => run.cpuMicrosPerRequest),
    bare: of('bare', (run) => run.cpuMicrosPerRequest),
  };
  return {
    runs,
    cpuMicrosPerRequest: cpu,
    requestsPerSecond: {
      streammesh: of('streammesh', (run) => run.requestsPerSecond),
      bare: of('bare', (run) => run.requestsPerSecond),
    },
    costRatio: round(cpu.streammesh / cpu.bare, 3),
  };
}

function table(results: Partial<Record<Protocol, ProtocolResult>>): string {
  const lines = [
    'protocol  streammesh µs/req  bare µs/req  ratio  streammesh req/s  bare req/s',
    ...Object.entries(results).map(([protocol, result]) =>
      [
        protocol.padEnd(8),
        String(result.cpuMicrosPerRequest.streammesh).padStart(17),
        String(result.cpuMicrosPerRequest.bare).padStart(12),
        `${result.costRatio.toFixed(2)}x`.padStart(6),
        String(result.requestsPerSecond.streammesh).padStart(17),
        String(result.requestsPerSecond.bare).padStart(11),
      ].join('  '),
    ),
  ];
  return `${lines.join('\n')}\n(medians of ${parameters.runs} runs of ${parameters.seconds} s; ratio = streammesh's CPU per request / the bare forwarder's, in one thread; HTTP/2 frame check ${parameters.frameCheck ?? 'nghttp2'})\n`;
}

await runBench('bench:http-path', main, { message: 'stopping nginx' });
