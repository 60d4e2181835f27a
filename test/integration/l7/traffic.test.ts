/**
 * Where requests go and what they carry, through the proxy to real node:http
 * backends: a 90/10 split over 10,000 requests, mirroring, fault injection,
 * header edits, sticky sessions by cookie, least-request steering away from
 * a slow endpoint, and the per-route metrics and sampled access log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  clientAgent,
  delay,
  send,
  startBackend,
  startProxy,
  type Backend,
  type RunningProxy,
} from '../../helpers/l7-harness.js';

/** Sends `total` requests, `concurrency` at a time, and counts answers by body. */
async function countAnswers(
  port: number,
  total: number,
  concurrency: number,
  options: Parameters<typeof send>[1],
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let sent = 0; sent < total; sent += concurrency) {
    const batch = Math.min(concurrency, total - sent);
    const answers = await Promise.all(Array.from({ length: batch }, () => send(port, options)));
    for (const answer of answers) {
      const key = answer.status === 200 ? answer.body.toString() : `status ${answer.status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

describe('HTTP proxy: traffic', () => {
  let stable: Backend;
  let canary: Backend;
  let shadow: Backend;
  let fast: Backend;
  let slow: Backend;
  let proxy: RunningProxy;

  before(async () => {
    [stable, canary, shadow, fast, slow] = await Promise.all([
      startBackend('stable'),
      startBackend('canary'),
      startBackend('shadow'),
      startBackend('fast'),
      startBackend('slow'),
    ]);
    slow.handler = (_req, res) => {
      setTimeout(() => res.end('slow'), 40);
    };
    proxy = await startProxy({
      listeners: [{ name: 'edge', listen: '127.0.0.1:0' }],
      routes: [
        {
          name: 'split',
          match: { authority: 'split', path: { prefix: '/' } },
          action: {
            weighted: [
              { cluster: 'stable', weight: 90 },
              { cluster: 'canary', weight: 10 },
            ],
          },
        },
        {
          name: 'mirrored',
          match: { authority: 'mirrored', path: { prefix: '/' } },
          action: { cluster: 'stable', mirror: { cluster: 'shadow', percent: 50 } },
        },
        {
          name: 'faulty',
          match: { authority: 'faulty', path: { prefix: '/' } },
          action: {
            cluster: 'stable',
            fault: { abort: { status: 418, percent: 30 }, delay: { ms: 50, percent: 100 } },
          },
        },
        {
          name: 'edited',
          match: { authority: 'edited', path: { prefix: '/' } },
          action: {
            cluster: 'stable',
            requestHeaders: { add: { 'x-tenant': 'blue' }, remove: ['x-secret'] },
            responseHeaders: { add: { 'x-served-by': 'streammesh' }, remove: ['x-backend'] },
          },
        },
        {
          name: 'sticky',
          match: { authority: 'sticky', path: { prefix: '/' } },
          action: { cluster: 'sticky' },
        },
        {
          name: 'least',
          match: { authority: 'least', path: { prefix: '/' } },
          action: { cluster: 'least' },
        },
      ],
      clusters: [
        { name: 'stable', endpoints: [stable.address] },
        { name: 'canary', endpoints: [canary.address] },
        { name: 'shadow', endpoints: [shadow.address] },
        {
          name: 'sticky',
          endpoints: [stable.address, canary.address, shadow.address],
          lb: 'consistent-hash',
          hashOn: { cookie: 'session' },
        },
        { name: 'least', endpoints: [fast.address, slow.address], lb: 'least-request' },
      ],
      accessLog: { percent: 0, errors: true },
    });
  });

  after(async () => {
    clientAgent.destroy();
    await proxy.close();
    await Promise.all([stable, canary, shadow, fast, slow].map((backend) => backend.close()));
  });

  it('splits 90/10 within ±3% over 10,000 requests', async () => {
    const counts = await countAnswers(proxy.port, 10_000, 100, { host: 'split', path: '/' });
    const total = (counts.get('stable') ?? 0) + (counts.get('canary') ?? 0);
    assert.equal(total, 10_000, `answers: ${JSON.stringify([...counts])}`);
    const canaryShare = (counts.get('canary') ?? 0) / total;
    assert.ok(Math.abs(canaryShare - 0.1) <= 0.03, `canary got ${(canaryShare * 100).toFixed(1)}%`);
    assert.equal(
      await proxy.metric('streammesh_http_requests_total', { route: 'split', code: '200' }),
      10_000,
    );
  });

  it('mirrors about half the requests to the shadow cluster, bodies included, answers ignored', async () => {
    shadow.seen.length = 0;
    const before = stable.seen.length;
    shadow.handler = (_req, res) => {
      res.writeHead(500).end('shadow fails, nobody must notice');
    };
    const answers = await Promise.all(
      Array.from({ length: 400 }, (_, index) =>
        send(proxy.port, {
          host: 'mirrored',
          path: `/m${index}`,
          method: 'POST',
          body: `body-${index}`,
        }),
      ),
    );
    shadow.handler = undefined;
    assert.ok(answers.every((answer) => answer.status === 200));
    assert.ok(answers.every((answer, index) => answer.body.toString() === `body-${index}`));
    assert.equal(stable.seen.length - before, 400, 'every request reaches the primary once');
    // Mirrors are sent after the body and do not hold the answer: wait for them.
    for (let waited = 0; shadow.seen.length < 140 && waited < 3_000; waited += 50) await delay(50);
    const share = shadow.seen.length / 400;
    assert.ok(share > 0.35 && share < 0.65, `mirrored ${shadow.seen.length} of 400`);
    const copy = shadow.seen[0];
    assert.equal(copy?.method, 'POST');
    assert.equal(copy.headers.host, 'mirrored-shadow', 'copies are marked by their Host');
  });

  it('injects aborts and delays for their share of requests', async () => {
    const started = Date.now();
    const counts = await countAnswers(proxy.port, 400, 50, { host: 'faulty', path: '/' });
    const aborted = counts.get('status 418') ?? 0;
    assert.equal(aborted + (counts.get('stable') ?? 0), 400);
    assert.ok(aborted > 80 && aborted < 160, `aborted ${aborted} of 400 (30% wanted)`);
    // 8 sequential batches, each held at least 50 ms by the delay fault.
    assert.ok(Date.now() - started >= 8 * 50, 'delays were not injected');
    assert.equal(
      await proxy.metric('streammesh_http_faults_injected_total', { kind: 'abort' }),
      aborted,
    );
  });

  it('adds and removes request and response headers', async () => {
    const answer = await send(proxy.port, {
      host: 'edited',
      path: '/h',
      headers: { 'x-secret': 'never upstream', 'x-tenant': 'red' },
    });
    const seen = stable.seen.at(-1)?.headers ?? {};
    assert.equal(seen['x-secret'], undefined);
    assert.equal(seen['x-tenant'], 'blue');
    assert.equal(answer.headers['x-served-by'], 'streammesh');
    assert.equal(answer.headers['x-backend'], undefined);
  });

  it('keeps a session cookie on one endpoint and spreads different sessions', async () => {
    const owners = new Map<string, Set<string>>();
    for (let session = 0; session < 30; session += 1) {
      for (let repeat = 0; repeat < 5; repeat += 1) {
        const answer = await send(proxy.port, {
          host: 'sticky',
          path: '/',
          headers: { cookie: `theme=dark; session=user-${session}` },
        });
        const set = owners.get(`user-${session}`) ?? new Set<string>();
        set.add(answer.body.toString());
        owners.set(`user-${session}`, set);
      }
    }
    for (const [session, set] of owners)
      assert.equal(set.size, 1, `${session} moved: ${[...set].join(', ')}`);
    const used = new Set([...owners.values()].flatMap((set) => [...set]));
    assert.equal(used.size, 3, 'thirty sessions should land on all three endpoints');
  });

  it('sends most requests to the fast endpoint with least-request', async () => {
    const counts = await countAnswers(proxy.port, 300, 10, { host: 'least', path: '/' });
    const fastCount = counts.get('fast') ?? 0;
    assert.equal(fastCount + (counts.get('slow') ?? 0), 300);
    assert.ok(fastCount > 200, `fast got only ${fastCount} of 300`);
  });

  it('exports per-route latency histograms', async () => {
    const observed = await proxy.metric('streammesh_http_request_duration_seconds', {
      route: 'split',
      cluster: 'canary',
    });
    assert.ok(observed > 500, `histogram count for the canary was ${observed}`);
    const text = await proxy.registry.metrics();
    assert.match(
      text,
      /streammesh_http_request_duration_seconds_bucket\{le="0.005",route="split",cluster="stable"\} \d+/,
    );
  });
});
