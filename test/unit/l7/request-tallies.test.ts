/**
 * The request path's tallies against prom-client itself: the same
 * observations and counts give the same exposition, the same JSON across a
 * thread boundary and the same aggregate of two threads as prom-client's own
 * Histogram and Counter, including values on bucket bounds, outside every
 * bucket, and not numbers at all.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { HttpMetrics } from '../../../rtp-proxy/l7/l7-metrics.js';
import { CounterTally, TalliedHistogram } from '../../../rtp-proxy/l7/request-tallies.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const HELP = 'Test durations.';

/** Observations by label set: on bounds, between them, above the last, zero, negative, NaN. */
const OBSERVED: readonly (readonly [string, string, number])[] = [
  ['a', 'x', 0.001],
  ['a', 'x', 0.0005],
  ['a', 'x', 0.05],
  ['a', 'x', 7],
  ['a', 'y', 0],
  ['a', 'y', 1],
  ['b', 'x', 0.1],
  ['b', 'x', -2],
  ['b', 'x', Number.NaN],
  ['a', 'x', 0.01],
];

/** The exposition's sample lines, label order left aside, sorted. */
function samples(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^(\w+)(?:\{(.*)\})? (.+)$/.exec(line);
      if (match === null) throw new Error(`not a sample: ${line}`);
      const labels = (match[2] ?? '').split(',').filter(Boolean).sort().join(',');
      return `${match[1]}{${labels}} ${match[3]}`;
    })
    .sort();
}

function promClientHistogram(
  registry: Registry,
): (route: string, cluster: string, v: number) => void {
  const histogram = new Histogram({
    name: 'test_duration_seconds',
    help: HELP,
    labelNames: ['route', 'cluster'],
    buckets: BUCKETS,
    registers: [registry],
  });
  return (route, cluster, value) => {
    // prom-client throws on NaN; the tally drops it. Compared on what both take.
    if (Number.isFinite(value)) histogram.observe({ route, cluster }, value);
  };
}

function talliedHistogram(registry: Registry): (route: string, cluster: string, v: number) => void {
  const histogram = new TalliedHistogram({
    name: 'test_duration_seconds',
    help: HELP,
    buckets: BUCKETS,
    registers: [registry],
  });
  const series = new Map<string, ReturnType<typeof histogram.series>>();
  return (route, cluster, value) => {
    const key = `${route}/${cluster}`;
    const held = series.get(key) ?? histogram.series({ route, cluster });
    series.set(key, held);
    histogram.observe(held, value);
  };
}

describe('TalliedHistogram', () => {
  it('exposes what prom-client’s Histogram exposes for the same observations', async () => {
    const [theirs, ours] = [new Registry(), new Registry()];
    const [observeTheirs, observeOurs] = [promClientHistogram(theirs), talliedHistogram(ours)];
    for (const [route, cluster, value] of OBSERVED) {
      observeTheirs(route, cluster, value);
      observeOurs(route, cluster, value);
    }
    const expected = await theirs.metrics();
    assert.deepEqual(samples(await ours.metrics()), samples(expected));
    assert.match(
      await ours.metrics(),
      /^# HELP test_duration_seconds Test durations\.\n# TYPE test_duration_seconds histogram\n/,
    );
    assert.ok(samples(expected).length > 10, 'the comparison covers several series');
  });

  it('aggregates across two registries (threads) as prom-client’s does', async () => {
    const theirs = [new Registry(), new Registry()];
    const ours = [new Registry(), new Registry()];
    const observeTheirs = theirs.map(promClientHistogram);
    const observeOurs = ours.map(talliedHistogram);
    OBSERVED.forEach(([route, cluster, value], index) => {
      observeTheirs[index % 2]?.(route, cluster, value);
      observeOurs[index % 2]?.(route, cluster, value);
    });
    const aggregate = async (registries: Registry[]): Promise<string> =>
      AggregatorRegistry.aggregate(
        await Promise.all(registries.map((registry) => registry.getMetricsAsJSON())),
      ).metrics();
    assert.deepEqual(samples(await aggregate(ours)), samples(await aggregate(theirs)));
  });

  it('after reset() shows a series again only once it is observed again', async () => {
    const registry = new Registry();
    const histogram = new TalliedHistogram({
      name: 'test_duration_seconds',
      help: HELP,
      buckets: BUCKETS,
      registers: [registry],
    });
    const [a, b] = [histogram.series({ route: 'a' }), histogram.series({ route: 'b' })];
    histogram.observe(a, 0.5);
    histogram.observe(b, 0.5);
    registry.resetMetrics();
    histogram.observe(a, 0.002);
    const lines = samples(await registry.metrics());
    assert.ok(lines.includes('test_duration_seconds_count{route="a"} 1'));
    assert.ok(lines.includes('test_duration_seconds_bucket{le="0.01",route="a"} 1'));
    assert.ok(!lines.some((line) => line.includes('route="b"')), lines.join('\n'));
  });
});

describe('CounterTally', () => {
  it('hands its counts to the counter when it is read, once', async () => {
    const registry = new Registry();
    const tally = new CounterTally<'code'>();
    new Counter({
      name: 'test_total',
      help: 'Test counts.',
      labelNames: ['code'],
      registers: [registry],
      collect() {
        tally.flushInto(this);
      },
    });
    const ok = tally.series({ code: '200' });
    const failed = tally.series({ code: '503' });
    ok.count += 3;
    failed.count += 1;
    assert.deepEqual(samples(await registry.metrics()), [
      'test_total{code="200"} 3',
      'test_total{code="503"} 1',
    ]);
    ok.count += 2;
    assert.deepEqual(samples(await registry.metrics()), [
      'test_total{code="200"} 5',
      'test_total{code="503"} 1',
    ]);
  });
});

describe('HttpMetrics request path', () => {
  it('recordRequest and countAttempt reach their metrics by label set', async () => {
    const registry = new Registry();
    const metrics = new HttpMetrics(registry);
    metrics.recordRequest('edge', 'all', 'app', 200, 0.0004);
    metrics.recordRequest('edge', 'all', 'app', 200, 0.03);
    metrics.recordRequest('edge', 'all', 'app', 503, 2);
    metrics.recordRequest('edge', 'none', 'none', 404, 0.0001);
    metrics.countAttempt('app', '127.0.0.1:1', '2xx');
    metrics.countAttempt('app', '127.0.0.1:1', '2xx');
    metrics.countAttempt('app', '127.0.0.1:2', 'reset');
    const lines = samples(await registry.metrics());
    for (const expected of [
      'streammesh_http_requests_total{cluster="app",code="200",listener="edge",route="all"} 2',
      'streammesh_http_requests_total{cluster="app",code="503",listener="edge",route="all"} 1',
      'streammesh_http_requests_total{cluster="none",code="404",listener="edge",route="none"} 1',
      'streammesh_http_request_duration_seconds_count{cluster="app",route="all"} 3',
      'streammesh_http_request_duration_seconds_bucket{cluster="app",le="0.0005",route="all"} 1',
      'streammesh_http_request_duration_seconds_bucket{cluster="app",le="0.05",route="all"} 2',
      'streammesh_http_request_duration_seconds_bucket{cluster="app",le="2.5",route="all"} 3',
      'streammesh_http_request_duration_seconds_count{cluster="none",route="none"} 1',
      'streammesh_http_upstream_attempts_total{cluster="app",endpoint="127.0.0.1:1",result="2xx"} 2',
      'streammesh_http_upstream_attempts_total{cluster="app",endpoint="127.0.0.1:2",result="reset"} 1',
    ]) {
      assert.ok(lines.includes(expected), `${expected}\nnot in:\n${lines.join('\n')}`);
    }
    const sum = lines.find((line) =>
      line.startsWith('streammesh_http_request_duration_seconds_sum{cluster="app",route="all"}'),
    );
    assert.ok(sum !== undefined && Math.abs(Number(sum.split(' ')[1]) - 2.0304) < 1e-9, sum);
  });
});
