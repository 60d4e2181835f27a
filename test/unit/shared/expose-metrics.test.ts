/**
 * The node's /metrics with a worker thread's registry merged in: the thread's
 * series appear, a counter both keep is one series per label set (summed),
 * and this process's own one-value metrics (process_start_time_seconds,
 * which prom-client's aggregation would drop) stay.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { createMetricsRegistry, exposeMetrics } from '../../../src/shared/metrics.js';

describe('exposeMetrics', () => {
  it('merges a thread registry into the process exposition', async () => {
    const main = createMetricsRegistry('proxy');
    const thread = new Registry();
    thread.setDefaultLabels({ role: 'proxy' });
    const shared = (registry: Registry) =>
      new Counter({
        name: 'test_refused_total',
        help: 'kept by both threads',
        labelNames: ['listener'],
        registers: [registry],
      });
    shared(main).inc({ listener: 'rtsp' }, 2);
    const inThread = shared(thread);
    inThread.inc({ listener: 'l7:edge' }, 3);
    inThread.inc({ listener: 'rtsp' }, 1);
    new Counter({ name: 'test_thread_only_total', help: 'thread', registers: [thread] }).inc(5);

    const text = await exposeMetrics(main, [() => thread.getMetricsAsJSON()]);
    assert.match(text, /^process_start_time_seconds\{role="proxy"\} \d+/m);
    assert.match(text, /^test_thread_only_total\{role="proxy"\} 5$/m);
    assert.match(text, /^test_refused_total\{listener="rtsp",role="proxy"\} 3$/m);
    assert.match(text, /^test_refused_total\{listener="l7:edge",role="proxy"\} 3$/m);
    assert.equal(text.match(/^# TYPE test_refused_total counter$/gm)?.length, 1);
  });
});
