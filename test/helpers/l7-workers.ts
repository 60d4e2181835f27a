/**
 * What the tests of the L7 proxy on several threads (test/integration/l7/
 * workers*.test.ts) read: a metric summed per worker label, and one request
 * per connection so that the kernel picks a thread for each.
 */
import { request } from 'node:http';
import type { Registry } from 'prom-client';
import type { IsolatedHttpService } from '../../rtp-proxy/l7/index.js';
import { exposeMetrics } from '../../src/shared/metrics.js';

/** Samples of `name` in the node's exposition (its own registry and the threads'), summed by worker. */
export async function byWorker(
  registry: Registry,
  service: IsolatedHttpService,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<Map<string, number>> {
  const text = await exposeMetrics(registry, [() => service.threadMetrics()]);
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const found = new Map(
      [...line.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1], match[2]]),
    );
    if (!Object.entries(labels).every(([key, value]) => found.get(key) === value)) continue;
    const worker = found.get('worker') ?? 'none';
    sums.set(worker, (sums.get(worker) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return sums;
}

/** One GET over a connection of its own (so the kernel picks a thread for each): status or error code. */
export function getOnce(port: number, path = '/'): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    req.once('timeout', () =>
      req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })),
    );
    req.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    req.end();
  });
}
