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
 *   [--runs N (6)] [--seconds S (5)] [--frame-check LIST (nghttp2,guard)]
 *   [--out DIR]
 * --frame-check: the listeners' checkHttp2Frames; the first is the path
 * "streammesh" (nghttp2, as shipped), each other one more path for HTTP/2
 * and gRPC ("streammesh-guard"), alternated with the others in the same
 * process, so what a frame check costs is measured on one heap and JIT.
 * Writes loadtests/results/http-path.json (http-path-frame-check-<first>.json
 * when the first is not nghttp2); prints a table.
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
import { BARE, STREAMMESH, startPathRig, type PathName } from './path-rig.js';
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
  frameChecks: parseList(
    args['frame-check'] ?? 'nghttp2,guard',
    HTTP2_FRAME_CHECKS,
    '--frame-check',
  ),
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
  /** Each streammesh path's CPU per request over the bare forwarder's. */
  readonly costRatios: Readonly<Record<PathName, number>>;
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'streammesh-bench-http-path-'));
  const lifetimeMs = (parameters.runs * parameters.seconds * 2 * 3 + 300) * 1000;
  const rig = await startPathRig(dir, parameters.frameChecks, lifetimeMs);
  try {
    const results: Partial<Record<Protocol, ProtocolResult>> = {};
    for (const protocol of parameters.protocols) {
      // Only paths that forward correctly are loaded: requests/s must count whole exchanges.
      for (const port of Object.values(rig.ports[protocol])) await checkAnswers(protocol, port);
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
      parameters.frameChecks[0] === 'nghttp2'
        ? 'http-path.json'
        : `http-path-frame-check-${parameters.frameChecks[0]}.json`,
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
  const portOf = (path: PathName): number => {
    const port = ports[path];
    if (port === undefined) throw new Error(`no ${path} path for ${protocol}`);
    return port;
  };
  const load = (path: PathName, seconds: number) =>
    closedLoop({
      protocol,
      url: url(portOf(path), protocol),
      connections: parameters.connections,
      streams: parameters.streams,
      seconds,
      warmupSeconds: 0,
      grpcBody,
    });
  const paths = Object.keys(ports);
  for (const path of paths) await load(path, 2);
  const runs: Run[] = [];
  for (let run = 0; run < parameters.runs; run++) {
    for (const path of run % 2 === 0 ? paths : [...paths].reverse()) {
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
  const medians = (value: (run: Run) => number): Record<PathName, number> =>
    Object.fromEntries(
      paths.map((path) => [
        path,
        round(median(runs.filter((run) => run.path === path).map(value)), 2),
      ]),
    );
  const cpu = medians((run) => run.cpuMicrosPerRequest);
  const ratioOf = (path: PathName): number => round((cpu[path] ?? NaN) / (cpu[BARE] ?? NaN), 3);
  return {
    runs,
    cpuMicrosPerRequest: cpu,
    requestsPerSecond: medians((run) => run.requestsPerSecond),
    costRatio: ratioOf(STREAMMESH),
    costRatios: Object.fromEntries(
      paths.filter((path) => path !== BARE).map((path) => [path, ratioOf(path)]),
    ),
  };
}

function table(results: Partial<Record<Protocol, ProtocolResult>>): string {
  const lines = [
    'protocol  path               µs/req  bare µs/req  ratio     req/s  bare req/s',
    ...Object.entries(results).flatMap(([protocol, result]) =>
      Object.entries(result.costRatios).map(([path, ratio]) =>
        [
          protocol.padEnd(8),
          path.padEnd(17),
          String(result.cpuMicrosPerRequest[path]).padStart(6),
          String(result.cpuMicrosPerRequest[BARE]).padStart(11),
          `${ratio.toFixed(2)}x`.padStart(5),
          String(result.requestsPerSecond[path]).padStart(9),
          String(result.requestsPerSecond[BARE]).padStart(10),
        ].join('  '),
      ),
    ),
  ];
  return `${lines.join('\n')}\n(medians of ${parameters.runs} runs of ${parameters.seconds} s; ratio = the path's CPU per request / the bare forwarder's, in one thread; path "streammesh" has HTTP/2 frame check ${parameters.frameChecks[0] ?? 'nghttp2'})\n`;
}

await runBench('bench:http-path', main, { message: 'stopping nginx' });
