/**
 * A cluster's own clock (no clock injected, as the L7 service makes them)
 * is monotonic and the same in every thread: an outlier ejection, whose end
 * L7 threads hand each other, lasts its time whatever the wall clock does.
 * Date is mocked to step the wall clock; the cluster must not notice.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Cluster, type ClusterEndpoint } from '../../../rtp-proxy/l7/cluster/cluster.js';
import { httpSchema } from '../../../src/config/http-schema.js';

const log = pino({ level: 'silent' });
const EJECTION_MS = 300;
const HOUR_MS = 3_600_000;

/** A cluster (its own clock: none injected) with its first endpoint ejected by one 503. */
function withEjectedEndpoint(): { cluster: Cluster; endpoint: ClusterEndpoint } {
  const http = httpSchema.parse({
    listeners: [],
    routes: [],
    clusters: [
      {
        name: 'api',
        endpoints: ['127.0.0.1:1', '127.0.0.1:2'],
        outlier: { consecutive5xx: 1, baseEjectionMs: EJECTION_MS, maxEjectionPercent: 50 },
      },
    ],
  });
  const config = http.clusters[0];
  assert.ok(config !== undefined);
  const cluster = new Cluster(config, http, { log });
  const [endpoint] = cluster.endpoints;
  assert.ok(endpoint !== undefined);
  cluster.record(endpoint, { status: 503 }, 1);
  assert.equal(cluster.isAvailable(endpoint), false, 'ejected by one 503');
  return { cluster, endpoint };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('Cluster clock', () => {
  it('a wall-clock step forward does not end an ejection early', (t) => {
    const { cluster, endpoint } = withEjectedEndpoint();
    try {
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() + HOUR_MS });
      assert.equal(
        cluster.isAvailable(endpoint),
        false,
        'still out an hour later by the wall clock',
      );
    } finally {
      cluster.close();
    }
  });

  it('a wall-clock step back does not hold an ejection past its time', async (t) => {
    const { cluster, endpoint } = withEjectedEndpoint();
    try {
      // Only Date is mocked: the sleep below takes real time.
      t.mock.timers.enable({ apis: ['Date'], now: Date.now() - HOUR_MS });
      await sleep(EJECTION_MS * 2);
      assert.equal(cluster.isAvailable(endpoint), true, 'back once its time has passed');
    } finally {
      cluster.close();
    }
  });
});
