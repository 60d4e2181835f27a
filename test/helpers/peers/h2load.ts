/**
 * h2load (nghttp2-client) as an HTTP/2 load generator or flood, with the
 * summary it prints at the end parsed into numbers. Bounded in time.
 */
import { requirePeer, spawnPeer, type PeerExit, type PeerProcess } from './process.js';

export interface H2loadOptions {
  readonly url: string;
  /** -c: concurrent clients (connections). */
  readonly clients: number;
  /** -m: concurrent streams per connection. */
  readonly streams: number;
  /** -D: run this long (mutually exclusive with `requests`). */
  readonly durationSec?: number;
  /** -n: this many requests in total. */
  readonly requests?: number;
  /** -H lines, e.g. ':authority: users'. */
  readonly headers?: readonly string[];
  /** Run under `nice -n 19`, so that the load generator yields the CPU it shares with the system under test. */
  readonly nice?: boolean;
}

export interface H2loadSummary {
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
  readonly status4xx: number;
  readonly status5xx: number;
  readonly requestsPerSecond: number;
}

export interface H2loadRun {
  readonly peer: PeerProcess;
  /** The summary; undefined (with the output) when h2load printed none. */
  readonly result: Promise<{ summary: H2loadSummary | undefined; exit: PeerExit }>;
}

/** h2load needs this long beyond its run to connect, finish and print. */
const MARGIN_MS = 30_000;

export function startH2load(options: H2loadOptions): H2loadRun {
  requirePeer('h2load');
  const args = [
    ...['-c', String(options.clients), '-m', String(options.streams)],
    ...(options.durationSec === undefined ? [] : ['-D', String(options.durationSec)]),
    ...(options.requests === undefined ? [] : ['-n', String(options.requests)]),
    ...(options.headers ?? []).flatMap((header) => ['-H', header]),
    options.url,
  ];
  const budgetMs = (options.durationSec ?? 30) * 1000 + MARGIN_MS;
  const peer =
    options.nice === true
      ? spawnPeer('nice', ['-n', '19', 'h2load', ...args], { timeoutMs: budgetMs })
      : spawnPeer('h2load', args, { timeoutMs: budgetMs });
  const result = peer.exited.then((exit) => ({ summary: parseSummary(exit.stdout), exit }));
  return { peer, result };
}

/**
 * The closing lines of h2load 1.52, e.g.
 *   finished in 15.00s, 12345.67 req/s, 1.23MB/s
 *   requests: 185185 total, 185185 started, 185185 done, 180000 succeeded, 5185 failed, 5185 errored, 0 timeout
 *   status codes: 180000 2xx, 0 3xx, 0 4xx, 5185 5xx
 */
export function parseSummary(output: string): H2loadSummary | undefined {
  const requests =
    /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      output,
    );
  const codes = /status codes: (\d+) 2xx, \d+ 3xx, (\d+) 4xx, (\d+) 5xx/.exec(output);
  const rate = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(output);
  if (requests === null || codes === null) return undefined;
  const field = (match: RegExpExecArray, index: number): number => Number(match[index] ?? NaN);
  return {
    done: field(requests, 1),
    succeeded: field(requests, 2),
    failed: field(requests, 3),
    errored: field(requests, 4),
    timeout: field(requests, 5),
    status2xx: field(codes, 1),
    status4xx: field(codes, 2),
    status5xx: field(codes, 3),
    requestsPerSecond: rate === null ? NaN : field(rate, 1),
  };
}
