/**
 * The load generators, run as bounded child processes (under `timeout`), and
 * what is read from their output.
 *
 *   wrk      HTTP/1.1 closed loop: max requests/s over fixed connections
 *   h2load   HTTP/2 and gRPC closed loop (fixed connections x streams), and
 *            every rate-limited run (paced: see pacing(); --h1 for
 *            HTTP/1.1). Latency percentiles come from its --log-file (one
 *            line per request: start µs, status, µs to the end of the
 *            response): its own summary has mean and sd, no percentiles.
 *
 * Both run one thread: the machine's cores are shared by the client, the
 * proxy and the backend.
 */
import { readFile, rm } from 'node:fs/promises';
import { spawnPeer } from '../../test/helpers/peers/process.js';
import { round } from '../rtp/stats.js';
import type { Protocol } from './endpoints.js';
import { GRPC_REQUEST_HEADERS } from './grpc-message.js';

export interface LatencyPercentiles {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface LoadResult {
  readonly tool: 'wrk' | 'h2load';
  /** Requests completed in the measured window, any status. */
  readonly requests: number;
  /** Answered 2xx (h2load) or 2xx/3xx (wrk). */
  readonly succeeded: number;
  /** Not answered with success: other statuses, resets, timeouts, socket errors. */
  readonly failed: number;
  readonly requestsPerSecond: number;
  readonly seconds: number;
  /** Only from rate-limited runs (h2load --log-file). */
  readonly latency?: LatencyPercentiles;
  /** Lines of the tool's output that explain failures, if any. */
  readonly notes: readonly string[];
}

export interface ClosedLoop {
  readonly protocol: Protocol;
  readonly url: string;
  readonly connections: number;
  /** HTTP/2 streams in flight per connection (h2load -m). */
  readonly streams: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** gRPC request body file (a framed message). */
  readonly grpcBody: string;
}

export interface RateLimited extends ClosedLoop {
  /** Total requests per second to offer. */
  readonly ratePerSecond: number;
  readonly logFile: string;
}

/** How a rate is offered: connections x requests/s each (see pacing()). */
export interface Pacing {
  readonly connections: number;
  readonly perConnection: number;
  /** connections x perConnection: what is actually offered. */
  readonly offeredPerSecond: number;
}

const PACED_RATE_PER_CONNECTION = 100;
const MAX_PACED_CONNECTIONS = 1_000;
const TICK_MS = 10;
const CONNECTIONS_PER_PROCESS = 64;

/**
 * h2load's --rps timer fires every max(10 ms, 1/rps) per connection and then
 * sends all that is due at once: above 100/s per connection, arrivals come in
 * 10 ms bursts, and the latency measured is mostly the time to drain a burst.
 * So each connection sends at most 100/s (one request per tick), there are as
 * many connections as that takes (at least `minConnections`), and they are
 * opened over one tick (h2load -r per 1 ms) so that their timers, which start
 * at each connect, do not fire together: arrivals are spread evenly, a few per
 * millisecond, as from many independent clients.
 */
export function pacing(ratePerSecond: number, minConnections: number): Pacing {
  const connections = Math.min(
    MAX_PACED_CONNECTIONS,
    Math.max(minConnections, Math.ceil(ratePerSecond / PACED_RATE_PER_CONNECTION)),
  );
  const perConnection = Math.max(1, Math.round(ratePerSecond / connections));
  return {
    connections,
    perConnection,
    offeredPerSecond: connections * perConnection,
  };
}

/** The maximum: wrk for HTTP/1.1, h2load for HTTP/2 and gRPC. */
export async function closedLoop(options: ClosedLoop): Promise<LoadResult> {
  if (options.protocol === 'http1') return wrk(options);
  const timed = [`-D${options.seconds}`, `--warm-up-time=${options.warmupSeconds}`];
  return h2load(options, h2loadArgs(options, timed));
}

/**
 * A fixed rate, paced (pacing()), with latency percentiles. h2load cannot
 * pace connection opening (-r) in a timed run (-D), so the runs are counted
 * (-n: each connection sends its rate x seconds), after a separate warm-up
 * of the same shape. The connections are split over h2load processes of at
 * most CONNECTIONS_PER_PROCESS each, run at once: in one loop with hundreds
 * of timers, a late iteration fires many together and libev re-arms them in
 * step, so their arrivals would clump into bursts again.
 */
export async function rateLimited(
  options: RateLimited,
): Promise<LoadResult & { readonly pacing: Pacing }> {
  const paced = pacing(options.ratePerSecond, options.connections);
  const processes = Math.ceil(paced.connections / CONNECTIONS_PER_PROCESS);
  const shares = Array.from({ length: processes }, (_, i) =>
    Math.floor((paced.connections + i) / processes),
  );
  const runAll = (seconds: number, logged: boolean): Promise<LoadResult[]> =>
    Promise.all(
      shares.map((connections, i) => {
        const shaped = { ...options, connections };
        const mode = [
          `-n${connections * paced.perConnection * seconds}`,
          `-r${Math.max(1, Math.ceil(connections / TICK_MS))}`,
          '--rate-period=1ms',
          `--rps=${paced.perConnection}`,
          ...(logged ? [`--log-file=${options.logFile}.${i}`] : []),
        ];
        return h2load(shaped, h2loadArgs(shaped, mode));
      }),
    );
  const logs = shares.map((_, i) => `${options.logFile}.${i}`);
  try {
    if (options.warmupSeconds > 0) await runAll(Math.ceil(options.warmupSeconds), false);
    const results = await runAll(options.seconds, true);
    const texts = await Promise.all(logs.map((file) => readFile(file, 'utf8')));
    const sum = (pick: (r: LoadResult) => number): number =>
      results.reduce((total, r) => total + pick(r), 0);
    return {
      tool: 'h2load',
      requests: sum((r) => r.requests),
      succeeded: sum((r) => r.succeeded),
      failed: sum((r) => r.failed),
      requestsPerSecond: round(
        sum((r) => r.requestsPerSecond),
        1,
      ),
      seconds: options.seconds,
      latency: percentiles(texts.join('\n')),
      notes: results.flatMap((r) => r.notes).slice(0, 10),
      pacing: paced,
    };
  } finally {
    await Promise.all(logs.map((file) => rm(file, { force: true })));
  }
}

function h2loadArgs(options: ClosedLoop, mode: readonly string[]): string[] {
  const args = ['-t1', `-c${options.connections}`, ...mode];
  if (options.protocol === 'http1') {
    args.push('--h1', '-m1');
  } else {
    args.push(`-m${options.streams}`);
  }
  if (options.protocol === 'grpc') {
    args.push('-d', options.grpcBody);
    for (const header of GRPC_REQUEST_HEADERS) args.push('-H', header);
  }
  args.push(options.url);
  return args;
}

async function h2load(options: ClosedLoop, args: string[]): Promise<LoadResult> {
  const output = await run('h2load', args, options);
  const finished = /^finished in [\d.]+\w*, ([\d.]+) req\/s/m.exec(output);
  const requests =
    /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(
      output,
    );
  const statuses = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(output);
  if (finished === null || requests === null || statuses === null) {
    throw new Error(`h2load printed no summary:\n${output.slice(-2_000)}`);
  }
  const done = Number(requests[3]);
  // "succeeded" counts streams that closed cleanly, whatever their status;
  // the status line is tallied as headers arrive, so at the window's edges
  // it may differ from `done` by the requests in flight: neither is a failure.
  const failed =
    Number(requests[5]) +
    Number(requests[6]) +
    Number(requests[7]) +
    Number(statuses[3]) +
    Number(statuses[4]);
  const notes = output
    .split('\n')
    .filter((line) => /error|fail|refused|reset|timeout|GOAWAY/i.test(line))
    .filter((line) => !/^requests: .* 0 failed, 0 errored, 0 timeout$/.test(line))
    .slice(0, 10);
  return {
    tool: 'h2load',
    requests: done,
    succeeded: done - failed,
    failed,
    requestsPerSecond: round(Number(finished[1]), 1),
    seconds: options.seconds,
    notes,
  };
}

async function wrk(options: ClosedLoop): Promise<LoadResult> {
  // wrk has no warm-up: a short run first opens the connections and warms
  // the proxy's code, then the measured one.
  if (options.warmupSeconds > 0) {
    await run('wrk', wrkArgs(options, Math.ceil(options.warmupSeconds)), options);
  }
  const output = await run('wrk', wrkArgs(options, options.seconds), options);
  const total = /^\s*(\d+) requests in ([\d.]+)(\w+),/m.exec(output);
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  if (total === null || rate === null) throw new Error(`wrk printed no summary:\n${output}`);
  const non2xx = Number(/^\s*Non-2xx or 3xx responses: (\d+)/m.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  const requests = Number(total[1]);
  return {
    tool: 'wrk',
    requests,
    succeeded: requests - non2xx,
    failed: non2xx + socketErrors,
    requestsPerSecond: round(Number(rate[1]), 1),
    seconds: options.seconds,
    notes: output.split('\n').filter((line) => /errors|Non-2xx/.test(line)),
  };
}

function wrkArgs(options: ClosedLoop, seconds: number): string[] {
  return ['-t1', `-c${options.connections}`, `-d${seconds}s`, '--timeout', '5s', options.url];
}

/** Runs a load tool to its end (bounded by `timeout`); its stdout and stderr. */
async function run(command: string, args: readonly string[], options: ClosedLoop): Promise<string> {
  const boundMs = (options.seconds + options.warmupSeconds + 15) * 1000;
  const peer = spawnPeer(command, args, { timeoutMs: boundMs, stopSignal: 'SIGINT' });
  const exit = await peer.exited;
  const output = `${exit.stdout}\n${exit.stderr}`;
  if (exit.timedOut) throw new Error(`${command} ran past its ${boundMs} ms bound`);
  if (exit.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${exit.code}:\n${output.slice(-2_000)}`);
  }
  return output;
}

/** Percentiles of successful requests' durations in an h2load --log-file. */
export function percentiles(log: string): LatencyPercentiles {
  const durations: number[] = [];
  for (const line of log.split('\n')) {
    const [, status, micros] = line.split('\t');
    if (status === undefined || micros === undefined || status === '-1') continue;
    durations.push(Number(micros));
  }
  const sorted = Float64Array.from(durations.filter(Number.isFinite)).sort();
  const at = (q: number): number =>
    sorted.length === 0
      ? Number.NaN
      : round(
          (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0) / 1000,
          3,
        );
  return {
    samples: sorted.length,
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    maxMs: sorted.length === 0 ? Number.NaN : round((sorted[sorted.length - 1] ?? 0) / 1000, 3),
  };
}
